"""Custom Vision wire models: camelCase JSON built from workspace records (spec §4, §9)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tagloop.store.records import (
    ImageRecord,
    IterationRecord,
    PredictionRecord,
    ProjectRecord,
    SnapshotImage,
    TagRecord,
)
from tagloop.workspace.domains import Domain
from tagloop.workspace.images import AddedImage
from tagloop.workspace.performance import ImageResult, Performance
from tagloop.workspace.predictions import Answer
from tagloop.workspace.review import Suggestion


def dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def domain_out(domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "name": domain.name,
        "type": "Classification",
        "exportable": True,
        "enabled": True,
        "exportablePlatforms": ["ONNX"],
        "modelInformation": {"description": domain.description},
    }


def project_out(project: ProjectRecord) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description or "",
        "settings": {
            "domainId": project.domain_id,
            "classificationType": project.classification_type,
            "targetExportPlatforms": [],
            "useNegativeSet": True,
            "detectionParameters": None,
            "imageProcessingSettings": {"augmentationMethods": {}},
        },
        "created": dt(project.created),
        "lastModified": dt(project.last_modified),
        "thumbnailUri": None,
        "drModeEnabled": False,
        "status": "Succeeded",
    }


def tag_out(tag: TagRecord) -> dict[str, Any]:
    return {
        "id": tag.id,
        "name": tag.name,
        "description": tag.description or "",
        "type": tag.type,
        "imageCount": tag.image_count,
    }


class Links:
    """Absolute URLs of stored images (served by the native API, to key holders)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"

    def image(self, project_id: str, image_id: str, kind: str = "file") -> str:
        return f"{self.base}/projects/{project_id}/images/{image_id}/{kind}"

    def prediction(self, project_id: str, prediction_id: str, kind: str = "file") -> str:
        return f"{self.base}/projects/{project_id}/predictions/{prediction_id}/{kind}"


def image_out(image: ImageRecord, links: Links) -> dict[str, Any]:
    return {
        "id": image.id,
        "created": dt(image.created),
        "width": image.width,
        "height": image.height,
        "resizedImageUri": links.image(image.project_id, image.id),
        "thumbnailUri": links.image(image.project_id, image.id, "thumbnail"),
        "originalImageUri": links.image(image.project_id, image.id),
        "tags": [
            {"tagId": t.tag_id, "tagName": t.tag_name, "created": dt(t.created)} for t in image.tags
        ],
        "regions": [],
        "metadata": dict(image.metadata),
    }


def snapshot_image_out(
    project_id: str, snap: SnapshotImage, tag_names: Mapping[str, str], links: Links
) -> dict[str, Any]:
    return {
        "id": snap.image_id,
        "created": dt(snap.created),
        "width": snap.width,
        "height": snap.height,
        "resizedImageUri": links.image(project_id, snap.image_id),
        "thumbnailUri": links.image(project_id, snap.image_id, "thumbnail"),
        "originalImageUri": links.image(project_id, snap.image_id),
        "tags": [
            {"tagId": t, "tagName": tag_names.get(t, ""), "created": dt(snap.created)}
            for t in snap.tag_ids
        ],
        "regions": [],
        "metadata": {},
    }


def create_summary(results: Sequence[AddedImage], links: Links) -> tuple[int, dict[str, Any]]:
    """200 with ``isBatchSuccessful`` when every image is OK (or a duplicate), else 207."""
    ok = all(r.ok for r in results)
    images = []
    for r in results:
        entry: dict[str, Any] = {"sourceUrl": r.source, "status": r.status}
        if r.image is not None:
            entry["image"] = image_out(r.image, links)
        images.append(entry)
    return (200 if ok else 207), {"isBatchSuccessful": ok, "images": images}


def iteration_out(iteration: IterationRecord) -> dict[str, Any]:
    return {
        "id": iteration.id,
        "name": iteration.name,
        "status": iteration.status,
        "created": dt(iteration.created),
        "lastModified": dt(iteration.last_modified),
        "trainedAt": dt(iteration.trained_at),
        "projectId": iteration.project_id,
        "exportable": iteration.is_completed,
        "exportableTo": ["ONNX"] if iteration.is_completed else [],
        "domainId": iteration.domain_id,
        "classificationType": iteration.classification_type,
        "trainingType": "Advanced" if iteration.training_type == "advanced" else "Regular",
        "reservedBudgetInHours": math.ceil((iteration.budget_seconds or 0) / 3600),
        "trainingTimeInMinutes": int(round(iteration.training_seconds / 60)),
        "publishName": iteration.publish_name,
        "originalPublishResourceId": iteration.publish_resource_id,
        "customBaseModelInfo": None,
        "trainingErrorDetails": iteration.error,
    }


def performance_out(perf: Performance) -> dict[str, Any]:
    report = perf.report
    return {
        "perTagPerformance": [
            {
                "id": tag["id"],
                "name": tag["name"],
                "precision": m.precision,
                "precisionStdDeviation": 0.0,
                "recall": m.recall,
                "recallStdDeviation": 0.0,
                "averagePrecision": m.average_precision or 0.0,
            }
            for tag, m in perf.tag_metrics()
        ],
        "precision": report.precision,
        "precisionStdDeviation": 0.0,
        "recall": report.recall,
        "recallStdDeviation": 0.0,
        "averagePrecision": report.macro_average_precision or 0.0,
    }


def predictions_out(
    predictions: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    return [
        {
            "probability": p["probability"],
            "tagId": p["tag_id"],
            "tagName": p["tag_name"],
            "tagType": p.get("tag_type", "Regular"),
        }
        for p in predictions
    ]


def image_performance_out(
    project_id: str, result: ImageResult, tag_names: Mapping[str, str], links: Links
) -> dict[str, Any]:
    out = snapshot_image_out(project_id, result.image, tag_names, links)
    out.pop("metadata")
    out["predictions"] = predictions_out(
        [
            {"tag_id": t, "tag_name": tag_names.get(t, ""), "probability": p}
            for t, p in result.predictions
        ]
    )
    return out


def answer_out(answer: Answer) -> dict[str, Any]:
    return {
        "id": answer.id,
        "project": answer.project_id,
        "iteration": answer.iteration_id,
        "created": dt(answer.created),
        "predictions": predictions_out(answer.predictions),
    }


def stored_prediction_out(pred: PredictionRecord, links: Links) -> dict[str, Any]:
    return {
        "resizedImageUri": links.prediction(pred.project_id, pred.id),
        "thumbnailUri": links.prediction(pred.project_id, pred.id, "thumbnail"),
        "originalImageUri": links.prediction(pred.project_id, pred.id),
        "domain": pred.domain_id,
        "id": pred.id,
        "project": pred.project_id,
        "iteration": pred.iteration_id,
        "created": dt(pred.created),
        "predictions": predictions_out(pred.results),
    }


def suggestion_out(s: Suggestion, iteration_id: str, links: Links) -> dict[str, Any]:
    return {
        "width": s.image.width,
        "height": s.image.height,
        "resizedImageUri": links.image(s.image.project_id, s.image.id),
        "thumbnailUri": links.image(s.image.project_id, s.image.id, "thumbnail"),
        "originalImageUri": links.image(s.image.project_id, s.image.id),
        "domain": None,
        "id": s.image.id,
        "project": s.image.project_id,
        "iteration": iteration_id,
        "created": dt(s.image.created),
        "predictions": predictions_out(s.predictions),
        "predictionUncertainty": s.uncertainty,
    }
