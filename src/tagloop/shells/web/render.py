"""Templates, the page key check and the HTML error page."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from tagloop import __version__
from tagloop.errors import Unauthorized
from tagloop.shells.http import authorize, get_workspace
from tagloop.store.records import IterationRecord
from tagloop.workspace.context import Access, Workspace

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
# Paths that are not pages: their errors stay JSON (the API's own shapes).
NOT_PAGES = ("/api/", "/customvision/", "/static/", "/health", "/docs", "/openapi")


class LoginRequired(Exception):
    """A page was asked for without a valid key: the person is sent to the key form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def is_page(request: Request) -> bool:
    """Whether an error should be an HTML page: a browser asking for a page (programs asking
    for anything outside the API keep getting the JSON error shape)."""
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(
        NOT_PAGES
    )


async def page_access(request: Request) -> tuple[Workspace, Access]:
    """The workspace and what the session's key opens (a training key: the pages edit)."""
    try:
        access = await authorize(request, "training")
    except Unauthorized:
        raise LoginRequired(_here(request)) from None
    return get_workspace(request), access


# Pages are private and change with every action; they load only this server's own script,
# styles and images, and may not be framed (their buttons delete things).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {"version": __version__, **context}, status_code=status_code
    )
    response.headers.update(PAGE_HEADERS)
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, status=status, message=message)


def login_redirect(next_path: str) -> RedirectResponse:
    return RedirectResponse("/login?" + urlencode({"next": next_path}), status_code=303)


def safe_next(value: str | None) -> str:
    """Where to go after logging in: only a path on this server."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _here(request: Request) -> str:
    query = request.url.query
    return quote(request.url.path) + ("?" + query if query else "")


# ------------------------------------------------------------------------------------------
# Template filters


def percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M")


def seconds(value: float | None) -> str:
    if not value:
        return "–"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def training_kind(iteration: IterationRecord) -> str:
    """ "quick", "advanced, 10.0 min budget", or what an advanced run ended with."""
    if iteration.training_type != "advanced":
        return "quick"
    asked = f"advanced, {seconds(iteration.budget_seconds)} budget"
    if iteration.model_training_type == "quick":
        return f"{asked}: kept the quick model"
    return asked


def page_url(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (``None`` removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + ("?" + query if query else "")


templates.env.filters["percent"] = percent
templates.env.filters["when"] = when
templates.env.filters["seconds"] = seconds
templates.env.filters["training_kind"] = training_kind
templates.env.globals["page_url"] = page_url
