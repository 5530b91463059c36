"""Custom Vision's base64 image batches (``images/files``), read one image at a time.

A batch body may be hundreds of megabytes of JSON (64 images of 6 MB, base64). Parsed whole, it
would sit in memory two or three times over; here the body is spooled to disk
(:func:`tagloop.shells.http.spooled_body`) and read with a streaming parser (ijson), so memory
holds one base64 string at a time and the images that are kept. An image over the per-image
limit is refused from its encoded length, without decoding it.
"""

from __future__ import annotations

import base64
import binascii
import io
import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from tagloop.errors import RequestInvalid

Body = bytes | mmap.mmap


@dataclass(frozen=True)
class BatchImage:
    name: str
    data: bytes | None
    tag_ids: Any  # as sent; checked by the caller
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Batch:
    images: list[BatchImage]
    tag_ids: Any
    metadata: Any


def read_image_batch(body: Body, *, max_image_bytes: int) -> Batch:
    """The batch's images (decoded, or refused with a reason), its tagIds and metadata.

    Raises :class:`RequestInvalid` for a body that is not a JSON object with an ``images`` list
    of objects."""
    if not _has_content(body):  # the SDK's empty body: no images
        raise RequestInvalid("The batch needs an images list.")
    try:
        kind = _top_level_kinds(body)
        if kind.get("images") != "start_array":
            raise RequestInvalid("The batch needs an images list.")
        images = [
            _image(entry, i, max_image_bytes)
            for i, entry in enumerate(ijson.items(_reader(body), "images.item"))
        ]
        tag_ids = next(iter(ijson.items(_reader(body), "tagIds")), None)
        metadata = next(iter(ijson.items(_reader(body), "metadata")), None)
    except ijson.JSONError as exc:
        raise RequestInvalid(f"The request body is not valid JSON ({exc}).") from None
    return Batch(images, tag_ids, metadata or {})


def _reader(body: Body) -> IO[bytes]:
    if isinstance(body, mmap.mmap):
        body.seek(0)
        return body  # type: ignore[return-value]
    return io.BytesIO(body)


def _has_content(body: Body) -> bool:
    return any(bytes(body[i : i + 65536]).strip() for i in range(0, len(body), 65536))


def _top_level_kinds(body: Body) -> dict[str, str]:
    """The event that starts each top-level key's value ("start_array", "string", ...)."""
    kinds: dict[str, str] = {}
    events: Iterator[tuple[str, str, Any]] = ijson.parse(_reader(body))
    first = next(events, None)
    if first is None or first[1] != "start_map":
        raise RequestInvalid("The request body must be a JSON object.")
    for prefix, event, _ in events:
        if prefix and "." not in prefix and prefix not in kinds and event != "map_key":
            kinds[prefix] = event
    return kinds


def _image(entry: Any, index: int, limit: int) -> BatchImage:
    if not isinstance(entry, dict):
        raise RequestInvalid("Each entry of images must be an object.")
    name = str(entry.get("name") or f"image {index + 1}")
    contents = entry.get("contents") or ""
    tags = entry.get("tagIds")
    if not isinstance(contents, str):
        return BatchImage(name, None, tags, "ErrorImageFormat", "not base64")
    if len(contents) > 4 * ((limit + 2) // 3) + 4:  # more base64 than the limit can need
        size = len(contents) * 3 // 4
        reason = f"the image is about {size:,} bytes; the limit is {limit:,} bytes"
        return BatchImage(name, None, tags, "ErrorImageSize", reason)
    try:
        data = base64.b64decode(contents, validate=True)
    except (binascii.Error, ValueError):
        return BatchImage(name, None, tags, "ErrorImageFormat", "not base64")
    return BatchImage(name, data, tags)
