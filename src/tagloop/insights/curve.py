"""Learning curve: would more images still help?

The project's own head is trained on 25, 50, 75 and 100% of the training images (nested,
stratified subsets drawn with a fixed seed) and scored on a fixed evaluation set: the test set
when one is given, otherwise each fold of tagloop's own grouped cross-validation in turn (copies
and shared group values stay on one side), pooled so every image is scored once per fraction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tagloop.errors import TooFewImages
from tagloop.evaluate.metrics import build_report
from tagloop.insights.findings import Finding
from tagloop.train.heads import create_head
from tagloop.train.service import TrainSpec, cross_validation_folds, encode_labels

logger = logging.getLogger(__name__)

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
MIN_GAIN = 0.01  # accuracy gained by the last quarter of the images that still counts as "helps"
MIN_IMAGES = 40


def find_learning_curve(
    features: np.ndarray,
    label_sets: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    dhashes: Sequence[bytes],
    groups: Sequence[str | None] | None = None,
    test_features: np.ndarray | None = None,
    test_label_sets: Sequence[Sequence[str]] | None = None,
    spec: TrainSpec | None = None,
    fold_of: np.ndarray | None = None,
    fractions: Sequence[float] = FRACTIONS,
    min_gain: float = MIN_GAIN,
) -> list[Finding]:
    """``learning_curve`` (information): accuracy and macro F1 (in [0, 1], higher is better)
    at each fraction of the training images, per-label recall, and whether more images would
    still help: whether the last step (75% to 100%) gains at least ``min_gain`` accuracy by the
    curve's trend (accuracy against log2 of the image count, least squares over the last three
    points, which is steadier than the last difference alone). ``extra`` holds ``points``,
    ``per_label`` (recall per fraction), ``would_more_help``, ``gain_per_doubling`` and
    ``last_gain`` (the raw difference of the last two points).

    ``spec`` supplies the head and its settings (``C``, class weights, multilabel, folds, copy
    rules, ``random_state``); ``C=None`` uses the middle of its grid. ``fold_of`` (the fold
    index per image of a training run with that spec) saves drawing the same folds again.
    Without a test set the folds are training's own, so the 100% point is training's
    cross-validated accuracy; the cost is ``len(fractions)`` times training's cross-validation
    (one fit per fraction with a test set). ``fractions`` ascend to 1.0, at least two. Returns
    no finding when there are too few images (under MIN_IMAGES) or labels to draw a curve.
    """
    if len(fractions) < 2:
        raise ValueError("a learning curve needs at least two fractions")
    spec = spec or TrainSpec()
    curve = learning_curve(
        features,
        label_sets,
        labels,
        dhashes=dhashes,
        groups=groups,
        test_features=test_features,
        test_label_sets=test_label_sets,
        spec=spec,
        fold_of=fold_of,
        fractions=fractions,
    )
    if curve is None:
        return []
    points = curve["points"]
    first, before, last = points[0], points[-2], points[-1]
    per_doubling = _gain_per_doubling(points)
    expected = per_doubling * math.log2(last["n_images"] / max(before["n_images"], 1))
    would_help = expected >= min_gain
    rising = [
        label
        for label, recalls in curve["per_label"].items()
        if len(recalls) >= 3 and recalls[-1] - recalls[-3] >= 5 * min_gain
    ]
    message = (
        f"Accuracy went from {first['accuracy']:.0%} with {first['n_images']} training images "
        f"to {last['accuracy']:.0%} with {last['n_images']}; "
        + (
            "by the curve's trend it is still rising"
            if would_help
            else "the last images added almost nothing"
        )
    )
    if would_help:
        advice = "The curve is still rising: more labeled images would likely help"
        advice += f", above all for {', '.join(rising)}." if rising else "."
    else:
        advice = (
            "The curve has flattened: more images like these would change little. To improve, "
            "fix wrong labels, add more varied images (other backgrounds, light, angles) for "
            "the labels that are confused, or try a larger backbone."
        )
    return [
        Finding(
            code="learning_curve",
            severity="info",
            message=message,
            advice=advice,
            extra={
                **curve,
                "would_more_help": would_help,
                "gain_per_doubling": round(per_doubling, 4),
                "last_gain": round(last["accuracy"] - before["accuracy"], 4),
            },
        )
    ]


def learning_curve(
    features: np.ndarray,
    label_sets: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    dhashes: Sequence[bytes],
    groups: Sequence[str | None] | None,
    test_features: np.ndarray | None,
    test_label_sets: Sequence[Sequence[str]] | None,
    spec: TrainSpec,
    fold_of: np.ndarray | None = None,
    fractions: Sequence[float],
) -> dict[str, Any] | None:
    """``{"points": [{"fraction", "n_images", "accuracy", "macro_f1"}], "per_label": {label:
    [recall per fraction]}, "evaluation": "test" | "cross-validation", "n_evaluated"}``, or None
    when a curve cannot be drawn."""
    Y = encode_labels(label_sets, labels)  # noqa: N806
    X = np.asarray(features, dtype=np.float32)  # noqa: N806
    if len(Y) < MIN_IMAGES or (Y.sum(axis=0) > 0).sum() < 2:
        return None
    strata = _strata(Y)
    if test_features is not None and test_label_sets is not None:
        known = np.array([all(name in labels for name in names) for names in test_label_sets])
        if not known.any():
            return None
        kept = [names for names, ok in zip(test_label_sets, known, strict=True) if ok]
        held_out = [(np.arange(len(Y)), np.asarray(test_features, np.float32)[known])]
        truth = [encode_labels(kept, labels)]
        evaluation = "test"
    else:
        if fold_of is not None:  # training's own folds, already drawn
            folds = [
                (np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f))
                for f in np.unique(fold_of)
            ]
        else:
            try:
                _, folds = cross_validation_folds(
                    X, strata, dhashes=dhashes, group_values=groups, spec=spec
                )
            except TooFewImages:
                return None
        held_out = [(train, X[test]) for train, test in folds]
        truth = [Y[test] for _, test in folds]
        evaluation = "cross-validation"
    c = spec.C if spec.C is not None else spec.c_grid[len(spec.c_grid) // 2]
    predicted: dict[float, list[np.ndarray]] = {f: [] for f in fractions}
    sizes: dict[float, list[int]] = {f: [] for f in fractions}
    rng = np.random.default_rng(spec.random_state)
    for train, held_x in held_out:
        rank = _nested_rank(strata[train], rng)
        for fraction in fractions:
            chosen = train[_take(rank, strata[train], fraction)]
            head = create_head(
                spec.head, C=c, multilabel=spec.multilabel, class_weight=spec.class_weight
            )
            predicted[fraction].append(head.fit(X[chosen], Y[chosen]).predict_proba(held_x))
            sizes[fraction].append(len(chosen))
    y_true = np.concatenate(truth)
    points = []
    per_label: dict[str, list[float]] = {str(label): [] for label in labels}
    for fraction in fractions:
        report = build_report(
            y_true, np.concatenate(predicted[fraction]), labels, multilabel=spec.multilabel
        )
        points.append(
            {
                "fraction": fraction,
                "n_images": round(float(np.mean(sizes[fraction]))),
                "accuracy": round(report.accuracy, 4),
                "macro_f1": round(report.macro_f1, 4),
            }
        )
        for label, metrics in report.per_label.items():
            if metrics.support:
                per_label[str(label)].append(round(metrics.recall, 4))
    logger.info("learning curve over %d images (%s)", len(Y), evaluation)
    return {
        "points": points,
        "per_label": {k: v for k, v in per_label.items() if v},
        "evaluation": evaluation,
        "n_evaluated": len(y_true),
    }


def _gain_per_doubling(points: Sequence[dict[str, Any]]) -> float:
    """Slope of accuracy against log2(images) over the last three points (least squares)."""
    last = points[-3:]
    x = np.log2([max(p["n_images"], 1) for p in last])
    y = np.array([p["accuracy"] for p in last])
    if np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0])


def _nested_rank(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A shuffled rank of each image within its stratum: taking ranks below a cut gives
    nested, stratified subsets."""
    rank = np.zeros(len(strata), dtype=np.int64)
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        rank[rng.permutation(members)] = np.arange(len(members))
    return rank


def _take(rank: np.ndarray, strata: np.ndarray, fraction: float) -> np.ndarray:
    """Positions whose within-stratum rank is below that stratum's share (at least one)."""
    sizes = {int(v): int((strata == v).sum()) for v in np.unique(strata)}
    cut = np.array([_count(sizes[int(v)], fraction) for v in strata])
    return np.flatnonzero(rank < cut)


def _count(n: int, fraction: float) -> int:
    """Images to take from ``n`` for ``fraction``: rounded up, at least one."""
    return max(1, min(n, math.ceil(n * fraction - 1e-9)))


def _strata(Y: np.ndarray) -> np.ndarray:  # noqa: N803
    """One label per image: its rarest label (its only one, for multiclass)."""
    counts = Y.sum(axis=0)
    ranked = np.where(Y, counts[None, :], np.iinfo(np.int64).max)
    return np.asarray(ranked.argmin(axis=1))
