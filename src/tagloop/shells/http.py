"""Request plumbing every HTTP shell shares (the native and Custom Vision APIs, the pages):
the workspace, the key a request carries and what it opens, bodies, calling the core off the
event loop. The API and the pages both build on this module and never on each other.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tagloop.errors import ImageTooLarge
from tagloop.workspace.context import Access, Workspace

T = TypeVar("T")

KEY_HEADERS = {
    "training": ("training-key", "ocp-apim-subscription-key"),
    "prediction": ("prediction-key", "training-key", "ocp-apim-subscription-key"),
}


def get_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


# The web pages keep a session token in this cookie (HttpOnly, SameSite=Strict): a random
# token whose sha256 the server stores with what it opens (see Workspace.open_session), never
# the key itself; logging out ends it on the server. The native API accepts it too, so the
# pages' scripts and <img> tags need no key of their own; a request that changes something must
# also carry UI_HEADER, which a page on another site cannot add without a CORS preflight that
# this server never grants (defence against CSRF).
SESSION_COOKIE = "tagloop_session"
UI_HEADER = "x-tagloop-ui"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def header_key(request: Request, need: str) -> str | None:
    for header in KEY_HEADERS[need]:
        value = request.headers.get(header)
        if value:
            return value.strip()
    return None


def session_token(request: Request) -> str | None:
    """The web pages' session token, where it counts: outside the Custom Vision routes, and
    for a request that changes something only with UI_HEADER."""
    if request.url.path.startswith("/customvision/"):
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and (request.method in SAFE_METHODS or request.headers.get(UI_HEADER) == "1"):
        return cookie.strip()
    return None


def request_key(request: Request, need: str) -> str | None:
    """What identifies the asker: a key header, else the pages' session token."""
    return header_key(request, need) or session_token(request)


async def authorize(request: Request, need: str) -> Access:
    ws = get_workspace(request)
    key = header_key(request, need)
    token = None if key else session_token(request)
    if token:
        return await run_in_threadpool(ws.session_access, token, need=need)
    return await run_in_threadpool(ws.authorize, key, need=need)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (blocking) core function off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def call_fetching(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Like :func:`call`, for work that fetches image URLs: it runs in a slot of the app's own
    limiter (``max_concurrent_url_fetches``), and a request waiting for one holds no thread of
    the shared pool."""
    limiter: anyio.CapacityLimiter = request.app.state.url_fetch_slots
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)


def _refuse_declared_size(request: Request, limit: int) -> None:
    """Refuse a body before reading it when its Content-Length is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ImageTooLarge(f"The request body is {int(declared):,} bytes; the limit is {limit:,}.")


SPOOL_AT = 1024 * 1024  # a body larger than this is spooled to a temporary file, not memory


@contextlib.asynccontextmanager
async def spooled_body(request: Request, limit: int) -> AsyncIterator[bytes | mmap.mmap]:
    """The request body as bytes, or past SPOOL_AT as a read-only memory map of a temporary
    file (removed afterwards), refused early when it is larger than ``limit`` bytes. So a large
    upload costs disk, not memory; the parser copies out only the parts it keeps."""
    _refuse_declared_size(request, limit)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_AT) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ImageTooLarge(f"The request body is over the limit of {limit:,} bytes.")
            spool.write(chunk)  # past SPOOL_AT into the file's page cache: no real wait
        if size <= SPOOL_AT:
            spool.seek(0)
            yield spool.read()
            return
        spool.flush()
        with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused early when it is larger than ``limit`` bytes."""
    _refuse_declared_size(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise ImageTooLarge(f"The request body is over the limit of {limit:,} bytes.")
    return bytes(body)
