"""Training on embeddings: cross-validated out-of-fold predictions, then a final fit.

Regularization: on standardized embeddings the L2 strength matters little (on the sample data,
grouped accuracy moves by under 0.01 for C from 0.01 to 1), so the default is a fixed C=0.1,
which keeps a 3,000-image retrain within seconds. With ``C=None`` it is chosen by nested
cross-validation instead: for each outer fold, each candidate is scored on inner folds of that
fold's training part only, so the reported out-of-fold numbers never saw the data that chose
them (about 10x slower).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tagloop.embed.backbones import DEFAULT_BACKBONE
from tagloop.embed.service import EmbeddedSet
from tagloop.errors import TooFewImages, TooFewLabels
from tagloop.train.heads import LogisticHead, create_head
from tagloop.train.splits import NEAR_DUPLICATE_BITS, make_folds, related_groups
from tagloop.types import ProgressCallback, TrainingType, no_progress

logger = logging.getLogger(__name__)

MIN_IMAGES_PER_LABEL = 5
C_GRID = (0.02, 0.1, 0.5)


@dataclass(frozen=True)
class TrainSpec:
    """Everything that decides a trained model; saved in ``model.json``."""

    backbone: str = DEFAULT_BACKBONE
    head: str = "logistic"
    multilabel: bool = False
    group_by: str | None = None
    n_splits: int = 5
    C: float | None = 0.1  # noqa: N815 (None: chosen by nested cross-validation)
    c_grid: tuple[float, ...] = C_GRID
    class_weight: str | None = "balanced"
    near_duplicate_bits: int = NEAR_DUPLICATE_BITS
    near_duplicate_cosine: float | None = None  # None: no embedding-based linking
    random_state: int = 0
    # "advanced": fine-tune the backbone's tail within budget_seconds (train/advanced.py).
    mode: TrainingType = "quick"
    budget_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainedClassifier:
    labels: tuple[str, ...]
    head: LogisticHead
    spec: TrainSpec
    Y: np.ndarray  # noqa: N815 (true labels, one 0/1 row per training image)
    oof_proba: np.ndarray  # out-of-fold probabilities, one row per training image
    folds: np.ndarray  # fold index per training image
    C: float  # noqa: N815
    details: dict[str, Any] = field(default_factory=dict)
    groups: np.ndarray | None = None  # related-image group per training image (copies, group)

    @property
    def label_counts(self) -> dict[str, int]:
        return {label: int(n) for label, n in zip(self.labels, self.Y.sum(axis=0), strict=True)}


def fit_on_embeddings(
    data: EmbeddedSet, spec: TrainSpec, *, progress: ProgressCallback = no_progress
) -> TrainedClassifier:
    """Check the labels of an embedded set, then cross-validate and fit a head on it."""
    counts = Counter(label for item in data.items for label in item.labels)
    check_label_counts(dict(counts), multilabel=spec.multilabel)
    labels = sorted(counts)
    groups = [item.metadata.get(spec.group_by) for item in data.items] if spec.group_by else None
    return train_classifier(
        data.features,
        encode_labels([item.labels for item in data.items], labels),
        labels,
        dhashes=[info.dhash for info in data.infos],
        group_values=groups,
        spec=spec,
        progress=progress,
    )


def encode_labels(label_sets: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    index = {label: j for j, label in enumerate(labels)}
    Y = np.zeros((len(label_sets), len(labels)), dtype=bool)  # noqa: N806
    for i, names in enumerate(label_sets):
        for name in names:
            Y[i, index[name]] = True
    return Y


def check_label_counts(counts: dict[str, int], *, multilabel: bool) -> None:
    """Refuse data that cannot give a meaningful classifier, saying what to add."""
    if len(counts) < (1 if multilabel else 2):
        found = ", ".join(counts) or "none"
        raise TooFewLabels(
            f"training needs at least 2 labels with images (found: {found}); "
            "add a folder (or CSV label) per label"
        )
    small = {k: v for k, v in counts.items() if v < MIN_IMAGES_PER_LABEL}
    if small:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(small.items()))
        raise TooFewImages(
            f"each label needs at least {MIN_IMAGES_PER_LABEL} readable images "
            f"(50 or more recommended); too few: {listed}"
        )


def cross_validation_folds(
    features: np.ndarray,
    strata: np.ndarray,
    *,
    dhashes: Sequence[bytes],
    group_values: Sequence[str | None] | None,
    spec: TrainSpec,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The related-image group of each image (copies, shared group values) and the
    (train, test) index folds that keep each group on one side; :class:`TooFewImages` when
    there are not two unrelated groups."""
    groups = related_groups(
        dhashes,
        group_values,
        features=features,
        max_distance=spec.near_duplicate_bits,
        min_cosine=spec.near_duplicate_cosine,
    )
    try:
        folds = make_folds(strata, groups, n_splits=spec.n_splits, random_state=spec.random_state)
    except ValueError:
        raise TooFewImages(
            "cross-validation needs images from at least two unrelated groups; all images are "
            "near-duplicates of each other or share one group value"
        ) from None
    return groups, folds


def train_classifier(
    features: np.ndarray,
    Y: np.ndarray,  # noqa: N803
    labels: Sequence[str],
    *,
    dhashes: Sequence[bytes],
    group_values: Sequence[str | None] | None,
    spec: TrainSpec,
    progress: ProgressCallback = no_progress,
) -> TrainedClassifier:
    strata = label_strata(Y)
    groups, folds = cross_validation_folds(
        features, strata, dhashes=dhashes, group_values=group_values, spec=spec
    )
    grid = (spec.C,) if spec.C is not None else spec.c_grid
    n_steps = len(folds) + 1
    progress("train", 0, n_steps)
    oof = np.zeros(Y.shape, dtype=np.float64)
    fold_of = np.zeros(len(Y), dtype=np.int64)
    chosen: list[float] = []
    for f, (train_idx, test_idx) in enumerate(folds):
        c = _select_c(
            features[train_idx], Y[train_idx], strata[train_idx], groups[train_idx], grid, spec
        )
        chosen.append(c)
        head = _fit(features[train_idx], Y[train_idx], c, spec)
        oof[test_idx] = head.predict_proba(features[test_idx])
        fold_of[test_idx] = f
        progress("train", f + 1, n_steps)
        logger.debug("fold %d: C=%s, %d train / %d test", f, c, len(train_idx), len(test_idx))
    final_c = _select_c(features, Y, strata, groups, grid, spec)
    head = _fit(features, Y, final_c, spec)
    progress("train", n_steps, n_steps)
    logger.info("trained %s head, C=%s, on %d images", spec.head, final_c, len(Y))
    return TrainedClassifier(
        labels=tuple(labels),
        head=head,
        spec=spec,
        Y=Y,
        oof_proba=oof,
        folds=fold_of,
        C=final_c,
        details={
            "n_folds": len(folds),
            "n_related_groups": int(len(np.unique(groups))),
            "fold_C": chosen,
        },
        groups=groups,
    )


def _fit(X: np.ndarray, Y: np.ndarray, c: float, spec: TrainSpec) -> LogisticHead:  # noqa: N803
    head = create_head(spec.head, C=c, multilabel=spec.multilabel, class_weight=spec.class_weight)
    return head.fit(X, Y)


def _select_c(
    X: np.ndarray,  # noqa: N803
    Y: np.ndarray,  # noqa: N803
    strata: np.ndarray,
    groups: np.ndarray,
    grid: Sequence[float],
    spec: TrainSpec,
) -> float:
    """The candidate with the lowest inner-CV log-loss (3 grouped folds)."""
    if len(grid) == 1:
        return float(grid[0])
    try:
        inner = make_folds(strata, groups, n_splits=3, random_state=spec.random_state + 1)
    except ValueError:
        return float(grid[len(grid) // 2])
    losses = []
    for c in grid:
        loss = 0.0
        for train_idx, test_idx in inner:
            proba = _fit(X[train_idx], Y[train_idx], c, spec).predict_proba(X[test_idx])
            loss += _log_loss(Y[test_idx], proba, multilabel=spec.multilabel) * len(test_idx)
        losses.append(loss)
    return float(grid[int(np.argmin(losses))])


def _log_loss(Y: np.ndarray, proba: np.ndarray, *, multilabel: bool) -> float:  # noqa: N803
    p = np.clip(proba, 1e-7, 1 - 1e-7)
    if multilabel:
        return float(-(Y * np.log(p) + (~Y) * np.log(1 - p)).sum(axis=1).mean())
    return float(-np.log(p[Y]).mean())


def label_strata(Y: np.ndarray) -> np.ndarray:  # noqa: N803
    """One label per image for stratification: its rarest label (multilabel) or its label."""
    counts = Y.sum(axis=0)
    ranked = np.where(Y, counts[None, :], np.iinfo(np.int64).max)
    return np.asarray(ranked.argmin(axis=1))
