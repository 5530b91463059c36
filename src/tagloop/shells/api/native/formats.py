"""Workspace records → native response models (``schemas``), with links to image files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request

from tagloop.shells.api.schemas import (
    ImageOut,
    IterationOut,
    IterationTagOut,
    ProgressOut,
    ProjectOut,
    TagOut,
    TagProbabilityOut,
    TagRefOut,
    UploadItemOut,
    UploadOut,
)
from tagloop.store.records import ImageRecord, IterationRecord, JobRecord, ProjectRecord, TagRecord
from tagloop.types import IterationStatus
from tagloop.workspace.images import AddedImage
from tagloop.workspace.projects import ProjectCounts


class Links:
    """Absolute URLs of the media routes (``native/media.py``) for one request's base URL."""

    def __init__(self, request: Request) -> None:
        self.base = str(request.base_url).rstrip("/") + "/api/v1/projects"

    def image(self, project_id: str, image_id: str, kind: str = "file") -> str:
        return f"{self.base}/{project_id}/images/{image_id}/{kind}"

    def prediction(self, project_id: str, prediction_id: str, kind: str = "file") -> str:
        return f"{self.base}/{project_id}/predictions/{prediction_id}/{kind}"


def project_out(project: ProjectRecord, counts: ProjectCounts) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description or "",
        classification_type=project.classification_type,  # type: ignore[arg-type]
        backbone=project.backbone,
        created=project.created,
        last_modified=project.last_modified,
        n_images=counts.n_images,
        n_tagged=counts.n_tagged,
        n_untagged=counts.n_untagged,
        n_tags=counts.n_tags,
        n_iterations=counts.n_iterations,
    )


def tag_out(tag: TagRecord) -> TagOut:
    return TagOut(
        id=tag.id,
        name=tag.name,
        description=tag.description or "",
        type=tag.type,  # type: ignore[arg-type]
        image_count=tag.image_count,
        created=tag.created,
    )


def image_out(image: ImageRecord, links: Links) -> ImageOut:
    return ImageOut(
        id=image.id,
        width=image.width,
        height=image.height,
        created=image.created,
        tags=[TagRefOut(id=t.tag_id, name=t.tag_name) for t in image.tags],
        metadata=dict(image.metadata),
        file_url=links.image(image.project_id, image.id),
        thumbnail_url=links.image(image.project_id, image.id, "thumbnail"),
    )


def upload_out(results: Sequence[AddedImage], links: Links) -> UploadOut:
    return UploadOut(
        is_batch_successful=all(r.ok for r in results),
        images=[
            UploadItemOut(
                source=r.source,
                status=r.status,
                reason=r.reason,
                image=None if r.image is None else image_out(r.image, links),
            )
            for r in results
        ],
    )


def probabilities_out(predictions: Sequence[Mapping[str, Any]]) -> list[TagProbabilityOut]:
    return [
        TagProbabilityOut(
            tag_id=str(p["tag_id"]), tag_name=str(p["tag_name"]), probability=p["probability"]
        )
        for p in predictions
    ]


def iteration_out(iteration: IterationRecord, job: JobRecord | None = None) -> IterationOut:
    """``job``: the training job, whose progress is shown while the iteration trains."""
    progress = None
    if job is not None and iteration.status == IterationStatus.TRAINING:
        current = job.progress or {}
        progress = ProgressOut(
            stage=str(current.get("stage") or job.status),
            done=int(current.get("done") or 0),
            total=int(current.get("total") or 0),
            detail=str(current.get("detail") or ""),
        )
    return IterationOut(
        id=iteration.id,
        name=iteration.name,
        number=iteration.number,
        status=iteration.status,  # type: ignore[arg-type]
        error=iteration.error,
        classification_type=iteration.classification_type,
        backbone=iteration.backbone,
        created=iteration.created,
        last_modified=iteration.last_modified,
        trained_at=iteration.trained_at,
        training_seconds=round(iteration.training_seconds, 3),
        training_type=iteration.training_type,
        budget_seconds=iteration.budget_seconds,
        model_training_type=iteration.model_training_type,
        tags=[
            IterationTagOut(id=str(t["id"]), name=str(t["name"]), type=str(t.get("type", "")))
            for t in iteration.tags
        ],
        publish_name=iteration.publish_name,
        published_at=iteration.published_at,
        progress=progress,
    )
