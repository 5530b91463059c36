"""Cross-validation folds that keep related images together.

Images are related when they are exact or near duplicates (dHash within a few bits, or
backbone embeddings nearly parallel: flipped, cropped or recoloured copies that dHash misses) or
share a group value (same contributor, same camera). Related images always land in the same fold,
because leaked near-copies inflate accuracy.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import StratifiedGroupKFold

from tagloop.ingest.decode import close_hash_pairs

NEAR_DUPLICATE_BITS = 20  # of 256 dHash-16 bits; re-encoded or resized copies differ by few


def related_groups(
    dhashes: Sequence[bytes],
    group_values: Sequence[str | None] | None = None,
    *,
    features: np.ndarray | None = None,
    max_distance: int = NEAR_DUPLICATE_BITS,
    min_cosine: float | None = None,
) -> np.ndarray:
    """Component id per image: images linked by near-duplication or a shared group value."""
    n = len(dhashes)
    edges = [
        copy_pairs(dhashes, features=features, max_distance=max_distance, min_cosine=min_cosine)
    ]
    if group_values is not None:
        first: dict[str, int] = {}
        links = []
        for i, value in enumerate(group_values):
            if value:
                links.append((first.setdefault(value, i), i))
        if links:
            edges.append(np.asarray(links, dtype=np.int64))
    pairs = np.concatenate(edges)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    return np.asarray(component)


def copy_pairs(
    dhashes: Sequence[bytes],
    *,
    features: np.ndarray | None = None,
    max_distance: int = NEAR_DUPLICATE_BITS,
    min_cosine: float | None = None,
) -> np.ndarray:
    """Index pairs ``(i, j)`` of near copies: dHashes at most ``max_distance`` bits apart or,
    with ``features`` and ``min_cosine``, nearly parallel centred embeddings."""
    n = len(dhashes)
    edges = [np.empty((0, 2), dtype=np.int64)]
    if n:
        hashes = np.frombuffer(b"".join(dhashes), dtype=np.uint8).reshape(n, -1)
        edges.append(close_hash_pairs(hashes, max_distance).astype(np.int64))
    if features is not None and min_cosine is not None and n > 1:
        edges.append(similar_pairs(features, min_cosine))
    return np.concatenate(edges)


def similar_pairs(features: np.ndarray, min_cosine: float) -> np.ndarray:
    """Index pairs ``(i, j)``, ``i < j``, with cosine >= ``min_cosine`` once the features are
    centred on their mean (so the measure does not depend on where a backbone's features sit)."""
    centred = features - features.mean(axis=0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    unit = (centred / np.maximum(norms, 1e-12)).astype(np.float32)
    found = [np.empty((0, 2), dtype=np.int64)]
    for start in range(0, len(unit), 1024):
        rows, cols = np.nonzero(unit[start : start + 1024] @ unit.T >= min_cosine)
        rows = rows + start
        keep = rows < cols
        found.append(np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64))
    return np.concatenate(found)


def make_folds(
    strata: np.ndarray, groups: np.ndarray, *, n_splits: int = 5, random_state: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds over ``strata`` (one label per image) that never split a group.

    Uses fewer folds when there are fewer groups than ``n_splits``; raises ValueError when
    there are fewer than two groups.
    """
    n_groups = len(np.unique(groups))
    n_splits = min(n_splits, n_groups)
    if n_splits < 2:
        raise ValueError("cross-validation needs at least two unrelated groups of images")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" notices
        folds = list(splitter.split(np.zeros(len(strata)), strata, groups))
    return [(train, test) for train, test in folds if len(test)]
