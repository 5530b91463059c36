"""parse_multipart on bodies built the way real clients build them, and on broken ones.

``requests`` builds the bodies the Custom Vision SDK sends (msrest passes ``files`` to it: bytes
become ``(None, data)``, a part without filename or Content-Type). ``urllib3`` is what requests
uses underneath; bodies that need exact control are written by hand.
"""

from __future__ import annotations

import mmap
import random
from pathlib import Path
from typing import Any

import pytest
import urllib3
from requests.models import RequestEncodingMixin

from tagloop.errors import BatchTooLarge, RequestInvalid
from tagloop.shells.api.multipart import Part, parse_multipart

ALL_BYTES = bytes(range(256))
# Everything that looks like framing: CRLF, dashes, a blank line, a boundary-ish line.
TRICKY = ALL_BYTES + b"\r\n--\r\n\r\n--\r\n-- \r\n--x--\r\n" + ALL_BYTES[::-1] + b"\r\n"


def _encode_like_requests(files: Any) -> tuple[bytes, str]:
    body, content_type = RequestEncodingMixin._encode_files(files, {})
    assert isinstance(body, bytes)
    return body, content_type


def _by_hand(boundary: str, *parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    dash = b"--" + boundary.encode()
    body = preamble + (b"\r\n" if preamble else b"")
    for part in parts:
        body += dash + b"\r\n" + part + b"\r\n"
    return body + dash + b"--" + epilogue


def test_part_with_filename_and_content_type() -> None:
    files = {"imageData": ("cat.png", TRICKY, "application/octet-stream")}
    body, content_type = _encode_like_requests(files)
    assert parse_multipart(body, content_type, max_parts=10) == [
        Part("imageData", "cat.png", "application/octet-stream", TRICKY)
    ]


def test_raw_part_without_filename_or_content_type_keeps_its_bytes() -> None:
    # What the Custom Vision SDK sends for create_images_from_data(project_id, image_bytes).
    body, content_type = _encode_like_requests({"imageData": (None, TRICKY)})
    assert b"filename" not in body and b"Content-Type" not in body
    [part] = parse_multipart(body, content_type, max_parts=1)
    assert part == Part("imageData", None, None, TRICKY)
    assert set(part.data) == set(range(256))


def test_five_megabyte_payload_round_trips() -> None:
    payload = random.Random(0).randbytes(5 * 1024 * 1024)
    body, content_type = _encode_like_requests({"imageData": (None, payload)})
    [part] = parse_multipart(body, content_type, max_parts=1)
    assert part.data == payload


def test_several_image_parts_in_order() -> None:
    payloads = [bytes([i]) * (i * 1000 + 1) + TRICKY for i in range(5)]
    fields = [("imageData", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(payloads)]
    fields.insert(2, ("imageData", (None, b"raw")))  # type: ignore[arg-type]
    body, content_type = urllib3.encode_multipart_formdata(fields)
    parts = parse_multipart(body, content_type, max_parts=6)
    assert [part.data for part in parts] == payloads[:2] + [b"raw"] + payloads[2:]
    assert [part.filename for part in parts] == ["0.jpg", "1.jpg", None, "2.jpg", "3.jpg", "4.jpg"]
    assert {part.name for part in parts} == {"imageData"}


def test_text_fields_and_empty_parts() -> None:
    body, content_type = urllib3.encode_multipart_formdata(
        [("tagIds", "a1"), ("empty", ""), ("imageData", ("e.png", b"", "image/png"))]
    )
    parts = parse_multipart(body, content_type, max_parts=3)
    assert [(part.name, part.data) for part in parts] == [
        ("tagIds", b"a1"),
        ("empty", b""),
        ("imageData", b""),
    ]


@pytest.mark.parametrize(
    "header",
    [
        'multipart/form-data; boundary="a b:c?d"',
        'Multipart/Form-Data;boundary="a b:c?d";charset=utf-8',
        'multipart/form-data; charset="x;y"; boundary = "a b:c?d"',
    ],
)
def test_quoted_boundary(header: str) -> None:
    body = _by_hand("a b:c?d", b'Content-Disposition: form-data; name="f"\r\n\r\n' + TRICKY)
    assert parse_multipart(body, header, max_parts=1) == [Part("f", None, None, TRICKY)]


def test_preamble_epilogue_and_transport_padding() -> None:
    dash = b"--XyZ"
    body = (
        b"This is the preamble.\r\n--XyZ is not a delimiter here\r\n"
        + dash
        + b" \t\r\n"
        + b'Content-Disposition: form-data; name="a"\r\n\r\none'
        + b"\r\n"
        + dash
        + b"\r\n"
        + b'Content-Disposition: form-data; name="b"\r\n\r\ntwo'
        + b"\r\n"
        + dash
        + b"--\r\nThis is the epilogue.\r\n--XyZ\r\n"
    )
    parts = parse_multipart(body, "multipart/form-data; boundary=XyZ", max_parts=2)
    assert [(part.name, part.data) for part in parts] == [("a", b"one"), ("b", b"two")]


def test_data_that_starts_like_the_boundary_is_data() -> None:
    data = b"before\r\n--XyZabc\r\n--XyZ-\r\nafter"
    body = _by_hand("XyZ", b'Content-Disposition: form-data; name="f"\r\n\r\n' + data)
    [part] = parse_multipart(body, "multipart/form-data; boundary=XyZ", max_parts=1)
    assert part.data == data


@pytest.mark.parametrize(
    ("disposition", "name", "filename"),
    [
        ('form-data; name="imageData"; filename="a \\"b\\".png"', "imageData", 'a "b".png'),
        ('form-data; name="x;y"; filename="semi;colon.png"', "x;y", "semi;colon.png"),
        ('form-data; name="f"; filename="C:\\dir\\cat.png"', "f", "C:\\dir\\cat.png"),
        ('form-data; name="f"; filename="back\\\\slash.png"', "f", "back\\slash.png"),
        ("form-data; name=plain; filename=token.png", "plain", "token.png"),
        ('FORM-DATA; NAME="f"; FILENAME=""', "f", ""),
        ('form-data; name="f"; filename="na\u00efve.png"', "f", "na\u00efve.png"),
        ("form-data; name=\"f\"; filename*=UTF-8''na%C3%AFve.png", "f", "na\u00efve.png"),
        ('form-data; name="f"; filename="a.png"; filename*=utf-8\'\'b%20c.png', "f", "b c.png"),
    ],
)
def test_content_disposition_parameters(disposition: str, name: str, filename: str) -> None:
    head = f"Content-Disposition: {disposition}\r\nContent-Type: image/png\r\n\r\n"
    body = _by_hand("B", head.encode() + b"data")
    [part] = parse_multipart(body, "multipart/form-data; boundary=B", max_parts=1)
    assert (part.name, part.filename, part.content_type, part.data) == (
        name,
        filename,
        "image/png",
        b"data",
    )


def test_requests_filename_with_a_quote() -> None:
    # urllib3 writes a quote in a filename as %22 (the HTML form encoding); it stays as sent.
    body, content_type = urllib3.encode_multipart_formdata(
        [("imageData", ('say "hi".png', b"x", "image/png"))]
    )
    [part] = parse_multipart(body, content_type, max_parts=1)
    assert part.filename == "say %22hi%22.png"


def test_max_parts_is_inclusive() -> None:
    body, content_type = urllib3.encode_multipart_formdata([("imageData", b"x")] * 3)
    assert len(parse_multipart(body, content_type, max_parts=3)) == 3
    with pytest.raises(BatchTooLarge, match="more than 2 parts"):
        parse_multipart(body, content_type, max_parts=2)


def test_body_with_no_parts() -> None:
    assert parse_multipart(b"--B--\r\n", "multipart/form-data; boundary=B", max_parts=1) == []


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("multipart/form-data", "no boundary"),
        ("multipart/form-data; boundary=", "no boundary"),
        ('multipart/form-data; boundary=""', "no boundary"),
        ("multipart/form-data; charset=utf-8", "no boundary"),
        ("application/json; boundary=B", "Expected a multipart/form-data body"),
        ("", "Expected a multipart/form-data body"),
        ("multipart/form-data; boundary=" + "b" * 201, "boundary .* is not valid"),
        ('multipart/form-data; boundary="B', "without its closing quote"),
    ],
)
def test_bad_content_type_header(header: str, message: str) -> None:
    body = _by_hand("B", b'Content-Disposition: form-data; name="f"\r\n\r\nx')
    with pytest.raises(RequestInvalid, match=message):
        parse_multipart(body, header, max_parts=1)


PART = b'Content-Disposition: form-data; name="f"\r\n\r\nx'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "does not contain its boundary"),
        (b"no delimiter at all", "does not contain its boundary"),
        (b"--Bx\r\n" + PART, "does not contain its boundary"),
        (b"--B\r\n" + PART, "ends without its closing boundary"),
        (b"--B\r\n" + PART + b"\r\n--B\r\n" + PART, "ends without its closing boundary"),
        (b"--B\r\n" + PART + b"\r\n--B", "ends without its closing boundary"),
        (_by_hand("B", b"Content-Type: image/png\r\n\r\nx"), "no Content-Disposition"),
        (_by_hand("B", b"\r\nx"), "no Content-Disposition"),
        (_by_hand("B", b"Content-Disposition: form-data\r\n\r\nx"), "expected form-data with"),
        (_by_hand("B", b'Content-Disposition: form-data; filename="a"\r\n\r\nx'), "with a name"),
        (_by_hand("B", b'Content-Disposition: attachment; name="f"\r\n\r\nx'), "with a name"),
        (_by_hand("B", b'Content-Disposition: form-data; name="f"\r\nx'), "no blank line"),
        (_by_hand("B", b"Content-Disposition form-data\r\n\r\nx"), "malformed header line"),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(RequestInvalid, match=message):
        parse_multipart(body, "multipart/form-data; boundary=B", max_parts=5)


def test_oversized_part_headers() -> None:
    head = b'Content-Disposition: form-data; name="f"\r\nX-Pad: ' + b"p" * 20_000 + b"\r\n\r\n"
    with pytest.raises(RequestInvalid, match="no blank line"):
        parse_multipart(_by_hand("B", head + b"x"), "multipart/form-data; boundary=B", max_parts=1)


def test_part_repr_leaves_out_the_data() -> None:
    assert "data" not in repr(Part("imageData", None, None, b"\x00" * 100))


def test_a_memory_mapped_body_parses_like_bytes(tmp_path: Path) -> None:
    """Large bodies are spooled to disk and parsed through a memory map: the same parts."""
    files = [
        ("a", ("a.png", TRICKY, "image/png")),
        ("b", (None, random.Random(1).randbytes(300_000))),
    ]
    body, content_type = _encode_like_requests(files)
    spooled = tmp_path / "body"
    spooled.write_bytes(body)
    with spooled.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert parse_multipart(m, content_type, max_parts=5) == parse_multipart(
            body, content_type, max_parts=5
        )


def test_a_part_over_the_limit_is_not_copied_out() -> None:
    body, content_type = _encode_like_requests(
        [("small", (None, b"x" * 100)), ("big", (None, b"y" * 5000))]
    )
    small, big = parse_multipart(body, content_type, max_parts=5, max_part_bytes=1000)
    assert (small.data, small.size, small.oversize) == (b"x" * 100, 100, False)
    assert (big.data, big.size, big.oversize) == (b"", 5000, True)
