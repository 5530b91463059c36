"""The browser-test harness: Debian Chromium driven by Playwright against a real `tagloop serve`.

What the fixtures in ``conftest.py`` give a test:

``server``
    A real `tagloop serve` subprocess on a free port with a fresh data directory, one per test
    module (``tests/integration/sdk_support.running_server``). Its server-wide keys are
    ``server.training_key`` / ``server.prediction_key``; ``server.log_tail()`` is its log.
``browser``
    Headless ``/usr/bin/chromium`` (the Debian package; Playwright never downloads a browser here),
    launched once per session with ``CHROMIUM_ARGS``, which keep it off the network.
``page`` / ``context``
    A fresh browser context per test (viewport ``VIEWPORT``, ``base_url`` = the server, so
    ``page.goto("/health")`` works) and one page in it. Requests to any other origin are aborted
    and reported, so a page that loads something from a CDN fails at once instead of hanging
    offline.
``page_problems``
    The :class:`PageProblems` recorder of that context. When the test ends, the fixture fails it
    (an error in teardown) if the browser saw a console error, an uncaught page error, a failed
    request or an HTTP response >= 400 that the test did not declare. A test that provokes an
    error on purpose declares it first::

        page_problems.expect(404, "/api/v1/projects/")   # an HTTP status and a part of the URL
        page_problems.expect_failure("/api/v1/stream")  # a request that fails without a status

    A declared response that never comes fails the test too (pass ``required=False`` to allow
    it). ``page_problems.take()`` returns what was recorded so far and forgets it.
``shots``
    ``shots("after-upload")`` writes ``01-after-upload.png``, ``02-...`` (full page) into
    ``build/screenshots/<module>/<test>/`` under the repository root, or under
    ``$TAGLOOP_SCREENSHOTS/<module>/<test>/`` when that variable is set. The folder is emptied
    when the test starts; a failing test also leaves ``failure.png`` there.

Logging in: the web UI (``src/tagloop/shells/web``) is being written; its author adds the helper
that logs a page in with a key (``login(page, key)``) to this module, next to the fixtures it
uses, together with the first tests that need it. Tests log in with ``server.training_key``.

What the recorder deliberately does not report (everything else is a problem):

* ``net::ERR_ABORTED`` request failures: Chromium reports these for requests that the page itself
  cancelled (a navigation away while a fetch was in flight, ``AbortController``, a download).
  Real faults show up as an HTTP status or another ``net::`` error.
* Console lines "Failed to load resource: ..." for a URL whose failure is already recorded
  (a response >= 400, a failed or blocked request): the same fault is reported once, not twice.
* The browser's own implicit ``GET /favicon.ico`` on pages without an icon link (a JSON response
  such as ``/health``). Playwright does not see that request, only the console line about its
  404, and no page asked for it. An icon that a page *does* link is checked like any other
  request.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    ViewportSize,
    WebError,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium that makes no connection of its own: no sandbox (containers, root), no GPU,
# no QUIC, no first-run / sync / component-update / background traffic, /tmp instead of the
# often tiny /dev/shm of containers.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
# Playwright waits up to 30 s by default; a UI test that waits that long has already failed.
# A step that is slow on purpose (training) passes its own ``timeout=``.
DEFAULT_TIMEOUT_MS = 10_000

SCREENSHOTS_ENV = "TAGLOOP_SCREENSHOTS"
DEFAULT_SCREENSHOTS = REPO_ROOT / "build" / "screenshots"

_FAILED_TO_LOAD = "Failed to load resource"
_IGNORED_FAILURES = ("net::ERR_ABORTED",)


def launch_chromium(playwright: Playwright) -> Browser:
    """The system Chromium, headless, with ``CHROMIUM_ARGS``; never a downloaded browser."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
    )


# --------------------------------------------------------------------------------------------
# Problems the browser saw


@dataclass(frozen=True)
class Problem:
    """One thing that went wrong in the browser.

    ``kind`` is ``"http"`` (a response >= 400), ``"requestfailed"``, ``"external"`` (a request to
    another origin, aborted), ``"console"`` (a console message of type error) or ``"pageerror"``
    (an uncaught exception in the page), or ``"unmet"`` (a declared problem that never came).
    """

    kind: str
    message: str
    url: str = ""
    status: int | None = None

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}"


@dataclass
class Expected:
    """A problem the test provokes on purpose; ``hits`` lists the URLs that matched it."""

    status: int | None  # None: a request that fails without a response
    url_part: str
    required: bool = True
    hits: list[str] = field(default_factory=list)

    def matches(self, status: int | None, url: str) -> bool:
        return status == self.status and self.url_part in url

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "a failed request"
        return f"{what} from a URL containing {self.url_part!r}"


class PageProblems:
    """Records the problems of every page in one browser context (see the module docstring)."""

    def __init__(self, context: BrowserContext, origin: str) -> None:
        self.context = context
        self.origin = origin.rstrip("/")
        self.expected: list[Expected] = []
        self._problems: list[Problem] = []
        self._console: list[Problem] = []  # "Failed to load resource" lines, folded at the end
        self._failed_urls: set[str] = set()
        self._recording = True
        context.route(self._is_external, self._block_external)
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_request_failed)
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)

    # -- declaring --------------------------------------------------------------------------

    def expect(self, status: int, url_part: str, *, required: bool = True) -> Expected:
        """Declare that a response with ``status`` from a URL containing ``url_part`` is wanted."""
        expected = Expected(status, url_part, required)
        self.expected.append(expected)
        return expected

    def expect_failure(self, url_part: str, *, required: bool = True) -> Expected:
        """Declare that a request to a URL containing ``url_part`` fails without a response."""
        expected = Expected(None, url_part, required)
        self.expected.append(expected)
        return expected

    # -- reading ----------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        """The undeclared problems recorded so far (declared ones that never came are not here)."""
        folded = [
            line
            for line in self._console
            if line.url not in self._failed_urls and not _is_implicit_favicon(line.url)
        ]
        return self._problems + folded

    def unmet(self) -> list[Problem]:
        return [
            Problem("unmet", f"expected {e.describe()}, but none came", e.url_part, e.status)
            for e in self.expected
            if e.required and not e.hits
        ]

    def take(self) -> list[Problem]:
        """The undeclared problems recorded so far; they are forgotten (the test handled them)."""
        problems = self.problems()
        self._problems.clear()
        self._console.clear()  # the URLs stay known, so late console lines about them fold
        return problems

    def finish(self) -> list[Problem]:
        """Let pending browser events arrive, stop recording, return everything that is wrong."""
        for page in self.context.pages:
            try:
                page.evaluate("0")  # a round trip: events queued before it are dispatched
            except Exception:  # a crashed or closed page has nothing left to say
                pass
        self._recording = False
        return self.problems() + self.unmet()

    # -- listeners --------------------------------------------------------------------------

    def _is_external(self, url: str) -> bool:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https", "ws", "wss"):
            return False  # data:, blob:, about: never leave the machine
        return not (url == self.origin or url.startswith(self.origin + "/"))

    def _block_external(self, route: Route) -> None:
        url = route.request.url
        if self._recording:
            self._failed_urls.add(url)
            self._add(Problem("external", f"{route.request.method} {url} (not the server)", url))
        route.abort("blockedbyclient")

    def _on_response(self, response: Response) -> None:
        if not self._recording or response.status < 400:
            return
        url = response.url
        self._failed_urls.add(url)
        if self._declared(response.status, url):
            return
        message = f"HTTP {response.status} {response.request.method} {url}"
        self._add(Problem("http", message, url, response.status))

    def _on_request_failed(self, request: Request) -> None:
        if not self._recording:
            return
        url = request.url
        error = request.failure or "unknown error"
        if url in self._failed_urls:
            return  # already reported: an HTTP status, or blocked as external
        self._failed_urls.add(url)
        if any(error.startswith(ignored) for ignored in _IGNORED_FAILURES):
            return
        if self._declared(None, url):
            return
        self._add(Problem("requestfailed", f"{request.method} {url}: {error}", url))

    def _on_console(self, message: ConsoleMessage) -> None:
        if not self._recording or message.type != "error":
            return
        location = message.location or {}
        url = str(location.get("url") or "")
        line = location.get("lineNumber", location.get("line", 0))
        where = f" (at {url}:{line})" if url else ""
        problem = Problem("console", f"{message.text}{where}", url)
        if message.text.startswith(_FAILED_TO_LOAD):
            self._console.append(problem)  # folded into the network record of ``url``, if any
        else:
            self._add(problem)

    def _on_web_error(self, web_error: WebError) -> None:
        if not self._recording:
            return
        error = web_error.error
        page_url = web_error.page.url if web_error.page is not None else ""
        detail = error.stack or f"{error.name}: {error.message}"
        self._add(Problem("pageerror", f"{detail} (page {page_url})", page_url))

    def _declared(self, status: int | None, url: str) -> bool:
        for expected in self.expected:
            if expected.matches(status, url):
                expected.hits.append(url)
                return True
        return False

    def _add(self, problem: Problem) -> None:
        self._problems.append(problem)


def _is_implicit_favicon(url: str) -> bool:
    return urlsplit(url).path == "/favicon.ico"


def format_problems(problems: Iterable[Problem], test_name: str) -> str:
    lines = [f"the browser saw problems during {test_name}:"]
    lines += [f"  - {problem}" for problem in problems]
    lines.append(
        "A test that provokes one on purpose declares it first: "
        "page_problems.expect(status, url_part) or page_problems.expect_failure(url_part)."
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Screenshots


def screenshot_dir(nodeid: str) -> Path:
    """``<root>/<module>/<test>/`` for a pytest node id, with file-system-safe names."""
    root = Path(os.environ.get(SCREENSHOTS_ENV) or DEFAULT_SCREENSHOTS)
    module, _, test = nodeid.partition("::")
    return root / _safe(Path(module).stem) / _safe(test.replace("::", ".") or "test")


def reset_screenshot_dir(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "x"


class Shots:
    """Numbered screenshots of one test: ``shots("name")`` writes ``NN-name.png``."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.taken: list[Path] = []

    def __call__(self, name: str, *, target: Locator | None = None, full_page: bool = True) -> Path:
        """Screenshot the page (or just ``target``); returns the file written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.taken) + 1:02d}-{_safe(name)}.png"
        if target is not None:
            target.screenshot(path=path)
        else:
            self.page.screenshot(path=path, full_page=full_page)
        self.taken.append(path)
        return path
