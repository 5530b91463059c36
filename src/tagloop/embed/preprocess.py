"""Preprocessing resolved from a backbone's own config; training and serving share it.

The model graph takes uint8 RGB pixels (N, S, S, 3); scaling to floats and normalization
happen inside the graph, so callers only resize and crop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from tagloop.ingest.decode import DecodedImage, open_image

RESAMPLING = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


@dataclass(frozen=True)
class PreprocessConfig:
    """How an image becomes the model's input.

    ``resize="center_crop"``: scale so the shorter side is ``image_size``, then crop the centre
    square. ``mean``/``std`` apply to pixels scaled to [0, 1] and are applied in the graph.
    """

    image_size: int
    resize: str = "center_crop"
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    input_layout: str = "NHWC uint8 RGB"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        return cls(
            image_size=int(data["image_size"]),
            resize=str(data.get("resize", "center_crop")),
            interpolation=str(data.get("interpolation", "bilinear")),
            mean=_triple(data.get("mean", (0.5, 0.5, 0.5))),
            std=_triple(data.get("std", (0.5, 0.5, 0.5))),
        )


def _triple(values: Any) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c


def prepare(img: Image.Image, cfg: PreprocessConfig) -> np.ndarray:
    """An upright RGB image → (S, S, 3) uint8 model input."""
    size = (cfg.image_size, cfg.image_size)
    resample = RESAMPLING[cfg.interpolation]
    if cfg.resize == "center_crop":
        img = ImageOps.fit(img, size, resample)
    elif cfg.resize == "squash":
        img = img.resize(size, resample)
    else:
        raise ValueError(f"unknown resize mode {cfg.resize!r}")
    return np.asarray(img, dtype=np.uint8)


def decode_for_model(
    data: bytes, cfg: PreprocessConfig, *, max_pixels: int
) -> tuple[np.ndarray, DecodedImage]:
    """Bytes → model input and the decoded image (for hashes); raises ImageUnreadable."""
    decoded = open_image(data, max_pixels=max_pixels, draft_size=cfg.image_size)
    return prepare(decoded.image, cfg), decoded
