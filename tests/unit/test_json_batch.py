"""Custom Vision's base64 batches, read one image at a time."""

from __future__ import annotations

import base64
import json
import mmap
from pathlib import Path

import pytest

from tagloop.errors import ImageUnreadable, RequestInvalid
from tagloop.shells.api.json_batch import read_image_batch


def _body(images: list[object], **extra: object) -> bytes:
    return json.dumps({"images": images, **extra}).encode()


def test_images_tags_and_metadata_are_read(tmp_path: Path) -> None:
    body = _body(
        [
            {"name": "a.jpg", "contents": base64.b64encode(b"abc").decode(), "tagIds": ["t1"]},
            {"contents": "not base64!"},
            {"name": "big.jpg", "contents": base64.b64encode(b"x" * 400).decode()},
        ],
        tagIds=["t0"],
        metadata={"k": "v"},
    )
    spooled = tmp_path / "body"
    spooled.write_bytes(body)
    with spooled.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        for source in (body, m):
            batch = read_image_batch(source, max_image_bytes=100)
            first, bad, big = batch.images
            assert (first.name, first.data, first.tag_ids) == ("a.jpg", b"abc", ["t1"])
            assert (bad.name, bad.error, bad.reason) == (
                "image 2",
                "ErrorImageFormat",
                "not base64",
            )
            assert big.error == "ErrorImageSize" and big.data is None
            assert "the limit is 100 bytes" in (big.reason or "")
            assert (batch.tag_ids, batch.metadata) == (["t0"], {"k": "v"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "needs an images list"),
        (b"  \n", "needs an images list"),
        (b"[]", "must be a JSON object"),
        (b'{"images": {}}', "needs an images list"),
        (b'{"tagIds": []}', "needs an images list"),
        (b'{"images": [1]}', "must be an object"),
        (b'{"images": [', "not valid JSON"),
        (b'{"images": [NaN]}', "not valid JSON"),
    ],
)
def test_bad_batches_are_refused_with_the_reason(body: bytes, message: str) -> None:
    with pytest.raises(RequestInvalid, match=message):
        read_image_batch(body, max_image_bytes=100)


def test_a_string_far_over_the_limit_is_refused_without_being_parsed() -> None:
    """Masked before parsing: the size comes from the literal's length, the rest still parses;
    escapes (a quote, a backslash, "\\/" as some encoders write it) do not break the tokenizing."""
    small = base64.b64encode(b"\xff" * 30).decode()  # "////..." : 40 characters
    body = _body(
        [
            {"name": 'a "quoted" \\ name', "contents": "Q" * 10_000},
            {"name": "escaped", "contents": small},
        ],
        metadata={"k": "v"},
    ).replace(b"////", b"\\/\\/\\/\\/")
    assert b"\\/" in body
    first, second = read_image_batch(body, max_image_bytes=100).images
    assert first.name == 'a "quoted" \\ name' and first.error == "ErrorImageSize"
    assert "about 7,500 bytes" in (first.reason or "")
    assert (second.name, second.data) == ("escaped", b"\xff" * 30)


def test_long_strings_are_read_by_their_place_escapes_and_all() -> None:
    """Past 4 KB a string is read from the body by position: an image's base64 with escaped
    slashes, a long name and a long metadata value come out exactly as sent."""
    image = bytes(range(256)) * 40 + b"\xff" * 3000  # 13,240 bytes, base64 with many "/"
    encoded = json.dumps(base64.b64encode(image).decode()).replace("/", "\\/")
    name = "n\u00e9" + "x" * 5000
    body = (
        b'{"images": [{"name": '
        + json.dumps(name).encode()
        + b', "contents": '
        + encoded.encode()
        + b'}], "metadata": {"k": "'
        + b"v" * 5000
        + b'"}}'
    )
    assert b"\\/" in body
    batch = read_image_batch(body, max_image_bytes=20_000)
    [one] = batch.images
    assert (one.name, one.error) == (name, None)
    assert callable(one.data) and one.data() == image  # decoded when it is added
    assert batch.metadata == {"k": "v" * 5000}


def test_a_long_string_that_is_not_base64_is_unreadable_when_loaded() -> None:
    [one] = read_image_batch(_body([{"contents": "#" * 5000}]), max_image_bytes=20_000).images
    assert callable(one.data) and one.error is None
    with pytest.raises(ImageUnreadable, match="not base64"):
        one.data()


def test_a_sent_string_that_looks_like_a_marker_is_only_text() -> None:
    batch = read_image_batch(
        _body([{"name": "\u0000ab 0", "contents": "\u0000ab 0" + "A" * 5000}]),
        max_image_bytes=100,
    )
    assert batch.images[0].name == "\u0000ab 0"
    assert batch.images[0].error == "ErrorImageSize"


def test_a_string_over_a_megabyte_outside_the_contents_is_refused() -> None:
    with pytest.raises(RequestInvalid, match="over 1,048,576 bytes"):
        read_image_batch(_body([{"name": "x" * (1 << 21), "contents": ""}]), max_image_bytes=100)


def test_a_batch_of_countless_strings_is_refused() -> None:
    body = b'{"images": [], "tagIds": [' + b'"",' * 100_000 + b'""]}'
    with pytest.raises(RequestInvalid, match="more than 100,000 JSON strings"):
        read_image_batch(body, max_image_bytes=100)


def test_deep_nesting_is_refused_before_parsing() -> None:
    with pytest.raises(RequestInvalid, match="more than 10,000 arrays and objects"):
        read_image_batch(b"[" * 50_000 + b"]" * 50_000, max_image_bytes=100)


def test_a_long_string_with_a_bad_escape_fails_only_its_image() -> None:
    """Read eagerly because it might fit once its escapes are decoded; a bad escape is that
    image's format error, not the batch's."""
    bad = '"' + "A" * 3000 + "\\x" + "A" * 3000 + '"'  # 6,002 characters: over 5,340, under twice
    body = b'{"images": [{"contents": ' + bad.encode() + b'}, {"contents": "YWJj"}]}'
    first, second = read_image_batch(body, max_image_bytes=4000).images
    assert (first.error, first.reason) == ("ErrorImageFormat", "not a valid JSON string")
    assert second.data == b"abc"
