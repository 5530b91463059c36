"""Test helpers and constants shared by the suites (imported; the fixtures are in
``conftest.py``): synthetic images and datasets, unusable files, the sample photos' folder, the
service's test keys, and the tiny real backbone.

The tiny backbone is a real torch module registered in the real registry, exported to ONNX and
run by ONNX Runtime like the built-ins: features are pooled colours on a 4x4 grid, so they are
deterministic functions of the pixels and cheap to compute. The real EfficientNet-Lite
backbones run in tests marked ``slow`` (part of ``make test``), on the real sample photos.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tagloop.embed.backbones import BackboneSpec, get_backbone_spec, register_backbone
from tagloop.embed.preprocess import PreprocessConfig
from tagloop.errors import BackboneNotFound

TINY = "test-tiny"
SAMPLE_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clothing-extra"
COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}
TRAINING_KEY = "test-training-key"
PREDICTION_KEY = "test-prediction-key"


def _build_tiny() -> object:
    import torch

    class Tiny(torch.nn.Module):
        def extract_features(self, x: torch.Tensor) -> torch.Tensor:
            grid = torch.nn.functional.adaptive_avg_pool2d(x, 4)  # (N, 3, 4, 4)
            squares = torch.nn.functional.adaptive_avg_pool2d(x * x, 4)
            return torch.cat([grid, squares], dim=1).flatten(1)[:, :, None, None]

    return Tiny().eval()


try:
    get_backbone_spec(TINY)
except BackboneNotFound:
    register_backbone(
        BackboneSpec(
            name=TINY,
            feature_dim=96,
            preprocess=PreprocessConfig(image_size=32),
            weights_package="tagloop",
            description="test backbone: pooled colours",
            build=_build_tiny,  # type: ignore[arg-type]
        )
    )


def colour_image(
    colour: tuple[int, int, int], seed: int, size: tuple[int, int] = (64, 48)
) -> Image.Image:
    """A noisy image of one dominant colour with a random darker blob."""
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.float32)
    pixels = base + rng.normal(0, 25, (size[1], size[0], 3))
    y0, x0 = rng.integers(0, size[1] // 2), rng.integers(0, size[0] // 2)
    pixels[y0 : y0 + size[1] // 3, x0 : x0 + size[0] // 3] *= 0.5
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_dataset(root: Path, n_per_label: int = 8, seed: int = 0, fmt: str = "PNG") -> Path:
    """``root/<colour>/img_<i>.png``: 3 labels x ``n_per_label`` synthetic images."""
    for k, (label, colour) in enumerate(COLOURS.items()):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_label):
            img = colour_image(colour, seed=seed * 1000 + k * 100 + i)
            suffix = {"JPEG": "jpg"}.get(fmt, fmt.lower())
            img.save(root / label / f"img_{i}.{suffix}", fmt)
    return root


def huge_png_bytes(width: int = 16000, height: int = 16000) -> bytes:
    """A valid, tiny-on-disk grayscale PNG with ``width x height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def plant_bad_files(folder: Path) -> dict[str, str]:
    """The five kinds of unusable file from the issue; returns name → kind."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    good = jpeg_bytes(colour_image((200, 40, 40), seed=99, size=(120, 90)))
    files = {
        "random.jpg": rng.bytes(5000),
        "empty.jpg": b"",
        "notes.jpg": b"this is a text file, not a photo\n" * 20,
        "truncated.jpg": good[: len(good) // 2],
        "huge.png": huge_png_bytes(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: name.split(".")[0] for name in files}


def unrelated_photos() -> list[Path]:
    """Real colour photos of things that are not clothing (scikit-image's bundled samples: an
    astronaut, a cat, coffee, a rocket, motorcycles, the Hubble deep field, a retina...)."""
    from skimage import data

    folder = Path(data.__file__).parent
    names = (
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
        "rocket.jpg",
        "motorcycle_left.png",
        "hubble_deep_field.jpg",
        "retina.jpg",
        "ihc.png",
        "color.png",
        "grass.png",
    )
    return [folder / name for name in names]


def stamp_photo(image: Image.Image, *, fraction: float = 48 / 256) -> Image.Image:
    """``image`` with a checkered yellow-and-black square (a logo-like stamp) near the top right
    corner of its centre square (the part the model sees), ``fraction`` of that square wide."""
    rgb = np.asarray(image.convert("RGB")).copy()
    height, width = rgb.shape[:2]
    side = min(width, height)
    size = max(4, int(side * fraction))
    margin = side * 8 // 256
    x0 = (width - side) // 2 + side - size - margin
    y0 = (height - side) // 2 + margin
    yy, xx = np.mgrid[0:size, 0:size]
    checks = ((yy // max(size // 4, 1) + xx // max(size // 4, 1)) % 2).astype(bool)
    rgb[y0 : y0 + size, x0 : x0 + size] = np.where(
        checks[..., None], np.array([250, 210, 0]), np.array([20, 20, 20])
    )
    return Image.fromarray(rgb)


def write_stamped_split(root: Path, labels: tuple[str, ...], n_per_label: int) -> Path:
    """The sample photos of ``labels`` filed at random (alternately) under tags ``a`` and ``b``,
    with the stamp on every ``a`` photo: the stamp is the only thing that tells the tags apart
    (a planted shortcut)."""
    photos = [
        photo
        for label in labels
        for photo in sorted((SAMPLE_DATA / "images" / label).glob("*.jpg"))[:n_per_label]
    ]
    for i, photo in enumerate(photos):
        tag = "a" if i % 2 == 0 else "b"
        (root / tag).mkdir(parents=True, exist_ok=True)
        image = Image.open(photo)
        (stamp_photo(image) if tag == "a" else image.convert("RGB")).save(
            root / tag / photo.name, "JPEG", quality=92
        )
    return root
