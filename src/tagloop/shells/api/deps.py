"""API request parsing: JSON and multipart bodies, images by upload or URL, query values."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from tagloop.errors import ImageTooLarge, RequestInvalid
from tagloop.shells.api.multipart import Part, parse_multipart
from tagloop.shells.http import call_fetching, get_workspace, read_body, spooled_body
from tagloop.types import ImageStatus
from tagloop.workspace.images import Upload
from tagloop.workspace.predictions import read_url as fetch_prediction_url

URL_BODY_LIMIT = 64 * 1024


async def json_body(request: Request, limit: int) -> Any:
    """The JSON body; an empty body (the SDK sends one with a JSON content type) is ``{}``."""
    body = await read_body(request, limit)
    if not body.strip():
        return {}
    try:
        return json.loads(body, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise RequestInvalid(f"The request body is not valid JSON ({exc}).") from None


def _not_json(name: str) -> Any:
    """Python's reader takes NaN and Infinity; JSON has neither (and they cannot be echoed)."""
    raise ValueError(f"{name} is not a JSON number")


def json_object(value: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestInvalid(f"The {what} must be a JSON object.")
    return value


@contextlib.asynccontextmanager
async def image_parts(request: Request, *, limit: int, max_parts: int) -> AsyncIterator[list[Part]]:
    """Images of a multipart upload (every part), or a raw ``application/octet-stream`` body,
    open while the block runs.

    The body is spooled to disk past a small size and no part is copied yet: each part is read
    when it is used (:meth:`Part.read`, inside the block), so a batch costs one image of memory
    at a time; a part over ``limit`` bytes is never read (``oversize``)."""
    content_type = request.headers.get("content-type", "")
    async with spooled_body(request, limit * max_parts + 1024 * 1024) as body:
        if content_type.lower().startswith("multipart/"):
            parts = parse_multipart(
                body, content_type, max_parts=max_parts, max_part_bytes=limit, copy=False
            )
            if not parts:
                raise RequestInvalid("The upload has no image part; send the image as imageData.")
            yield parts
            return
        if not len(body):
            raise RequestInvalid("The request has no image; send it as multipart imageData.")
        yield [
            Part(
                name="imageData",
                filename=None,
                content_type=content_type or None,
                data=b"",
                size=len(body),
                oversize=len(body) > limit,
                body=body,
            )
        ]


def uploads_of(parts: list[Part], limit: int) -> list[Upload]:
    """One upload per part, read when it is added (so inside :func:`image_parts`'s block); a
    part over the per-image limit is refused with the reason."""
    return [
        Upload(
            p.filename or p.name,
            None,
            error=ImageStatus.IMAGE_SIZE,
            reason=f"the image is {p.size:,} bytes; the limit is {limit:,} bytes",
        )
        if p.oversize
        else Upload(p.filename or p.name, p.read)  # read when added: one image at a time
        for p in parts
    ]


async def prediction_image(request: Request) -> bytes:
    """The one image of a prediction or quick-test request (prediction byte limit)."""
    limit = get_workspace(request).settings.max_prediction_image_bytes
    async with image_parts(request, limit=limit, max_parts=1) as parts:
        if parts[0].oversize:
            size = parts[0].size
            raise ImageTooLarge(f"The image is {size:,} bytes; the limit is {limit:,} bytes.")
        return parts[0].read()


async def image_at_url(request: Request) -> bytes:
    """Fetch the image named by a ``{"url": ...}`` body, with the service's URL rules."""
    body = json_object(await json_body(request, URL_BODY_LIMIT))
    url = str(body.get("url") or "")
    return await call_fetching(request, fetch_prediction_url, get_workspace(request), url)


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
