"""Pure ranking of unlabelled images by how much a label would help the model.

:func:`uncertainty` scores each image from the model's probabilities. :func:`rank_for_review`
orders images for review: a greedy pass spreads the top of the list over the embedding space,
so it is not filled with near-copies of one confusing image, and the rest follow by uncertainty.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

_PROBA_TOLERANCE = 1e-6  # how far outside [0, 1] a probability may drift before it is an error
_POOL_SLACK = 1e-9  # widens the candidate pool so that float rounding never drops a winner
_FLUSH_EVERY = 128  # pending picks that trigger applying their similarities to every candidate
_FIRST_BLOCK = 64  # candidates re-scored exactly before the bound check
_BLOCK_LIMIT_SHARE = 16  # the lazy search gives up beyond 1/16 of the candidates
_CHUNK_ROWS = 4096  # rows centred and normalized per step, to bound temporary memory


def uncertainty(proba: np.ndarray, *, multilabel: bool) -> NDArray[np.float64]:
    """How unsure the model is about each image: ``(n, k)`` probabilities → ``(n,)`` scores.

    Scores are in [0, 1]; **higher means more uncertain**, so a label helps more.

    * Multiclass: the mean of the margin score ``1 - (p_top1 - p_top2)`` and the normalized
      entropy ``H(p) / log k``. The margin looks only at the two leading classes (the decision
      the model is about to make); entropy also notices mass spread over the other classes.
      Both are 0 for a one-hot row and 1 for a uniform row, and so is their mean. Rows are
      renormalized to sum to 1 (an all-zero row counts as uniform). With ``k == 1`` there is
      nothing to decide and every score is 0.
    * Multilabel: each label's independent probability scores ``1 - |2p - 1|`` (1 at 0.5, 0 at
      0 or 1), and an image takes the maximum over its labels: one label in doubt is enough to
      make the image worth a look. ``k == 1`` works the same way.

    Raises ValueError when ``proba`` is not 2-D, holds NaN or infinity, or leaves [0, 1].
    """
    p = _check_proba(proba)
    n, k = p.shape
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    if multilabel:
        scores = (1.0 - np.abs(2.0 * p - 1.0)).max(axis=1)
    elif k == 1:
        scores = np.zeros(n, dtype=np.float64)
    else:
        scores = 0.5 * (_margin_score(p) + _entropy_score(p))
    return np.asarray(np.clip(scores, 0.0, 1.0), dtype=np.float64)


def review_priority(
    proba: np.ndarray, *, multilabel: bool, unknown: np.ndarray | None = None
) -> NDArray[np.float64]:
    """How much a label would help, per image: :func:`uncertainty`, raised to the top (1.0)
    for images the model answered "unknown" (unlike anything it was trained on: a label, or
    the Negative tag, teaches it the most, and its probabilities say nothing)."""
    scores = uncertainty(proba, multilabel=multilabel)
    if unknown is None:
        return scores
    flags = np.asarray(unknown, dtype=bool)
    if flags.shape != scores.shape:
        raise ValueError(f"unknown must have shape {scores.shape}, got {flags.shape}")
    return np.asarray(np.where(flags, 1.0, scores), dtype=np.float64)


def rank_for_review(
    proba: np.ndarray,
    features: np.ndarray | None,
    *,
    multilabel: bool,
    unknown: np.ndarray | None = None,
    n_diverse: int = 100,
    diversity: float = 0.5,
) -> NDArray[np.intp]:
    """Review order: a permutation of ``range(n)``, the image a label would help most first.

    Images are scored by :func:`review_priority` (``unknown`` ones first, then uncertainty).

    The first ``min(n_diverse, n)`` positions are chosen greedily. Each step takes the image
    with the highest ``priority - diversity * s``, where ``s`` is its largest cosine
    similarity to the images already chosen, floored at 0 (being unlike a chosen image earns
    no bonus). Similarities use ``features`` centred on their mean over all ``n`` rows, then
    L2-normalized; a row equal to the mean is similar to nothing. The remaining images follow
    by priority, highest first. Ties always go to the lower index, so the result is
    deterministic. With ``features=None``, ``diversity == 0`` or ``n_diverse == 0`` the whole
    order is by priority alone.

    The greedy pass gives exactly the result of recomputing every similarity at every step,
    but does less work. Only images within ``diversity`` of the ``n_diverse``-th highest
    priority can ever be picked, so the others are never compared. A candidate's score can
    only fall as picks accumulate, so each step re-scores only the candidates whose last known
    score could still win (lazy greedy); all candidates are refreshed at once only when that
    search grows too wide. The worst case is ``O(n * n_diverse * d)``; 50,000 × 1,280 float32
    features with ``n_diverse=100`` take about 0.2–0.5 s on one CPU core.

    Raises ValueError for a bad shape, mismatched lengths, non-finite values, a negative
    ``n_diverse`` or a negative or non-finite ``diversity``.
    """
    scores = review_priority(proba, multilabel=multilabel, unknown=unknown)
    n = len(scores)
    if n_diverse < 0:
        raise ValueError(f"n_diverse must be >= 0, got {n_diverse}")
    if not np.isfinite(diversity) or diversity < 0:
        raise ValueError(f"diversity must be a finite number >= 0, got {diversity}")
    if features is not None:
        features = np.asarray(features)
        if features.ndim != 2 or len(features) != n:
            raise ValueError(
                f"features must have shape ({n}, d) to match proba, got {features.shape}"
            )
    by_uncertainty = np.argsort(-scores, kind="stable").astype(np.intp)
    n_pick = min(n_diverse, n)
    if features is None or n_pick == 0 or diversity == 0:
        return by_uncertainty

    threshold = scores[by_uncertainty[n_pick - 1]] - diversity - _POOL_SLACK
    pool = np.flatnonzero(scores >= threshold)
    unit = _unit_rows(features, pool)
    picked = pool[_greedy_picks(scores[pool], unit, n_pick, diversity)]
    logger.debug("picked %d diverse images from a pool of %d (n=%d)", n_pick, len(pool), n)
    is_rest = np.ones(n, dtype=bool)
    is_rest[picked] = False
    return np.concatenate([picked, by_uncertainty[is_rest[by_uncertainty]]]).astype(np.intp)


def _check_proba(proba: np.ndarray) -> NDArray[np.float64]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"proba must be 2-D (n_images, n_labels), got shape {p.shape}")
    if len(p) and p.shape[1] == 0:
        raise ValueError("proba needs at least one label column")
    if not np.isfinite(p).all():
        raise ValueError("proba contains NaN or infinite values")
    if p.size and (p.min() < -_PROBA_TOLERANCE or p.max() > 1 + _PROBA_TOLERANCE):
        raise ValueError("proba must hold probabilities in [0, 1]; apply softmax/sigmoid first")
    return np.clip(p, 0.0, 1.0)


def _normalized_rows(p: NDArray[np.float64]) -> NDArray[np.float64]:
    total = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / p.shape[1])
    return np.asarray(np.divide(p, total, out=uniform, where=total > 0), dtype=np.float64)


def _margin_score(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """``1 - (top1 - top2)`` of renormalized rows; needs ``k >= 2``."""
    q = _normalized_rows(p)
    top2 = np.partition(q, q.shape[1] - 2, axis=1)[:, -2:]
    return np.asarray(1.0 - (top2[:, 1] - top2[:, 0]), dtype=np.float64)


def _entropy_score(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shannon entropy of renormalized rows divided by ``log k``; needs ``k >= 2``."""
    q = _normalized_rows(p)
    plogp = q * np.log(np.where(q > 0, q, 1.0))
    return np.asarray(-plogp.sum(axis=1) / np.log(q.shape[1]), dtype=np.float64)


def _unit_rows(features: np.ndarray, rows: NDArray[np.intp]) -> NDArray[np.float32]:
    """``features[rows]`` centred on the mean of *all* rows and scaled to unit length (float32).

    Zero rows stay zero. Raises ValueError when ``features`` holds NaN or infinity.
    """
    mean = features.mean(axis=0, dtype=np.float64)
    if not np.isfinite(mean).all():
        raise ValueError("features contain NaN or infinite values")
    mean32 = mean.astype(np.float32)
    unit = np.empty((len(rows), features.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), _CHUNK_ROWS):
        block = unit[start : start + _CHUNK_ROWS]
        np.subtract(features[rows[start : start + _CHUNK_ROWS]], mean32, out=block)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        np.divide(block, norms[:, None], out=block, where=norms[:, None] > 0)
    return unit


def _greedy_picks(
    scores: NDArray[np.float64], unit: NDArray[np.float32], n_pick: int, diversity: float
) -> NDArray[np.intp]:
    """Positions (into ``scores``/``unit``) of the greedy picks, in the order they were taken.

    ``applied`` holds each candidate's largest known similarity to the picks (floored at 0):
    to every pick up to the last full refresh, and to the ``pending`` picks since then for the
    candidates :func:`_best_candidate` has re-scored. Because the true maximum only grows,
    ``scores - diversity * applied`` is an upper bound on each candidate's true gain.
    """
    m = len(scores)
    applied = np.zeros(m, dtype=np.float64)
    is_taken = np.zeros(m, dtype=bool)
    pending: list[int] = []
    picks: list[int] = []
    for _ in range(n_pick):
        bound = scores - diversity * applied
        bound[is_taken] = -np.inf
        best = _best_candidate(scores, unit, bound, applied, pending, diversity)
        if best is None:  # too many stale bounds: refresh everyone, then the bound is exact
            applied = _apply_pending(unit, applied, pending)
            pending = []
            bound = scores - diversity * applied
            bound[is_taken] = -np.inf
            best = int(np.argmax(bound))
        picks.append(best)
        is_taken[best] = True
        pending.append(best)
        if len(pending) == _FLUSH_EVERY:
            applied = _apply_pending(unit, applied, pending)
            pending = []
    return np.asarray(picks, dtype=np.intp)


def _best_candidate(
    scores: NDArray[np.float64],
    unit: NDArray[np.float32],
    bound: NDArray[np.float64],
    applied: NDArray[np.float64],
    pending: list[int],
    diversity: float,
) -> int | None:
    """The exact argmax of the true gain (lowest index on ties), or None when too costly.

    Re-scores a block of candidates, the ``size`` highest bounds with ties taken in index
    order, against the pending picks, and writes the exact values back into ``applied`` and
    ``bound`` (both are updated in place). Everything outside the block has a true gain of at
    most ``cut`` (the next bound), and an outside candidate whose bound equals ``cut`` has an
    index of at least ``ties[n_fill]``. So the block's best is the overall winner when it beats
    ``cut``, or equals it with a lower index. Otherwise the block grows, up to a sixteenth of
    all candidates, after which a full refresh is cheaper.
    """
    m = len(scores)
    if not pending:
        return int(np.argmax(bound))
    size = _FIRST_BLOCK
    while size < m // _BLOCK_LIMIT_SHARE:
        top = np.argpartition(-bound, size)
        cut = bound[top[size]]
        above = top[:size][bound[top[:size]] > cut]
        ties = np.flatnonzero(bound == cut)
        n_fill = size - len(above)
        block = np.concatenate([above, ties[:n_fill]])
        block.sort()  # memory order: a faster gather
        applied[block] = np.maximum(applied[block], (unit[block] @ unit[pending].T).max(axis=1))
        gain = np.where(
            np.isneginf(bound[block]), -np.inf, scores[block] - diversity * applied[block]
        )
        bound[block] = gain  # now exact, so later blocks and steps skip what was just refuted
        best_gain = gain.max()
        winner = int(block[gain == best_gain].min())
        if best_gain > cut or (best_gain == cut and winner < ties[n_fill]):
            return winner
        size *= 4
    return None


def _apply_pending(
    unit: NDArray[np.float32], applied: NDArray[np.float64], pending: list[int]
) -> NDArray[np.float64]:
    if not pending:
        return applied
    sims = np.empty(len(unit), dtype=np.float64)
    for start in range(0, len(unit), _CHUNK_ROWS):
        chunk = unit[start : start + _CHUNK_ROWS]
        if len(pending) == 1:
            # A matrix-vector product: BLAS runs it in one thread, where the (n, 1) matrix
            # product would start a multi-threaded GEMM that costs 100x more on a busy CPU.
            sims[start : start + len(chunk)] = chunk @ unit[pending[0]]
        else:
            sims[start : start + len(chunk)] = (chunk @ unit[pending].T).max(axis=1)
    return np.maximum(applied, sims)
