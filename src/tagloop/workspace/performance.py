"""An iteration's out-of-fold predictions at a threshold: the one evaluation every face shows
(the pages, the native API, the Custom Vision routes), and each image's predicted tags by the
same rule (:func:`tagloop.evaluate.metrics.predicted_at`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagloop.errors import RequestInvalid
from tagloop.evaluate.metrics import build_report, predicted_at
from tagloop.store.records import IterationRecord, SnapshotImage
from tagloop.types import EvalReport, LabelMetrics
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.training import trained_images

NO_TAG = "none"  # a confusion-matrix column: images given no tag at the threshold


@dataclass(frozen=True)
class ImageResult:
    """A training image's cross-validated (out-of-fold) prediction."""

    image: SnapshotImage
    true_tag_ids: tuple[str, ...]
    predictions: tuple[tuple[str, float], ...]  # (tag_id, probability), highest first
    predicted_tag_ids: tuple[str, ...]

    @property
    def is_correct(self) -> bool:
        return set(self.true_tag_ids) == set(self.predicted_tag_ids)


@dataclass(frozen=True)
class Performance:
    """An iteration's out-of-fold predictions evaluated at ``threshold``: what every face
    (pages, native API, Custom Vision routes) shows."""

    threshold: float
    tags: list[Mapping[str, Any]]  # {id, name, type}, in the report's label order
    report: EvalReport  # labels are the tag names

    def tag_metrics(self) -> list[tuple[Mapping[str, Any], LabelMetrics]]:
        return [(tag, self.report.per_label[str(tag["name"])]) for tag in self.tags]


def iteration_performance(
    ws: Workspace, access: Access, project_id: str, iteration_id: str, *, threshold: float = 0.5
) -> Performance:
    check_threshold(threshold)
    iteration, Y, proba, _ = _oof(ws, access, project_id, iteration_id)  # noqa: N806
    report = build_report(
        Y,
        proba,
        [str(t["name"]) for t in iteration.tags],
        multilabel=iteration.is_multilabel,
        threshold=threshold,
        method="cross-validation, out-of-fold",
    )
    return Performance(threshold, list(iteration.tags), report)


def check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise RequestInvalid("threshold must be between 0 and 1.")


def image_results(
    ws: Workspace,
    access: Access,
    project_id: str,
    iteration_id: str,
    *,
    tag_ids: Sequence[str] = (),
    only_wrong: bool = False,
    predicted_tag_id: str | None = None,
    threshold: float = 0.5,
) -> list[ImageResult]:
    """Each training image of the iteration with its out-of-fold prediction and the tags it is
    given at ``threshold`` (the rule of :func:`predicted_at`), oldest first; only those truly
    tagged with one of ``tag_ids``, given ``predicted_tag_id`` (``NO_TAG``: given none), or
    wrong, when asked (a confusion-matrix cell is a true tag and a predicted one)."""
    check_threshold(threshold)
    iteration, snaps = trained_images(ws, access, project_id, iteration_id, tag_ids=tag_ids)
    ids = [str(t["id"]) for t in iteration.tags]
    proba = np.array([s.proba for s in snaps], dtype=np.float64).reshape(-1, len(ids))
    given = predicted_at(proba, multilabel=iteration.is_multilabel, threshold=threshold)
    out = []
    for snap, row, row_given in zip(snaps, proba, given, strict=True):
        order = np.argsort(-row, kind="stable")
        predicted = tuple(ids[j] for j in order if row_given[j])
        result = ImageResult(
            image=snap,
            true_tag_ids=tuple(t for t in snap.tag_ids if t in ids),
            predictions=tuple((ids[j], round(float(row[j]), 6)) for j in order),
            predicted_tag_ids=predicted,
        )
        if only_wrong and result.is_correct:
            continue
        if (
            predicted_tag_id is None
            or predicted_tag_id in predicted
            or (predicted_tag_id == NO_TAG and not predicted)
        ):
            out.append(result)
    return out


def _oof(
    ws: Workspace, access: Access, project_id: str, iteration_id: str
) -> tuple[IterationRecord, np.ndarray, np.ndarray, list[SnapshotImage]]:
    iteration, snaps = trained_images(ws, access, project_id, iteration_id)
    ids = [str(t["id"]) for t in iteration.tags]
    Y = np.array([[t in s.tag_ids for t in ids] for s in snaps], dtype=bool).reshape(-1, len(ids))  # noqa: N806
    proba = np.array([s.proba for s in snaps], dtype=np.float64).reshape(-1, len(ids))
    return iteration, Y, proba, snaps
