"""Request plumbing shared by the routers: the workspace, keys, bodies, calling the core."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tagloop.errors import ImageTooLarge, RequestInvalid
from tagloop.shells.api.multipart import Part, parse_multipart
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.predictions import read_url as fetch_prediction_url

T = TypeVar("T")
URL_BODY_LIMIT = 64 * 1024

KEY_HEADERS = {
    "training": ("training-key", "ocp-apim-subscription-key"),
    "prediction": ("prediction-key", "training-key", "ocp-apim-subscription-key"),
}


def get_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


# The web pages keep the key a person entered in this cookie (HttpOnly, SameSite=Strict). The
# native API accepts it too, so the pages' scripts and <img> tags need no key of their own; a
# request that changes something must also carry UI_HEADER, which a page on another site cannot
# add without a CORS preflight that this server never grants (defence against CSRF).
SESSION_COOKIE = "tagloop_key"
UI_HEADER = "x-tagloop-ui"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def request_key(request: Request, need: str) -> str | None:
    """The key a request carries: a key header, else (outside the Custom Vision routes) the
    session cookie of the web pages."""
    for header in KEY_HEADERS[need]:
        value = request.headers.get(header)
        if value:
            return value.strip()
    if request.url.path.startswith("/customvision/"):
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and (request.method in SAFE_METHODS or request.headers.get(UI_HEADER) == "1"):
        return cookie.strip()
    return None


async def authorize(request: Request, need: str) -> Access:
    ws = get_workspace(request)
    key = request_key(request, need)
    return await run_in_threadpool(ws.authorize, key, need=need)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (blocking) core function off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused early when it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ImageTooLarge(f"The request body is {int(declared):,} bytes; the limit is {limit:,}.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise ImageTooLarge(f"The request body is over the limit of {limit:,} bytes.")
    return bytes(body)


async def json_body(request: Request, limit: int) -> Any:
    """The JSON body; an empty body (the SDK sends one with a JSON content type) is ``{}``."""
    body = await read_body(request, limit)
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise RequestInvalid(f"The request body is not valid JSON ({exc}).") from None


def json_object(value: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestInvalid(f"The {what} must be a JSON object.")
    return value


async def image_parts(request: Request, *, limit: int, max_parts: int) -> list[Part]:
    """Images of a multipart upload (every part), or a raw ``application/octet-stream`` body."""
    content_type = request.headers.get("content-type", "")
    body = await read_body(request, limit * max_parts + 1024 * 1024)
    if content_type.lower().startswith("multipart/"):
        parts = parse_multipart(body, content_type, max_parts=max_parts)
        if not parts:
            raise RequestInvalid("The upload has no image part; send the image as imageData.")
        return parts
    if not body:
        raise RequestInvalid("The request has no image; send it as multipart imageData.")
    return [Part(name="imageData", filename=None, content_type=content_type or None, data=body)]


async def prediction_image(request: Request) -> bytes:
    """The one image of a prediction or quick-test request (prediction byte limit)."""
    limit = get_workspace(request).settings.max_prediction_image_bytes
    return (await image_parts(request, limit=limit, max_parts=1))[0].data


async def image_at_url(request: Request) -> bytes:
    """Fetch the image named by a ``{"url": ...}`` body, with the service's URL rules."""
    body = json_object(await json_body(request, URL_BODY_LIMIT))
    return await call(fetch_prediction_url, get_workspace(request), str(body.get("url") or ""))


def csv_ids(value: str | None, what: str, *, required: bool = False, limit: int = 256) -> list[str]:
    """A comma-separated id list from the query string."""
    ids = [v.strip() for v in (value or "").split(",") if v.strip()]
    if required and not ids:
        raise RequestInvalid(f"{what} is required.")
    if len(ids) > limit:
        raise RequestInvalid(f"At most {limit} {what} per request.")
    return ids


def parse_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise RequestInvalid(f"{value!r} is not true or false.")


def parse_int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise RequestInvalid(f"{name} must be a whole number.") from None
    if not lo <= number <= hi:
        raise RequestInvalid(f"{name} must be between {lo} and {hi}.")
    return number


def parse_float(value: str | None, name: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise RequestInvalid(f"{name} must be a number.") from None
