"""Frozen values that cross stage boundaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

# Quick: a linear head on the frozen backbone's features (seconds). Advanced: the backbone's
# last stages fine-tuned within a time budget (minutes).
TrainingType = Literal["quick", "advanced"]


# The stored vocabulary of projects, tags, iterations and uploads. The values are the names
# Custom Vision uses (they are what the database holds and what both APIs answer), so the
# Custom Vision shell passes them through; every other module names them by member.


class ClassificationType(StrEnum):
    """How many tags one image carries: exactly one, or any number."""

    MULTICLASS = "Multiclass"
    MULTILABEL = "Multilabel"


class TagType(StrEnum):
    """A regular tag, or the project's one Negative tag: "none of the other tags"."""

    REGULAR = "Regular"
    NEGATIVE = "Negative"


class IterationStatus(StrEnum):
    TRAINING = "Training"
    COMPLETED = "Completed"
    FAILED = "Failed"


class JobStatus(StrEnum):
    """A background job's state (tagloop's own; jobs are not a Custom Vision notion)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ImageStatus(StrEnum):
    """What became of one image of a batch (an upload, a tag or metadata change)."""

    OK = "OK"
    DUPLICATE = "OKDuplicate"  # the project already has these bytes: that image is answered
    IMAGE_FORMAT = "ErrorImageFormat"
    IMAGE_SIZE = "ErrorImageSize"
    IMAGE_DIMENSIONS = "ErrorImageDimensions"
    SOURCE = "ErrorSource"  # a URL or stored prediction that gave no image
    INVALID_TAG = "ErrorInvalidTag"
    TAG_LIMIT = "ErrorTagLimitExceed"
    NEGATIVE_AND_REGULAR = "ErrorNegativeAndRegularTagOnSameImage"
    IMAGE_NOT_FOUND = "ErrorImageNotFound"
    LIMIT = "ErrorLimitExceed"

    @property
    def accepted(self) -> bool:
        return self in (ImageStatus.OK, ImageStatus.DUPLICATE)


class ProgressCallback(Protocol):
    """Told how far a stage got; shells draw it (a progress bar), the core never does.

    ``detail`` says what runs now when the count alone does not (advanced training: fold,
    trial, epoch, validation loss, time left).
    """

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None: ...


def no_progress(stage: str, done: int, total: int, detail: str = "") -> None:
    """The default progress callback: ignores everything."""


@dataclass(frozen=True)
class ImageItem:
    """One image as a source lists it, before it is read."""

    path: Path
    display_path: str
    labels: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageInfo:
    """What decoding learned about an image's pixels (cached by sha256)."""

    dhash: bytes
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class SkippedImage:
    """A file that was not used, and why."""

    path: str
    reason: str
    code: str = "image_unreadable"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class LabelScore:
    label: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "probability": self.probability}


@dataclass(frozen=True)
class LabelMetrics:
    """One label at the report's threshold; the counts are its 2x2 confusion matrix."""

    precision: float
    recall: float
    f1: float
    support: int  # images that truly have the label (true positives + false negatives)
    average_precision: float | None  # None when no image has the label
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "average_precision": self.average_precision,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "true_negatives": self.true_negatives,
        }


@dataclass(frozen=True)
class EvalReport:
    """The honest-numbers report of DESIGN.md, at one threshold (see
    :func:`tagloop.evaluate.metrics.build_report`); ``confusion_matrix`` rows are true labels.
    """

    n_images: int
    accuracy: float
    macro_f1: float
    macro_precision: float
    macro_recall: float
    macro_average_precision: float | None
    per_label: Mapping[str, LabelMetrics]
    labels: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    is_multilabel: bool
    threshold: float | None = None
    method: str = ""
    # Over every (image, label) decision: Custom Vision's overall precision and recall.
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    coverage: float = 1.0  # share of images given at least one label
    no_label: tuple[int, ...] = ()  # per true label: its images given no label at all

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_images": self.n_images,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_average_precision": self.macro_average_precision,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "coverage": self.coverage,
            "per_label": {k: v.to_dict() for k, v in self.per_label.items()},
            "confusion_matrix": {
                "labels": list(self.labels),
                "matrix": [list(row) for row in self.matrix],
                "no_label": list(self.no_label),
            },
            "classification_type": "multilabel" if self.is_multilabel else "multiclass",
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.method:
            out["method"] = self.method
        return out


@dataclass(frozen=True)
class TrainResult:
    """What ``tagloop train`` reports (the ``--json`` document)."""

    labels: tuple[str, ...]
    n_images: int
    skipped: tuple[SkippedImage, ...]
    backbone: str
    seconds: float
    evaluation: EvalReport
    test: EvalReport | None
    model_dir: Path
    label_counts: Mapping[str, int]
    n_embedded: int
    test_skipped: tuple[SkippedImage, ...] = ()
    training_type: str = "quick"  # what the model is: "advanced" only when fine-tuned
    advanced: Mapping[str, Any] | None = None  # advanced training's plan, search and choices

    def to_dict(self) -> dict[str, Any]:
        return {
            "training_type": self.training_type,
            "advanced": dict(self.advanced) if self.advanced is not None else None,
            "labels": list(self.labels),
            "label_counts": dict(self.label_counts),
            "n_images": self.n_images,
            "skipped": [s.to_dict() for s in self.skipped],
            "backbone": self.backbone,
            "seconds": round(self.seconds, 2),
            "n_embedded": self.n_embedded,
            "model_dir": str(self.model_dir),
            "evaluation": self.evaluation.to_dict(),
            "test": self.test.to_dict() if self.test else None,
            "test_skipped": [s.to_dict() for s in self.test_skipped],
        }


@dataclass(frozen=True)
class EvaluationResult:
    """What ``tagloop evaluate`` reports."""

    report: EvalReport
    skipped: tuple[SkippedImage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "skipped": [s.to_dict() for s in self.skipped]}
