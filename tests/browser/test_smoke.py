"""The harness itself: the server answers the browser, screenshots land, problems are caught.

``/docs`` is not used: FastAPI's Swagger page loads its assets from a CDN, which these machines
cannot reach (the harness would abort those requests and report them).
"""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, Page, expect

from integration.sdk_support import Server

from .support import PageProblems, Shots


def test_health_page_renders(page: Page, server: Server, shots: Shots) -> None:
    response = page.goto("/health")
    assert response is not None and response.status == 200
    assert page.url == f"{server.endpoint}/health"
    body = json.loads(page.locator("body").inner_text())
    assert body["status"] == "ok"
    assert body["version"]
    shot = shots("health")
    assert shot.name == "01-health.png"
    assert shot.stat().st_size > 1000
    assert shots("health-again").name == "02-health-again.png"


def test_recorder_reports_an_undeclared_404(page: Page, page_problems: PageProblems) -> None:
    response = page.goto("/api/v1/nope")
    assert response is not None and response.status == 404
    problems = page_problems.take()  # taken, so that this test's teardown passes
    # One problem: Chromium's console line about the same 404 is folded into it.
    assert [(p.kind, p.status) for p in problems] == [("http", 404)], problems
    assert problems[0].url.endswith("/api/v1/nope")
    assert "HTTP 404 GET" in str(problems[0])


def test_declared_404_is_not_a_problem(page: Page, page_problems: PageProblems) -> None:
    expected = page_problems.expect(404, "/api/v1/nope")
    page.goto("/api/v1/nope")
    page.evaluate("() => fetch('/api/v1/nope?again=1').then((r) => r.status)")
    assert page_problems.problems() == []
    assert len(expected.hits) == 2
    assert page_problems.unmet() == []


def test_recorder_reports_an_expected_404_that_never_came(page_problems: PageProblems) -> None:
    page_problems.expect(404, "/api/v1/never")
    unmet = page_problems.unmet()
    assert [(p.kind, p.status, p.url) for p in unmet] == [("unmet", 404, "/api/v1/never")]
    page_problems.expected.clear()  # handled here, so that this test's teardown passes


def test_recorder_reports_script_errors_and_external_requests(
    page: Page, context: BrowserContext, page_problems: PageProblems
) -> None:
    page.goto("/health")
    script = """() => {
        console.error("explicit console error");
        fetch("https://cdn.example.com/lib.js").catch(() => 0);
        setTimeout(() => { throw new Error("boom"); }, 0);
    }"""
    with (
        page.expect_console_message(lambda m: m.type == "error" and "explicit" in m.text),
        page.expect_event("requestfailed", lambda r: "cdn.example.com" in r.url),
        context.expect_event("weberror"),
    ):
        page.evaluate(script)
    problems = page_problems.take()
    kinds = sorted(p.kind for p in problems)
    assert kinds == ["console", "external", "pageerror"], problems
    by_kind = {p.kind: p for p in problems}
    assert "explicit console error" in by_kind["console"].message
    assert by_kind["external"].url == "https://cdn.example.com/lib.js"
    assert "boom" in by_kind["pageerror"].message


def test_the_api_reference_loads_without_the_internet(page: Page, shots: Shots) -> None:
    """/docs (Swagger UI) comes from this server's files: an off-origin request would be
    reported by the recorder and fail the test."""
    page.goto("/docs")
    expect(
        page.get_by_text("Build, evaluate, improve and serve image classifiers.")
    ).to_be_visible()
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    shots("api-reference")
