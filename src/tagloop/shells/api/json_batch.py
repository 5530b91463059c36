"""Custom Vision's base64 image batches (``images/files``), read one image at a time.

A batch body may be hundreds of megabytes of JSON (64 images of 6 MB, base64). Parsed whole, it
would sit in memory two or three times over, and even a streaming parser builds each string
whole (one string may be the whole body). So the body is spooled to disk
(:func:`tagloop.shells.http.spooled_body`), and:

1. one pass of a regular expression over the memory map (C speed) finds where every JSON
   string literal starts and ends;
2. the streaming parser (ijson) reads a skeleton of the body: the same JSON with each long
   string shown as a short marker naming its place, so parsing costs the small parts only;
3. each image is checked against the per-image limit from its base64's length (a string far
   over the limit is never read), and is copied out of the map by its place and decoded only
   when it is added (its ``data`` is a function), so a batch costs one image of memory at a
   time, while the body is open.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import mmap
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import ijson

from tagloop.errors import ImageUnreadable, RequestInvalid
from tagloop.types import ImageStatus

Body = bytes | mmap.mmap

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string literal
_MAX_STRINGS = 100_000  # a batch of 64 images needs a few hundred
_OPENING = re.compile(rb"[\[{]")
_NOT_SPACE = re.compile(rb"\S")
_MAX_CONTAINERS = 10_000  # arrays and objects; a batch needs about three per image
_LONG = 4096  # longer strings are read from the body by their place, not by the parser
_MAX_OTHER = 1 << 20  # the longest string allowed outside an image's contents


@dataclass(frozen=True)
class BatchImage:
    name: str
    data: bytes | Callable[[], bytes] | None  # a function: decoded when called, body open
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
    # The parser's cost grows with the square of the nesting depth (50,000 nested arrays: 15 s)
    if next(itertools.islice(_OPENING.finditer(body), _MAX_CONTAINERS, None), None) is not None:
        raise RequestInvalid(f"The batch has more than {_MAX_CONTAINERS:,} arrays and objects.")
    strings = _LongStrings(body)
    try:
        kind = _top_level_kinds(strings.skeleton())
        if kind.get("images") != "start_array":
            raise RequestInvalid("The batch needs an images list.")
        images = [
            _image(strings, entry, i, max_image_bytes)
            for i, entry in enumerate(ijson.items(strings.skeleton(), "images.item"))
        ]
        tag_ids = next(iter(ijson.items(strings.skeleton(), "tagIds")), None)
        metadata = next(iter(ijson.items(strings.skeleton(), "metadata")), None)
    except ijson.JSONError as exc:
        raise RequestInvalid(f"The request body is not valid JSON ({exc}).") from None
    return Batch(images, strings.resolve(tag_ids), strings.resolve(metadata) or {})


def _encoded_length(limit: int) -> int:
    """The longest base64 an image of ``limit`` bytes needs (with padding and a little slack)."""
    return 4 * ((limit + 2) // 3) + 4


class _LongStrings:
    """The places of the body's long string literals, and the skeleton that names them.

    Outside strings JSON has no quotes, so matching literals left to right tokenizes it; on a
    body that is not JSON the places are meaningless and the parser reports the error."""

    def __init__(self, body: Body) -> None:
        self.body = body
        self.spans: list[tuple[int, int]] = []  # contents of each long literal, quotes excluded
        for count, match in enumerate(_STRING.finditer(body)):
            if count >= _MAX_STRINGS:
                raise RequestInvalid(f"The batch has more than {_MAX_STRINGS:,} JSON strings.")
            if match.end() - match.start() - 2 > _LONG:
                self.spans.append((match.start() + 1, match.end() - 1))
        # a fresh token per request, so no string a client sends can pass for a marker
        self._marker = "\0" + secrets.token_hex(8) + " "

    def skeleton(self) -> io.RawIOBase:
        return _Skeleton(self.body, self.spans, self._marker)

    def place(self, value: object) -> tuple[int, int] | None:
        """Where the long literal ``value`` stands for lies, or None for any other value."""
        if isinstance(value, str) and value.startswith(self._marker):
            return self.spans[int(value[len(self._marker) :])]
        return None

    def text(self, start: int, end: int) -> str:
        """The literal's value, its escapes decoded (:class:`ImageUnreadable` when it is not a
        valid JSON string: only long strings are read here, and only images' are long)."""
        try:
            value = json.loads(b'"' + bytes(self.body[start:end]) + b'"')
        except ValueError:
            raise ImageUnreadable("not a valid JSON string") from None
        assert isinstance(value, str)
        return value

    def resolve(self, value: Any) -> Any:
        """``value`` with every marker replaced by its string (at most ``_MAX_OTHER`` bytes)."""
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        place = self.place(value)
        if place is None:
            return value
        if place[1] - place[0] > _MAX_OTHER:
            raise RequestInvalid(f"A string of the batch is over {_MAX_OTHER:,} bytes.")
        try:
            return self.text(*place)
        except ImageUnreadable:
            raise RequestInvalid("The request body is not valid JSON (a bad string).") from None


class _Skeleton(io.RawIOBase):
    """The body, read in order, with each long literal's contents replaced by its marker."""

    def __init__(self, body: Body, spans: list[tuple[int, int]], marker: str) -> None:
        super().__init__()
        self._body = body
        self._pieces = self._walk(spans, json.dumps(marker)[1:-1].encode())
        self._piece = b""

    def _walk(self, spans: list[tuple[int, int]], marker: bytes) -> Iterator[bytes]:
        position, step = 0, 1 << 16
        for index, (start, end) in enumerate([*spans, (len(self._body), len(self._body))]):
            for at in range(position, start, step):
                yield self._body[at : min(at + step, start)]
            if index < len(spans):
                yield marker + str(index).encode()
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
    return _NOT_SPACE.search(body) is not None


def _top_level_kinds(skeleton: io.RawIOBase) -> dict[str, str]:
    """The event that starts each top-level key's value ("start_array", "string", ...)."""
    kinds: dict[str, str] = {}
    events: Iterator[tuple[str, str, Any]] = ijson.parse(skeleton)
    first = next(events, None)
    if first is None or first[1] != "start_map":
        raise RequestInvalid("The request body must be a JSON object.")
    for prefix, event, _ in events:
        if prefix and "." not in prefix and prefix not in kinds and event != "map_key":
            kinds[prefix] = event
    return kinds


def _image(strings: _LongStrings, entry: Any, index: int, limit: int) -> BatchImage:
    if not isinstance(entry, dict):
        raise RequestInvalid("Each entry of images must be an object.")
    contents = entry.pop("contents", None) or ""
    entry = strings.resolve(entry)
    name = str(entry.get("name") or f"image {index + 1}")
    tags = entry.get("tagIds")
    if not isinstance(contents, str):
        return BatchImage(name, None, tags, ImageStatus.IMAGE_FORMAT, "not base64")
    place = strings.place(contents)
    longest = _encoded_length(limit)
    length = place[1] - place[0] if place else len(contents)
    try:
        if place and longest < length <= 2 * longest:
            # Escapes only lengthen a literal ("\/" for "/", as some encoders write base64): a
            # literal up to twice the longest base64 is read and measured; a longer one never is.
            contents, place = strings.text(*place), None
            length = len(contents)
        if length > longest:
            reason = f"the image is about {length * 3 // 4:,} bytes; the limit is {limit:,} bytes"
            return BatchImage(name, None, tags, ImageStatus.IMAGE_SIZE, reason)
        if place is None:
            return BatchImage(name, _decoded(contents), tags)
    except ImageUnreadable as exc:
        return BatchImage(name, None, tags, ImageStatus.IMAGE_FORMAT, exc.message)
    start, end = place
    return BatchImage(name, lambda: _decoded(strings.text(start, end)), tags)


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageUnreadable("not base64") from None
