"""Heat-map overlays: where on the photo a label's score comes from, drawn over the photo.

The map is the model's ``heatmaps`` output for one label (see :mod:`tagloop.embed.cam`): each
cell's share of the label's logit. Only evidence *for* the label is drawn (the positive part,
scaled so the strongest cell is 1); it covers the model's input, the centre crop the model saw,
and is upsampled to it bilinearly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

# A perceptually ordered ramp (dark blue → violet → orange → yellow), anchors in [0, 1].
_RAMP = np.array(
    [
        [0.05, 0.03, 0.35],
        [0.45, 0.05, 0.55],
        [0.85, 0.25, 0.30],
        [0.98, 0.60, 0.10],
        [1.00, 0.95, 0.30],
    ]
)


@dataclass(frozen=True)
class Explanation:
    label: str
    label_index: int
    probability: float
    heat: np.ndarray  # (H, W) logit contributions of ``label`` per cell
    pixels: np.ndarray  # (S, S, 3) uint8: the model's input

    @property
    def peak(self) -> tuple[float, float]:
        """The hottest cell's centre as (x, y) fractions of the model's input."""
        h, w = self.heat.shape
        row, col = np.unravel_index(int(np.argmax(self.heat)), self.heat.shape)
        return ((col + 0.5) / w, (row + 0.5) / h)

    def to_dict(self) -> dict[str, object]:
        x, y = self.peak
        return {
            "label": self.label,
            "probability": round(self.probability, 6),
            "peak": {"x": round(x, 4), "y": round(y, 4)},
            "grid": list(self.heat.shape),
        }


def strength(heat: np.ndarray, size: int) -> np.ndarray:
    """(H, W) contributions → (size, size) in [0, 1]: the positive part over its maximum,
    upsampled bilinearly (all zero when nothing speaks for the label)."""
    positive = np.maximum(np.asarray(heat, np.float32), 0.0)
    top = float(positive.max()) if positive.size else 0.0
    if top <= 0:
        return np.zeros((size, size), np.float32)
    resized = Image.fromarray(positive / top, mode="F").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(resized, np.float32), 0.0, 1.0)


def overlay(explanation: Explanation, *, opacity: float = 0.6) -> Image.Image:
    """The model's input with the label's map blended over it (stronger where hotter)."""
    pixels = np.asarray(explanation.pixels, np.float32) / 255.0
    v = strength(explanation.heat, pixels.shape[0])
    anchors = np.linspace(0.0, 1.0, len(_RAMP))
    colour = np.stack([np.interp(v, anchors, _RAMP[:, c]) for c in range(3)], axis=-1)
    alpha = (opacity * (0.25 + 0.75 * v))[..., None]
    blended = (1.0 - alpha) * pixels + alpha * colour
    return Image.fromarray(np.clip(blended * 255.0 + 0.5, 0, 255).astype(np.uint8))


def overlay_png(explanation: Explanation) -> bytes:
    buffer = io.BytesIO()
    overlay(explanation).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()
