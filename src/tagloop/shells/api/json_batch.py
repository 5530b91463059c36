"""Custom Vision's base64 image batches (``images/files``), read one image at a time.

A batch body may be hundreds of megabytes of JSON (64 images of 6 MB, base64). Parsed whole, it
would sit in memory two or three times over; here the body is spooled to disk
(:func:`tagloop.shells.http.spooled_body`) and read with a streaming parser (ijson), so memory
holds one base64 string at a time and the images that are kept.

A streaming parser still builds each string whole, and one string may be the whole body. So a
first pass (a regular expression over the memory map, at C speed) finds every string longer
than an image under the limit can need, and the parser reads the body through a view that
shows each such string as a short marker: an image over the per-image limit is refused from
its encoded length, never read into memory.
"""

from __future__ import annotations

import base64
import binascii
import io
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from tagloop.errors import RequestInvalid
from tagloop.types import ImageStatus

Body = bytes | mmap.mmap

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string literal
_MAX_STRINGS = 100_000  # a batch of 64 images needs a few hundred
_OVERSIZE = "\0oversize "  # the marker: NUL (never in base64), then the encoded length


@dataclass(frozen=True)
class BatchImage:
    name: str
    data: bytes | None
    tag_ids: Any  # as sent; checked by the caller
    error: ImageStatus | None = None
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
    # twice the base64 length: some encoders escape "/" as "\\/"; the exact check is per image
    spans = _oversize_strings(body, 2 * _encoded_length(max_image_bytes))
    try:
        kind = _top_level_kinds(_Masked(body, spans))
        if kind.get("images") != "start_array":
            raise RequestInvalid("The batch needs an images list.")
        images = [
            _image(entry, i, max_image_bytes)
            for i, entry in enumerate(ijson.items(_Masked(body, spans), "images.item"))
        ]
        tag_ids = next(iter(ijson.items(_Masked(body, spans), "tagIds")), None)
        metadata = next(iter(ijson.items(_Masked(body, spans), "metadata")), None)
    except ijson.JSONError as exc:
        raise RequestInvalid(f"The request body is not valid JSON ({exc}).") from None
    return Batch(images, tag_ids, metadata or {})


def _encoded_length(limit: int) -> int:
    """The longest base64 an image of ``limit`` bytes needs (with padding and a little slack)."""
    return 4 * ((limit + 2) // 3) + 4


def _oversize_strings(body: Body, longest: int) -> list[tuple[int, int]]:
    """Where the string literals longer than ``longest`` bytes start and end (quotes excluded).

    Outside strings JSON has no quotes, so matching literals left to right tokenizes it; on a
    body that is not JSON the spans are meaningless and the parser reports the error."""
    spans: list[tuple[int, int]] = []
    for count, match in enumerate(_STRING.finditer(body)):
        if count >= _MAX_STRINGS:
            raise RequestInvalid(f"The batch has more than {_MAX_STRINGS:,} JSON strings.")
        start, end = match.start() + 1, match.end() - 1
        if end - start > longest:
            spans.append((start, end))
    return spans


class _Masked(io.RawIOBase):
    """The body, read in order, with each span's contents replaced by the oversize marker."""

    def __init__(self, body: Body, spans: list[tuple[int, int]]) -> None:
        super().__init__()
        self._body = body
        self._pieces = self._walk(spans)
        self._piece = b""

    def _walk(self, spans: list[tuple[int, int]]) -> Iterator[bytes]:
        position, step = 0, 1 << 16
        for start, end in [*spans, (len(self._body), len(self._body))]:
            for at in range(position, start, step):
                yield self._body[at : min(at + step, start)]
            if end > start:
                yield b"\\u0000oversize %d" % (end - start)  # JSON text of the marker
            position = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._piece:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._piece = piece
        n = min(len(buffer), len(self._piece))
        buffer[:n] = self._piece[:n]
        self._piece = self._piece[n:]
        return n


def _has_content(body: Body) -> bool:
    return any(bytes(body[i : i + 65536]).strip() for i in range(0, len(body), 65536))


def _top_level_kinds(body: IO[bytes] | _Masked) -> dict[str, str]:
    """The event that starts each top-level key's value ("start_array", "string", ...)."""
    kinds: dict[str, str] = {}
    events: Iterator[tuple[str, str, Any]] = ijson.parse(body)
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
        return BatchImage(name, None, tags, ImageStatus.IMAGE_FORMAT, "not base64")
    masked = contents.startswith(_OVERSIZE) and contents[len(_OVERSIZE) :].isdigit()
    if masked or len(contents) > _encoded_length(limit):
        encoded = int(contents[len(_OVERSIZE) :]) if masked else len(contents)
        size = encoded * 3 // 4
        reason = f"the image is about {size:,} bytes; the limit is {limit:,} bytes"
        return BatchImage(name, None, tags, ImageStatus.IMAGE_SIZE, reason)
    try:
        data = base64.b64decode(contents, validate=True)
    except (binascii.Error, ValueError):
        return BatchImage(name, None, tags, ImageStatus.IMAGE_FORMAT, "not base64")
    return BatchImage(name, data, tags)
