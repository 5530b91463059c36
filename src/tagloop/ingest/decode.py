"""Safe decoding and content hashes: pure functions from bytes to pixels and facts.

Every way a file can be unusable raises :class:`ImageUnreadable` with a reason a person can act
on; callers in batch jobs record it and go on.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tagloop.errors import ImageTooManyPixels, ImageUnreadable
from tagloop.types import ImageInfo

ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF"})
DHASH_SIZE = 16

# tagloop enforces its own pixel limit as a per-file error (see open_image); Pillow's warning
# between 1x and 2x of its default limit would only add noise on stderr.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class DecodedImage:
    """Upright RGB pixels plus what the file header said (size before any draft scaling)."""

    image: Image.Image
    format: str
    width: int
    height: int

    def info(self) -> ImageInfo:
        return ImageInfo(
            dhash=dhash(self.image), width=self.width, height=self.height, format=self.format
        )


def open_image(data: bytes, *, max_pixels: int, draft_size: int | None = None) -> DecodedImage:
    """Decode ``data`` to an upright RGB image, or raise :class:`ImageUnreadable`.

    ``draft_size`` lets JPEG decode at a reduced scale (DCT scaling) while keeping both sides at
    least that many pixels: much faster for large photos, and enough for a backbone's input.
    """
    if not data:
        raise ImageUnreadable("the file is empty")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooManyPixels(_too_many_pixels(None, max_pixels)) from None
    except UnidentifiedImageError:
        raise ImageUnreadable("not an image file (the format is not recognized)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageUnreadable(_damaged(exc)) from None
    fmt = str(img.format)
    if fmt not in ALLOWED_FORMATS:
        raise ImageUnreadable(
            f"the format {fmt} is not supported "
            f"(use one of {', '.join(sorted(ALLOWED_FORMATS - {'MPO'}))})"
        )
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooManyPixels(_too_many_pixels((width, height), max_pixels))
    if width < 1 or height < 1:
        raise ImageUnreadable("the image has no pixels")
    try:
        if draft_size is not None and fmt == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        upright = ImageOps.exif_transpose(img).convert("RGB")
        return DecodedImage(image=upright, format=fmt, width=width, height=height)
    except Image.DecompressionBombError:
        raise ImageTooManyPixels(_too_many_pixels((width, height), max_pixels)) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageUnreadable(_damaged(exc)) from None


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> str:
    shown = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels, " if size else ""
    return f"the image is {shown}over the limit of {max_pixels:,} pixels; downsize it"


def _damaged(exc: BaseException) -> str:
    reason = str(exc) or type(exc).__name__
    if "truncated" in reason.lower():
        return "the file is truncated (an incomplete download or copy?)"
    return f"the image data is damaged ({reason})"


def dhash(img: Image.Image, hash_size: int = DHASH_SIZE) -> bytes:
    """Difference hash: ``hash_size**2`` bits comparing horizontally adjacent pixels.

    Near-identical images (resized, re-encoded) have hashes a few bits apart.
    """
    small = img.convert("L").resize((hash_size + 1, hash_size), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.int16)
    bits = pixels[:, 1:] > pixels[:, :-1]
    return np.packbits(bits.ravel()).tobytes()


def close_hash_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """Index pairs ``(i, j)``, ``i < j``, of hashes at most ``max_distance`` bits apart.

    ``hashes`` is (n, n_bytes) uint8. Works in blocks, so memory stays small for large sets.
    """
    words = np.ascontiguousarray(hashes, dtype=np.uint8)
    found: list[np.ndarray] = []
    for start in range(0, len(words), 256):
        block = np.bitwise_xor(words[start : start + 256, None, :], words[None, :, :])
        distance = np.bitwise_count(block).sum(axis=2, dtype=np.int32)
        rows, cols = np.nonzero(distance <= max_distance)
        rows = rows + start
        keep = rows < cols
        found.append(np.stack([rows[keep], cols[keep]], axis=1))
    return np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)


def read_image_bytes(path: Path) -> bytes:
    """The file's bytes, or :class:`ImageUnreadable` saying why they cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageUnreadable("the file does not exist") from None
    except IsADirectoryError:
        raise ImageUnreadable("this is a folder, not a file") from None
    except OSError as exc:
        raise ImageUnreadable(f"the file cannot be read ({exc.strerror or exc})") from None


def make_thumbnail(data: bytes, *, size: int, max_pixels: int) -> bytes:
    """A JPEG no larger than ``size`` on its longer side, upright; raises ImageUnreadable."""
    decoded = open_image(data, max_pixels=max_pixels, draft_size=size)
    img = decoded.image.copy()
    img.thumbnail((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
