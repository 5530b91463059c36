from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.fixtures import colour_image, huge_png_bytes, jpeg_bytes

from tagloop.errors import ImageUnreadable
from tagloop.ingest.decode import close_hash_pairs, dhash, open_image, read_image_bytes

LIMIT = 89_478_485


def _good_jpeg() -> bytes:
    return jpeg_bytes(colour_image((200, 40, 40), seed=1, size=(120, 90)))


def _gif() -> bytes:
    buffer = io.BytesIO()
    colour_image((1, 2, 3), seed=0).save(buffer, "ICO")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (np.random.default_rng(0).bytes(4000), "not an image"),
        (b"hello, not a jpeg\n" * 30, "not an image"),
        (_good_jpeg()[:600], "truncated"),
        (huge_png_bytes(), "over the limit"),
        (_gif(), "not supported"),
    ],
    ids=["empty", "random-bytes", "text", "truncated-jpeg", "16000x16000-png", "ico-format"],
)
def test_unusable_files_raise_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageUnreadable, match=reason):
        open_image(data, max_pixels=LIMIT)


def test_decodes_to_upright_rgb_and_keeps_header_size() -> None:
    img = colour_image((10, 200, 10), seed=3, size=(80, 40))
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(buffer, "JPEG", exif=exif)
    decoded = open_image(buffer.getvalue(), max_pixels=LIMIT)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (40, 80)  # upright
    assert (decoded.width, decoded.height, decoded.format) == (80, 40, "JPEG")


def test_draft_mode_decodes_large_jpeg_smaller_but_never_below_the_request() -> None:
    big = colour_image((120, 120, 120), seed=4, size=(2000, 1500))
    decoded = open_image(jpeg_bytes(big), max_pixels=LIMIT, draft_size=224)
    assert 224 <= min(decoded.image.size) < 1500
    assert (decoded.width, decoded.height) == (2000, 1500)


def test_custom_pixel_limit_is_a_hard_error() -> None:
    with pytest.raises(ImageUnreadable, match="over the limit"):
        open_image(_good_jpeg(), max_pixels=100)


def _scene(seed: int) -> Image.Image:
    """A structured picture (gradient plus shapes), like a photo and unlike pure noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:200, 0:300]
    pixels = np.stack([xx * 0.8, yy * 1.2, (xx + yy) * 0.4], axis=-1)
    for _ in range(4):
        y0, x0 = rng.integers(0, 150), rng.integers(0, 250)
        pixels[y0 : y0 + 50, x0 : x0 + 50] = rng.integers(0, 255, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def test_dhash_is_stable_under_resize_and_reencode_but_not_across_images() -> None:
    a = _scene(1)
    resized = Image.open(io.BytesIO(jpeg_bytes(a.resize((150, 100)), quality=70)))
    other = _scene(2)
    hashes = np.frombuffer(dhash(a) + dhash(resized) + dhash(other), np.uint8).reshape(3, -1)
    assert hashes.shape == (3, 32)  # 16x16 bits
    pairs = close_hash_pairs(hashes, max_distance=20)
    assert [tuple(p) for p in pairs] == [(0, 1)]


def test_read_image_bytes_reasons(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageUnreadable, match="does not exist"):
        read_image_bytes(tmp_path / "missing.jpg")
    with pytest.raises(ImageUnreadable, match="folder"):
        read_image_bytes(tmp_path)
