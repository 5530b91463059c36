"""Class-activation maps: where on the image each label's score comes from.

A linear head on pooled features has an exact decomposition over the last feature map's
positions. Generalized-mean pooling gives channel ``c`` the value ``f_c = (mean x_c^p)^(1/p)``,
and ``f_c = sum_i f_c * x_ci^p / sum_j x_cj^p``, so position ``i`` contributes
``a_ci = f_c * x_ci^p / sum_j x_cj^p`` (with ``p = 1``, average pooling: ``x_ci / n``). A label's
logit is then ``b_k + sum_i sum_c w_kc a_ci``: its map ``M_ki = sum_c w_kc a_ci`` sums, over the
positions, to the logit minus the bias. No gradients, no approximation; the exported ONNX graph
computes the same thing as its ``heatmaps`` output (see :mod:`tagloop.export.onnx`).
"""

from __future__ import annotations

import numpy as np

# EfficientNet-Lite's maps are ReLU6 outputs; the floor keeps an all-zero channel finite (the
# same floor as :func:`tagloop.embed.backbones.pool_features`).
FLOOR = 1e-6


def contributions(maps: np.ndarray, gem_p: float) -> np.ndarray:
    """(N, C, H, W) feature maps → (N, C, H, W) per-position shares of the pooled features."""
    if gem_p == 1:  # average pooling: no floor (maps may be negative), each position x / n
        m = np.asarray(maps, np.float64)
        return np.asarray(m / (m.shape[2] * m.shape[3]))
    x = np.maximum(np.asarray(maps, np.float64), FLOOR) ** gem_p
    total = x.sum(axis=(2, 3), keepdims=True)
    pooled = (total / (x.shape[2] * x.shape[3])) ** (1.0 / gem_p)
    return np.asarray(x / total * pooled)


def class_maps(maps: np.ndarray, weight: np.ndarray, gem_p: float) -> np.ndarray:
    """(N, C, H, W) maps and a (K, C) head weight → (N, K, H, W) logit contributions."""
    return np.asarray(
        np.einsum("nchw,kc->nkhw", contributions(maps, gem_p), weight), dtype=np.float32
    )


def positive_share(heat: np.ndarray) -> np.ndarray:
    """(..., H, W) contributions → their positive part as a share of its total (sums to 1; a
    map with nothing positive is uniform): where the evidence *for* a label is."""
    pos = np.maximum(np.asarray(heat, np.float64), 0.0)
    total = pos.sum(axis=(-2, -1), keepdims=True)
    uniform = np.full_like(pos, 1.0 / (pos.shape[-1] * pos.shape[-2]))
    return np.asarray(np.divide(pos, total, out=uniform, where=total > 0))
