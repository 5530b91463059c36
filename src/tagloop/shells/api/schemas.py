"""Pydantic request (``*In``) and response (``*Out``) models of the native API (``/api/v1``).

Fields are snake_case, times are ISO 8601 strings in UTC (``...Z``), probabilities and scores
are in [0, 1]. Request models refuse unknown fields, so a typo is a 400, not a silent no-op.

Over 400 lines on purpose: declarations only (the OpenAPI document is made from them), kept in
one module so that every face of the native API reads the same names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from tagloop.types import TrainingType


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; naive times (what the store keeps) are UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


Time = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Ids = Annotated[list[str], Field(min_length=1, max_length=256)]
ClassificationType = Literal["Multiclass", "Multilabel"]
TagType = Literal["Regular", "Negative"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """The one error shape of the native API."""

    ok: bool = False
    error: str = Field(description="What went wrong and what to do next.")
    code: str = Field(description="Stable machine-readable code, e.g. project_not_found.")
    status: int


# Backbones and projects ----------------------------------------------------------------------


class BackboneOut(BaseModel):
    name: str
    description: str
    input_size: int = Field(description="Side in pixels of the square the model sees.")
    feature_dim: int
    is_default: bool


class ProjectIn(_In):
    name: str
    description: str = ""
    classification_type: ClassificationType = "Multiclass"
    backbone: str | None = Field(
        default=None, description="A name from GET /backbones; the default one if unset."
    )


class ProjectUpdateIn(_In):
    name: str | None = None
    description: str | None = None
    classification_type: ClassificationType | None = None
    backbone: str | None = Field(default=None, description="Applies to the next training.")


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    classification_type: ClassificationType
    backbone: str
    created: Time
    last_modified: Time
    n_images: int
    n_tagged: int
    n_untagged: int
    n_tags: int
    n_iterations: int


# Tags ------------------------------------------------------------------------------------------


class TagIn(_In):
    name: str
    description: str = ""
    type: TagType = "Regular"


class TagUpdateIn(_In):
    name: str | None = None
    description: str | None = None
    type: TagType | None = None


class TagOut(BaseModel):
    id: str
    name: str
    description: str
    type: TagType
    image_count: int
    created: Time


# Images ----------------------------------------------------------------------------------------


class TagRefOut(BaseModel):
    id: str
    name: str


class ImageOut(BaseModel):
    id: str
    width: int
    height: int
    created: Time
    tags: list[TagRefOut]
    metadata: dict[str, str]
    file_url: str
    thumbnail_url: str


class ImagePageOut(BaseModel):
    total: int = Field(description="Images matching the filter, over all pages.")
    images: list[ImageOut]


class UploadItemOut(BaseModel):
    source: str = Field(description="The part's file name (or field name), or the prediction id.")
    status: str = Field(description="OK, OKDuplicate, or Error* (e.g. ErrorImageFormat).")
    reason: str | None
    image: ImageOut | None


class UploadOut(BaseModel):
    is_batch_successful: bool = Field(description="Every item is OK or OKDuplicate.")
    images: list[UploadItemOut]


class ImageTagsIn(_In):
    image_ids: Ids
    tag_ids: Annotated[list[str], Field(min_length=1, max_length=50)]


class ImageTagsAddIn(ImageTagsIn):
    replace: bool = Field(
        default=False,
        description="Remove each image's other tags first (one transaction). An image of a "
        "multiclass project has one tag: giving it a second one is refused "
        "(400 one_tag_per_image) unless it replaces the first.",
    )


class TagLinkOut(BaseModel):
    image_id: str
    tag_id: str


class ImageTagsOut(BaseModel):
    created: list[TagLinkOut]
    duplicated: list[TagLinkOut] = Field(description="Already tagged so.")
    exceeded: list[TagLinkOut] = Field(description="Refused: the image has too many tags.")


class ImageIdsIn(_In):
    image_ids: Ids


class DeletedOut(BaseModel):
    n_deleted: int


class MetadataOut(BaseModel):
    image_id: str
    metadata: dict[str, str] = Field(description="All of the image's metadata after the update.")


# Training and iterations -------------------------------------------------------------------------


class TrainIn(_In):
    force: bool = Field(default=False, description="Train even when nothing changed.")
    tag_ids: list[str] | None = Field(default=None, description="Train on these tags only.")
    training_type: TrainingType = Field(
        default="quick",
        description="quick: a linear head on the frozen backbone (seconds); advanced: "
        "fine-tune the backbone's last stages within budget_seconds (minutes).",
    )
    budget_seconds: float | None = Field(
        default=None,
        description="Advanced training's time budget, all stages included (0 < budget <= "
        "86400); default: the server's TAGLOOP_ADVANCED_BUDGET_SECONDS.",
    )


class ProgressOut(BaseModel):
    stage: str = Field(description="queued, or the training stage (embed, fit, ...).")
    done: int
    total: int
    detail: str = Field(
        default="", description="What runs now (advanced: fold, trial, epoch, loss, time left)."
    )


class IterationTagOut(BaseModel):
    id: str
    name: str
    type: str


class IterationOut(BaseModel):
    id: str
    name: str
    number: int
    status: Literal["Training", "Completed", "Failed"]
    error: str | None
    classification_type: str
    backbone: str
    created: Time
    last_modified: Time
    trained_at: Time | None
    training_seconds: float
    training_type: TrainingType = Field(description="The training asked for.")
    budget_seconds: float | None = Field(description="Advanced training's budget.")
    model_training_type: str | None = Field(
        description="What the model holds once trained: advanced, or quick when the budget "
        "was too small to fine-tune (the model's training.advanced.fallback says why)."
    )
    tags: list[IterationTagOut] = Field(description="The tags the model predicts, in its order.")
    publish_name: str | None
    published_at: Time | None
    progress: ProgressOut | None = Field(
        default=None, description="Set while training, on GET of one iteration."
    )


class IterationUpdateIn(_In):
    name: str


class PublishIn(_In):
    name: str = Field(description="The name prediction requests use in their path.")
    overwrite: bool = Field(
        default=False, description="Move the name from the iteration that holds it."
    )


class MetricsOut(BaseModel):
    """Scores in [0, 1], higher is better."""

    precision: float
    recall: float
    f1: float = Field(description="Harmonic mean of precision and recall at the threshold.")
    average_precision: float
    macro_f1: float | None = Field(
        default=None, description="Overall only: the mean F1 of the tags that have images."
    )
    accuracy: float | None = Field(
        default=None,
        description="Overall only: the share of images given exactly their true tags.",
    )
    coverage: float | None = Field(
        default=None, description="Overall only: the share of images given any tag."
    )


class TagPerformanceOut(MetricsOut):
    id: str
    name: str
    type: str
    support: int = Field(default=0, description="Images that truly have the tag.")
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0


class LabelReportOut(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int
    average_precision: float | None
    true_positives: int | None = None
    false_positives: int | None = None
    false_negatives: int | None = None
    true_negatives: int | None = None


class ConfusionMatrixOut(BaseModel):
    labels: list[str]
    matrix: list[list[int]] = Field(description="Rows are true labels, columns predicted.")
    no_label: list[int] | None = Field(
        default=None, description="Per true label: its images given no label at the threshold."
    )


class ReportOut(BaseModel):
    """The cross-validated report written with the model (model.json ``metrics``)."""

    n_images: int
    accuracy: float
    macro_f1: float
    macro_precision: float
    macro_recall: float
    macro_average_precision: float | None
    per_label: dict[str, LabelReportOut]
    confusion_matrix: ConfusionMatrixOut
    classification_type: str
    threshold: float | None = None
    method: str | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    coverage: float | None = None


class PerformanceOut(BaseModel):
    iteration_id: str
    threshold: float = Field(
        description="A tag counts as given at this probability or more (multiclass: the most "
        "probable tag, when it reaches the threshold; else no tag)."
    )
    overall: MetricsOut
    per_tag: list[TagPerformanceOut]
    report: ReportOut = Field(
        description="The same evaluation at the threshold as a report: per label, macro "
        "figures and the confusion matrix (rows true tags, columns given tags, no_label: none)."
    )


class TagProbabilityOut(BaseModel):
    tag_id: str
    tag_name: str
    probability: float


class ImageResultOut(BaseModel):
    """A training image's out-of-fold prediction (by a model that did not see it)."""

    image_id: str
    thumbnail_url: str
    true_tags: list[TagRefOut]
    predicted_tags: list[TagRefOut]
    predictions: list[TagProbabilityOut]
    correct: bool


class ResultsOut(BaseModel):
    total: int
    results: list[ImageResultOut]


# Prediction and review ---------------------------------------------------------------------------


class NoveltyOut(BaseModel):
    unknown: bool = Field(
        description="The photo is unlike anything the model was trained on; its probabilities "
        "are then only a guess among the tags (label it, or tag it Negative)."
    )
    novelty: float | None = Field(
        description="How unlike the training images (mean cosine distance to the 5 nearest); "
        "unknown above the model's threshold. Null for models trained before novelty."
    )


class PredictionOut(NoveltyOut):
    id: str
    iteration_id: str
    created: Time
    predictions: list[TagProbabilityOut] = Field(description="Highest probability first.")
    is_stored: bool


class StoredPredictionOut(NoveltyOut):
    id: str
    iteration_id: str
    created: Time
    width: int
    height: int
    uncertainty: float = Field(description="In [0, 1]; higher means the model was less sure.")
    predictions: list[TagProbabilityOut]
    file_url: str
    thumbnail_url: str


class PredictionPageOut(BaseModel):
    predictions: list[StoredPredictionOut]
    has_more: bool


class PredictionIdsIn(_In):
    ids: Ids


class PromoteItemIn(_In):
    prediction_id: str
    tag_ids: list[str] = Field(default_factory=list)


class PromoteIn(_In):
    items: Annotated[list[PromoteItemIn], Field(min_length=1, max_length=256)]


class ReviewItemOut(NoveltyOut):
    kind: Literal["prediction", "image"]
    id: str
    created: Time
    thumbnail_url: str
    file_url: str
    predictions: list[TagProbabilityOut] = Field(description="By the review iteration.")
    uncertainty: float = Field(description="In [0, 1]; higher means a label helps more.")


class ReviewOut(BaseModel):
    iteration_id: str = Field(description="The iteration that scored every item.")
    n_candidates: int = Field(description="Items scored before take.")
    items: list[ReviewItemOut]
