"""Confident learning with a neighbour vote: the core of ``find_label_issues``, and the nearest
neighbour search ``find_outliers`` shares. Pure array functions, no findings.

Confident learning (Northcutt, Jiang and Chuang, 2021) compares each image's out-of-fold
probabilities with per-label thresholds (the mean probability a label gets on its own images).
Here the probabilities are first averaged with the label shares among the image's nearest
neighbours in embedding space, and a suspect must also look unlike images of its given label and
like images of the suggested one; on real photos that cut false alarms between look-alike labels
by half or more at a small loss of recall (see ``find_label_issues``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def multiclass_issues(
    paths: Sequence[str],
    proba: np.ndarray,
    Y: np.ndarray,  # noqa: N803
    labels: Sequence[str],
    neighbors: np.ndarray,
    shares: tuple[float, float],
) -> list[dict[str, Any]]:
    """Suspects among images with one label each (``Y``: (n, k) 0/1; ``neighbors``: (n, m)
    indices): ``{"path", "label", "suggested_label", "score"}``. Images without exactly one
    label are skipped and vote for no label."""
    usable = Y.sum(axis=1) == 1
    given = np.where(usable, Y.argmax(axis=1), -1)  # -1: no single label, votes for none
    votes = np.stack([(given[neighbors] == j).mean(axis=1) for j in range(Y.shape[1])], axis=1)
    flagged, suggested, score = confident_issues(proba, given, votes, usable, shares)
    return [
        {
            "path": paths[i],
            "label": labels[int(given[i])],
            "suggested_label": labels[int(suggested[i])],
            "score": round(float(score[i]), 4),
        }
        for i in np.flatnonzero(flagged).tolist()
    ]


def multilabel_issues(
    paths: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    proba: np.ndarray,
    Y: np.ndarray,  # noqa: N803
    labels: Sequence[str],
    neighbors: np.ndarray,
    shares: tuple[float, float],
) -> list[dict[str, Any]]:
    """Each label checked on its own as a present/absent problem; an image's suggestion is its
    label set with the suspect labels toggled, its score the highest of their scores."""
    n = len(Y)
    toggles: dict[int, list[tuple[int, float]]] = {}
    for j in range(Y.shape[1]):
        present = Y[:, j].astype(np.int64)
        binary = np.stack([1.0 - proba[:, j], proba[:, j]], axis=1)
        share = present[neighbors].mean(axis=1)
        votes = np.stack([1.0 - share, share], axis=1)
        flagged, _, score = confident_issues(binary, present, votes, np.ones(n, dtype=bool), shares)
        for i in np.flatnonzero(flagged).tolist():
            toggles.setdefault(i, []).append((j, float(score[i])))
    items = []
    for i, changes in sorted(toggles.items()):
        suggested = set(Y[i].nonzero()[0].tolist()) ^ {j for j, _ in changes}
        items.append(
            {
                "path": paths[i],
                "label": ", ".join(sorted(label_sets[i])),
                "suggested_label": ", ".join(sorted(labels[j] for j in suggested)),
                "score": round(max(s for _, s in changes), 4),
            }
        )
    return items


def confident_issues(
    proba: np.ndarray,
    given: np.ndarray,
    votes: np.ndarray,
    usable: np.ndarray,
    shares: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flag, suggested column and score per row for one (n, k) problem with one given column
    per row. ``votes`` are the neighbours' label shares, averaged into the probabilities;
    ``shares`` are the most neighbours that may carry the given label and the fewest that must
    carry the suggested one."""
    p = (proba + votes) / 2.0
    n, k = p.shape
    rows = np.arange(n)
    thresholds = np.full(k, np.inf)
    for j in range(k):
        members = usable & (given == j)
        if members.any():
            thresholds[j] = p[members, j].mean()
    self_confidence = p[rows, given]
    candidates = np.where(p >= thresholds[None, :], p, -1.0)
    candidates[rows, given] = -1.0
    suggested = candidates.argmax(axis=1)
    best = candidates[rows, suggested]
    max_given, min_suggested = shares
    flagged = (
        usable
        & (best > self_confidence)
        & (votes[rows, given] <= max_given + 1e-9)
        & (votes[rows, suggested] >= min_suggested - 1e-9)
    )
    return flagged, suggested, np.clip(best - self_confidence, 0.0, 1.0)


def unit_rows(features: np.ndarray, *, centre: bool) -> np.ndarray:
    """Rows scaled to unit length (after subtracting the mean row when ``centre``)."""
    x = np.asarray(features, dtype=np.float32)
    if centre:
        x = x - x.mean(axis=0)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12))


def nearest(
    unit: np.ndarray, k: int, *, skip_above: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n, k) of each row's ``k`` most similar other rows, most similar first, and their
    cosine similarities (rows are unit vectors); rows more similar than ``skip_above`` (copies)
    are passed over while there are others."""
    n = len(unit)
    out = np.zeros((n, k), dtype=np.int64)
    similarity = np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, 1024):
        sims = unit[start : start + 1024] @ unit.T
        block = np.arange(start, min(start + 1024, n))
        sims[block - start, block] = -np.inf
        ranked = np.where(sims > skip_above, -2.0, sims) if skip_above is not None else sims
        top = np.argpartition(-ranked, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(ranked, top, axis=1), axis=1, kind="stable")
        out[block] = np.take_along_axis(top, order, axis=1)
        similarity[block] = np.take_along_axis(sims, out[block], axis=1)
    return out, similarity
