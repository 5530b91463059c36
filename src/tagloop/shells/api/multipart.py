"""A strict ``multipart/form-data`` parser that keeps every part's bytes exactly as sent.

Starlette's form parser turns file parts without a filename into text and caps them at 1 MB,
but the Custom Vision SDK sends images exactly that way (``name="imageData"``, no filename, no
Content-Type). This parser works on the whole request body (RFC 7578 / RFC 2046) — bytes, or a
memory map of the body spooled to disk (:func:`tagloop.shells.http.spooled_body`) — and
returns raw bytes for every part. It only uses ``find`` and slices, so a body of several
megabytes parses in about the time it takes to copy it. A part over ``max_part_bytes`` is not
copied out at all: it comes back empty, marked ``oversize`` with its size; with ``copy=False``
no part is copied until it is read.
"""

from __future__ import annotations

import logging
import mmap
import urllib.parse
from dataclasses import dataclass, field

from tagloop.errors import BatchTooLarge, RequestInvalid

logger = logging.getLogger(__name__)

MAX_BOUNDARY_LENGTH = 200  # RFC 2046 allows 70; be lenient with clients, not unbounded
MAX_HEADER_BYTES = 16 * 1024  # per part

_CRLF = b"\r\n"
_PADDING = b" \t"  # "transport padding" allowed after a boundary, before the line break


Body = bytes | mmap.mmap


@dataclass(frozen=True)
class Part:
    """One part of a multipart body; ``data`` holds its bytes exactly as sent, or, when the
    parser was told not to copy, :meth:`read` copies them out of the body when needed."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)
    size: int = -1  # the part's length as sent (-1: len(data))
    oversize: bool = False  # over max_part_bytes: data is empty
    body: Body | None = field(default=None, repr=False, compare=False)  # not copied: read here
    start: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.data))

    def read(self) -> bytes:
        """The part's bytes (copied from the body now, for a part the parser did not copy)."""
        if self.body is None or self.oversize:
            return self.data
        return bytes(self.body[self.start : self.start + self.size])


def parse_multipart(
    body: Body,
    content_type_header: str,
    *,
    max_parts: int,
    max_part_bytes: int | None = None,
    copy: bool = True,
) -> list[Part]:
    """Split a ``multipart/form-data`` body into its parts, in order. With ``copy=False`` no
    part's bytes are copied yet: each part's :meth:`Part.read` copies them while ``body`` is
    still open, so a batch can be handled one part at a time.

    Raises :class:`RequestInvalid` when the header has no boundary, the body is not framed by
    that boundary (no opening or no closing delimiter), or a part has no ``Content-Disposition``
    with a ``name``; raises :class:`BatchTooLarge` when there are more than ``max_parts`` parts.
    The preamble before the first boundary and the epilogue after the last are ignored.
    """
    boundary = _boundary(content_type_header)
    dash_boundary = b"--" + boundary
    delimiter = _CRLF + dash_boundary
    if _at(body, dash_boundary, 0) and (first := _delimiter_line_end(body, len(dash_boundary))):
        position, is_last = first
    else:
        found = _find_delimiter(body, delimiter, 0)
        if found is None:
            raise RequestInvalid(
                f"The multipart body does not contain its boundary {boundary.decode()!r}. "
                "Send the body that matches the Content-Type header."
            )
        _, position, is_last = found
    parts: list[Part] = []
    while not is_last:
        found = _find_delimiter(body, delimiter, position)
        if found is None:
            raise RequestInvalid(
                f"The multipart body ends without its closing boundary "
                f"'--{boundary.decode()}--'; it may have been cut off. Send the complete body."
            )
        if len(parts) == max_parts:
            raise BatchTooLarge(
                f"The request has more than {max_parts} parts. "
                f"Send at most {max_parts} per request."
            )
        end, next_position, is_last = found
        parts.append(
            _parse_part(body, position, end, index=len(parts), limit=max_part_bytes, copy=copy)
        )
        position = next_position
    logger.debug("parsed %d multipart parts from %d bytes", len(parts), len(body))
    return parts


def _boundary(content_type_header: str) -> bytes:
    media_type, params = _parse_header_value(content_type_header, what="Content-Type header")
    if media_type != "multipart/form-data":
        raise RequestInvalid(
            f"Expected a multipart/form-data body, got Content-Type {content_type_header!r}."
        )
    boundary = params.get("boundary", "")
    if not boundary:
        raise RequestInvalid(
            "The Content-Type header multipart/form-data has no boundary parameter. "
            "Let the HTTP client build the multipart body and its header."
        )
    if len(boundary) > MAX_BOUNDARY_LENGTH or not boundary.isascii() or not boundary.isprintable():
        raise RequestInvalid(
            f"The multipart boundary {boundary[:80]!r} is not valid: use at most "
            f"{MAX_BOUNDARY_LENGTH} printable ASCII characters."
        )
    return boundary.encode("ascii")


def _at(body: Body, prefix: bytes, position: int) -> bool:
    """``body.startswith(prefix, position)``, for bytes and memory maps alike."""
    return body[position : position + len(prefix)] == prefix


def _delimiter_line_end(body: Body, after: int) -> tuple[int, bool] | None:
    """Where the line of a boundary that ends at ``after`` ends, and whether it closes the body.

    ``None`` when the bytes after the boundary are neither ``--`` nor padding and CRLF: then it
    was data that merely starts like the boundary.
    """
    if _at(body, b"--", after):
        return after + 2, True
    line_break = after
    while line_break < len(body) and body[line_break] in _PADDING:
        line_break += 1
    if _at(body, _CRLF, line_break):
        return line_break + 2, False
    return None


def _find_delimiter(body: Body, delimiter: bytes, start: int) -> tuple[int, int, bool] | None:
    """The next real delimiter at or after ``start``: (data end, next part start, is last)."""
    search = start
    while (found := body.find(delimiter, search)) >= 0:
        line = _delimiter_line_end(body, found + len(delimiter))
        if line is not None:
            return found, *line
        search = found + 1
    return None


def _parse_part(
    body: Body, start: int, end: int, *, index: int, limit: int | None, copy: bool
) -> Part:
    if _at(body, _CRLF, start):  # no headers at all
        header_block, data_start = b"", start + 2
    else:
        header_end = body.find(b"\r\n\r\n", start, min(end, start + MAX_HEADER_BYTES))
        if header_end < 0:
            raise RequestInvalid(
                f"Part {index + 1} of the multipart body has no blank line after its headers "
                f"(or more than {MAX_HEADER_BYTES} bytes of headers)."
            )
        header_block, data_start = body[start:header_end], header_end + 4
    headers = _parse_headers(header_block, index=index)
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise RequestInvalid(
            f"Part {index + 1} of the multipart body has no Content-Disposition header. "
            'Each part needs one, like: Content-Disposition: form-data; name="imageData".'
        )
    kind, params = _parse_header_value(disposition, what=f"Content-Disposition of part {index + 1}")
    if kind != "form-data" or "name" not in params:
        raise RequestInvalid(
            f"Part {index + 1} of the multipart body has Content-Disposition {disposition!r}; "
            'expected form-data with a name, like: form-data; name="imageData".'
        )
    filename = params.get("filename")
    if "filename*" in params:
        filename = _decode_extended(params["filename*"]) or filename
    size = end - data_start
    oversize = limit is not None and size > limit
    return Part(
        name=params["name"],
        filename=filename,
        content_type=headers.get("content-type"),
        data=bytes(body[data_start:end]) if copy and not oversize else b"",
        size=size,
        oversize=oversize,
        body=None if copy else body,
        start=data_start,
    )


def _parse_headers(block: bytes, *, index: int) -> dict[str, str]:
    """Header lines of one part; names lower-cased, folded lines joined, the first one wins."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("latin-1")
    lines: list[str] = []
    for line in text.split("\r\n") if text else []:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise RequestInvalid(
                f"Part {index + 1} of the multipart body has a malformed header line {line!r}."
            )
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


def _parse_header_value(value: str, *, what: str) -> tuple[str, dict[str, str]]:
    """``type; key=value; key="quoted \\" value"`` -> (lower-cased type, {lower-cased key: value}).

    In quoted values only ``\\"`` and ``\\\\`` are escapes; any other backslash is kept, so
    Windows paths sent by old browsers survive.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    position, length = 0, len(rest)
    while position < length:
        while position < length and rest[position] in " \t;":
            position += 1
        if position >= length:
            break
        key_end = position
        while key_end < length and rest[key_end] not in "=;":
            key_end += 1
        key = rest[position:key_end].strip().lower()
        if key_end >= length or rest[key_end] == ";":  # a flag without a value
            position = key_end
            continue
        position = key_end + 1
        while position < length and rest[position] in " \t":
            position += 1
        if position < length and rest[position] == '"':
            text, position = _read_quoted(rest, position + 1, what=what)
        else:
            value_end = rest.find(";", position)
            value_end = length if value_end < 0 else value_end
            text, position = rest[position:value_end].strip(), value_end
        params.setdefault(key, text)
    return main.strip().lower(), params


def _read_quoted(text: str, position: int, *, what: str) -> tuple[str, int]:
    """The quoted string starting after the opening quote, and the index after its closing one."""
    chars: list[str] = []
    while position < len(text):
        char = text[position]
        if char == "\\" and text[position + 1 : position + 2] in ('"', "\\"):
            chars.append(text[position + 1])
            position += 2
        elif char == '"':
            return "".join(chars), position + 1
        else:
            chars.append(char)
            position += 1
    raise RequestInvalid(f"The {what} has a quoted value without its closing quote.")


def _decode_extended(value: str) -> str | None:
    """An RFC 5987 value such as ``UTF-8''na%C3%AFve.png``; ``None`` if it cannot be decoded."""
    charset, quote, rest = value.partition("'")
    _, quote_again, encoded = rest.partition("'")
    if not quote or not quote_again:
        return None
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None
