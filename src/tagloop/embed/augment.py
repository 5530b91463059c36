"""Augmented views of an image for fine-tuning: pure functions of (image, config, view, rng).

View 0 is the image exactly as prediction sees it (:func:`tagloop.embed.preprocess.prepare`);
the others are random resized crops (35–100% of the area, aspect 3/4–4/3), mirrored half of
the time, with mild brightness, contrast and saturation changes. Pillow only (torchvision does
not run beside this torch build).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from tagloop.embed.preprocess import RESAMPLING, PreprocessConfig, prepare

MIN_AREA = 0.35
JITTER = 0.2


def augmented_view(
    img: Image.Image, cfg: PreprocessConfig, view: int, rng: np.random.Generator
) -> np.ndarray:
    """(S, S, 3) uint8: view 0 unchanged, others augmented with draws from ``rng``."""
    if view == 0:
        return prepare(img, cfg)
    width, height = img.size
    box = _random_crop_box(width, height, rng)
    size = (cfg.image_size, cfg.image_size)
    out = img.resize(size, RESAMPLING[cfg.interpolation], box=box)
    if rng.random() < 0.5:
        out = ImageOps.mirror(out)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        out = enhance(out).enhance(float(rng.uniform(1 - JITTER, 1 + JITTER)))
    return np.asarray(out, dtype=np.uint8)


def _random_crop_box(
    width: int, height: int, rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """A crop of random area and aspect inside the image; the largest square if none fits."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(MIN_AREA, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = math.sqrt(target * aspect), math.sqrt(target / aspect)
        if w <= width and h <= height:
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            return (x, y, x + w, y + h)
    side = min(width, height)
    x, y = (width - side) / 2, (height - side) / 2
    return (x, y, x + side, y + side)
