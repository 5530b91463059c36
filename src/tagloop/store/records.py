"""What the store hands out: frozen records, never ORM rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tagloop.types import ClassificationType, IterationStatus, JobStatus, TagType, TrainingType


@dataclass(frozen=True)
class ProjectRecord:
    id: str
    name: str
    description: str
    classification_type: ClassificationType
    domain_id: str
    backbone: str
    created: datetime
    last_modified: datetime
    training_key: str
    prediction_key: str

    @property
    def is_multilabel(self) -> bool:
        return self.classification_type == ClassificationType.MULTILABEL


@dataclass(frozen=True)
class TagRecord:
    id: str
    project_id: str
    name: str
    description: str
    type: TagType
    created: datetime
    image_count: int = 0


@dataclass(frozen=True)
class ImageTagRecord:
    tag_id: str
    tag_name: str
    created: datetime


@dataclass(frozen=True)
class ImageRecord:
    id: str
    project_id: str
    sha256: str
    width: int
    height: int
    created: datetime
    format: str = ""
    n_bytes: int = 0
    source_name: str = ""
    tags: tuple[ImageTagRecord, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IterationRecord:
    id: str
    project_id: str
    number: int
    name: str
    status: IterationStatus
    error: str | None
    classification_type: ClassificationType
    domain_id: str
    backbone: str
    created: datetime
    last_modified: datetime
    trained_at: datetime | None
    training_seconds: float
    fingerprint: str
    tags: tuple[Mapping[str, Any], ...]  # [{id, name, type}] in model label order
    model_sha: str | None
    model_meta: Mapping[str, Any] | None
    publish_name: str | None
    publish_resource_id: str | None
    published_at: datetime | None
    training_type: TrainingType = "quick"  # asked for; model_meta says what the model holds
    budget_seconds: float | None = None

    @property
    def is_completed(self) -> bool:
        return self.status == IterationStatus.COMPLETED

    @property
    def is_multilabel(self) -> bool:
        return self.classification_type == ClassificationType.MULTILABEL

    @property
    def model_training_type(self) -> str | None:
        """What the trained model holds: ``advanced``, or ``quick`` (also when an advanced
        run kept the quick model); None before a model exists."""
        if self.model_meta is None:
            return None
        return str(self.model_meta.get("training_type", "quick"))


@dataclass(frozen=True)
class SnapshotImage:
    """An image as an iteration saw it: its tags then and its out-of-fold probabilities."""

    image_id: str
    sha256: str
    width: int
    height: int
    created: datetime
    tag_ids: tuple[str, ...]
    proba: tuple[float, ...] | None


@dataclass(frozen=True)
class PredictionRecord:
    id: str
    project_id: str
    iteration_id: str
    domain_id: str
    sha256: str
    width: int
    height: int
    application: str | None
    created: datetime
    results: tuple[Mapping[str, Any], ...]  # [{tag_id, tag_name, tag_type, probability}]
    uncertainty: float
    novelty: float | None = None  # None: the model predates novelty
    unknown: bool = False  # unlike anything the model was trained on


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    project_id: str
    iteration_id: str | None
    status: JobStatus
    attempts: int
    error: str | None
    progress: Mapping[str, Any] | None
    created: datetime
    started: datetime | None
    finished: datetime | None


@dataclass(frozen=True)
class MetadataCondition:
    key: str
    op: str  # eq | ne
    value: str


# An image metadata filter in disjunctive normal form: any group matches when all its conditions do.
MetadataFilter = tuple[tuple[MetadataCondition, ...], ...]


@dataclass(frozen=True)
class ImageQuery:
    """Which images of a project to list or count."""

    tagging: str = "All"  # All | Tagged | Untagged
    tag_ids: tuple[str, ...] = ()  # images with any of these tags
    metadata: MetadataFilter = ()
    newest_first: bool = True
    skip: int = 0
    take: int | None = 50
