"""The key form: a person enters a training key once; a server-side session, whose random
token an HttpOnly cookie carries, stands for it after (the key itself is never in the cookie)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from tagloop.errors import RequestInvalid, Unauthorized
from tagloop.shells.http import SESSION_COOKIE, call, get_workspace, read_body
from tagloop.shells.web.render import render, safe_next
from tagloop.workspace.context import SESSION_DAYS

router = APIRouter(include_in_schema=False)
FORM_LIMIT = 4096


@router.get("/login")
async def login_form(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    return render(request, "login.html", next=safe_next(next), error=None)


def _refuse_cross_site(request: Request) -> None:
    """A form post from another site (login CSRF: being logged in with someone else's key, or
    logged out) is refused. Browsers send ``Sec-Fetch-Site`` or ``Origin``; programs that send
    neither are not browsers and carry no one else's cookies."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    here = f"{request.url.scheme}://{request.url.netloc}"
    if site in ("cross-site", "same-site") or (origin is not None and origin != here):
        raise RequestInvalid("Log in from this server's own key form.")


@router.post("/login")
async def login(request: Request) -> Response:
    _refuse_cross_site(request)
    form = parse_qs((await read_body(request, FORM_LIMIT)).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    next_path = safe_next((form.get("next") or ["/"])[0])
    try:
        token = await call(get_workspace(request).open_session, key)
    except Unauthorized:
        message = (
            "That key does not open anything here. Use the training key that `tagloop serve` "
            "printed (also in keys.json in its data folder), or a project's own training key."
        )
        return render(request, "login.html", status_code=401, next=next_path, error=message)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    _refuse_cross_site(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await call(get_workspace(request).close_session, token.strip())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
