"""Fixtures of the browser tests; what each one gives a test is described in ``support.py``."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from integration.sdk_support import Server, running_server

from .support import (
    CHROMIUM,
    DEFAULT_TIMEOUT_MS,
    VIEWPORT,
    PageProblems,
    Shots,
    format_problems,
    launch_chromium,
    reset_screenshot_dir,
    screenshot_dir,
)

HERE = Path(__file__).resolve().parent
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives the web UI in headless Chromium (tests/browser, set for you)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keeps the call phase's report, so that ``page_problems`` knows whether the test failed."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Iterator[Server]:
    """A real `tagloop serve` on a free port with a fresh data directory, one per module."""
    with running_server(tmp_path_factory.mktemp("browser") / "data", shared_cache) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium, once per session."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: `make browser` installs the Debian chromium package")
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def page_problems(
    browser: Browser, server: Server, request: pytest.FixtureRequest
) -> Iterator[PageProblems]:
    """A fresh context on the server; fails the test if its pages saw undeclared problems."""
    context = browser.new_context(viewport=VIEWPORT, base_url=server.endpoint)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    recorder = PageProblems(context, server.endpoint)
    folder = screenshot_dir(request.node.nodeid)
    reset_screenshot_dir(folder)
    context.new_page()
    yield recorder
    try:
        report = request.node.stash.get(_CALL_REPORT, None)
        if report is not None and report.failed and context.pages:
            folder.mkdir(parents=True, exist_ok=True)
            context.pages[0].screenshot(path=folder / "failure.png", full_page=True)
        problems = recorder.finish()
    finally:
        context.close()
    if problems:
        message = format_problems(problems, request.node.nodeid)
        if server.process.poll() is not None:
            message += f"\n`tagloop serve` exited with {server.process.returncode}"
        message += f"\nserver log (tail):\n{server.log_tail(2000)}"
        pytest.fail(message, pytrace=False)


@pytest.fixture
def context(page_problems: PageProblems) -> BrowserContext:
    """The test's browser context (viewport 1280x900, ``base_url`` = the server)."""
    return page_problems.context


@pytest.fixture
def page(page_problems: PageProblems) -> Page:
    """The test's page; relative URLs go to the server: ``page.goto("/health")``."""
    return page_problems.context.pages[0]


@pytest.fixture
def shots(page: Page, request: pytest.FixtureRequest) -> Shots:
    """``shots("name")`` writes ``NN-name.png`` into build/screenshots/<module>/<test>/."""
    return Shots(page, screenshot_dir(request.node.nodeid))
