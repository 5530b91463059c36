"""Novelty: how unlike the training images a photo is, and when to answer "unknown".

The score is the mean cosine distance from a photo's backbone features to its ``k`` nearest
training images (``1 - mean similarity``; 0 for a copy of a training image, near 1 for an
unrelated photo). The "unknown" threshold is calibrated on the training set's own
cross-validation: each training image is scored against the reference images outside its fold
(folds keep groups and near-duplicates together, so no image is scored against its own copy),
and the threshold is the ``quantile`` of those scores, so about ``1 - quantile`` of photos like
the training ones are answered unknown.

Measured on the 582 sample photos of 7 clothing labels (EfficientNet-Lite2 GeM features, 5
outer folds grouped by sender; ``benchmarks/trust_eval.py``): k=5 on plain (uncentred) features
flags 1.6% of held-out in-distribution photos and all 26 unrelated pictures (scikit-image's
samples: a cat, a rocket, coffee, coins...; ROC AUC 1.000). Centring the features on
the training mean, which helps copy detection, hurt here (74% of the unrelated photos, AUC
0.989); k=1 and k=10 did the same as k=5; the Mahalanobis distance to the nearest label and the
classifier's own top probability did worse. Photos of a *held-out clothing label* are not
unlike the training photos in this sense (4-9% flagged whatever the score; 6.1% with this
one): "unknown" means "unlike anything trained on", not "a label the model lacks".

The reference set is the training features (a stratified sample of ``max_reference`` when
there are more), unit rows stored as float16: 1,000 images take 2.5 MB in the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_K = 5
DEFAULT_QUANTILE = 0.985
MAX_REFERENCE = 2000


@dataclass(frozen=True)
class NoveltyModel:
    reference: np.ndarray  # (m, D) float16 unit rows
    k: int
    threshold: float
    quantile: float
    n_calibration: int

    def score(self, features: np.ndarray) -> np.ndarray:
        """(n, D) features → (n,) novelty in [0, 2] (in practice [0, 1])."""
        return knn_distance(self.reference.astype(np.float32), unit_rows(features), self.k)

    def unknown(self, novelty: np.ndarray) -> np.ndarray:
        return np.asarray(novelty > self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """What model.json says (the reference rows live in the ONNX graph)."""
        return {
            "method": "knn_cosine_distance",
            "k": self.k,
            "threshold": round(self.threshold, 6),
            "quantile": self.quantile,
            "n_reference": len(self.reference),
            "n_calibration": self.n_calibration,
            "output": "novelty",
            "rule": "unknown when novelty > threshold",
        }


def fit_novelty(
    features: np.ndarray,
    fold_of: np.ndarray,
    strata: np.ndarray,
    *,
    k: int = DEFAULT_K,
    quantile: float = DEFAULT_QUANTILE,
    max_reference: int = MAX_REFERENCE,
    seed: int = 0,
) -> NoveltyModel:
    """Reference rows and the threshold, from training ``features``, each image's fold
    (``fold_of``) and its label (``strata``, for a reference sample that keeps every label)."""
    unit = unit_rows(features)
    n = len(unit)
    chosen = _stratified_sample(strata, max_reference, seed) if n > max_reference else np.arange(n)
    reference = unit[chosen]
    ref_folds = fold_of[chosen]
    calibration = np.empty(n, dtype=np.float32)
    for fold in np.unique(fold_of):
        rows = np.flatnonzero(fold_of == fold)
        others = reference[ref_folds != fold]
        if len(others) == 0:  # one fold: nothing outside it, score against everything else
            others = reference
        calibration[rows] = knn_distance(others, unit[rows], k)
    threshold = float(np.quantile(calibration, quantile)) if n else 1.0
    return NoveltyModel(
        reference=reference.astype(np.float16),
        k=min(k, len(reference)),
        threshold=threshold,
        quantile=quantile,
        n_calibration=n,
    )


def knn_distance(reference: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """1 - the mean cosine similarity of each unit query row to its ``k`` nearest unit rows."""
    k = max(1, min(k, len(reference)))
    out = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), 1024):
        sims = queries[start : start + 1024] @ reference.T
        top = np.partition(-sims, k - 1, axis=1)[:, :k]
        out[start : start + 1024] = 1.0 + top.mean(axis=1)
    return out


def unit_rows(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, dtype=np.float32)
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def _stratified_sample(strata: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` indices, each stratum in proportion (at least one each), sorted."""
    rng = np.random.default_rng(seed)
    values, counts = np.unique(strata, return_counts=True)
    quota = np.maximum(1, np.floor(counts * size / counts.sum())).astype(int)
    picks = [
        rng.choice(np.flatnonzero(strata == v), min(q, c), replace=False)
        for v, q, c in zip(values, quota, counts, strict=True)
    ]
    return np.sort(np.concatenate(picks))
