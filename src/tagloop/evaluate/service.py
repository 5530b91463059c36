"""Reports on a trained classifier: the cross-validated estimate and a held-out test set."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tagloop.embed.service import EmbeddedSet
from tagloop.errors import NoReadableImages
from tagloop.evaluate.metrics import build_report, choose_threshold
from tagloop.train.service import TrainedClassifier, encode_labels
from tagloop.types import EvalReport, ImageItem, SkippedImage


def split_known_labels(
    items: Sequence[ImageItem], labels: Sequence[str], *, whose: str
) -> tuple[list[int], list[SkippedImage]]:
    """Indices of items whose labels are all in ``labels``; the others skipped with a reason."""
    allowed = set(labels)
    known: list[int] = []
    skipped: list[SkippedImage] = []
    for i, item in enumerate(items):
        if set(item.labels) <= allowed:
            known.append(i)
        else:
            reason = f"label {', '.join(item.labels)} is not one of {whose} labels"
            skipped.append(SkippedImage(item.display_path, reason, code="label_unknown"))
    return known, skipped


def cross_validated_report(classifier: TrainedClassifier) -> EvalReport:
    """The out-of-fold report; for multilabel, at the threshold with the best macro F1."""
    spec = classifier.spec
    threshold = choose_threshold(classifier.Y, classifier.oof_proba) if spec.multilabel else None
    kept_together = (
        f"grouped by {spec.group_by} and near-duplicates"
        if spec.group_by
        else "near-duplicates kept in one fold"
    )
    return build_report(
        classifier.Y,
        classifier.oof_proba,
        classifier.labels,
        multilabel=spec.multilabel,
        threshold=threshold,
        method=f"{classifier.details['n_folds']}-fold cross-validation, out-of-fold; "
        + kept_together,
    )


def held_out_report(
    classifier: TrainedClassifier,
    data: EmbeddedSet,
    *,
    threshold: float | None,
    name: str,
    predict: Callable[[Sequence[int]], np.ndarray] | None = None,
) -> tuple[EvalReport, list[SkippedImage]]:
    """Score the classifier on embedded test images; images with unknown labels are skipped.

    ``predict(indices)`` gives the probabilities of those test images when the classifier is
    not the linear head on their features (a fine-tuned model).
    """
    known, unknown = split_known_labels(data.items, classifier.labels, whose="the training")
    if not known:
        raise NoReadableImages(f"no readable test images with the training labels in {name}")
    report = build_report(
        encode_labels([data.items[i].labels for i in known], classifier.labels),
        predict(known) if predict else classifier.head.predict_proba(data.features[known]),
        classifier.labels,
        multilabel=classifier.spec.multilabel,
        threshold=threshold,
        method=f"held-out: {name}",
    )
    return report, unknown
