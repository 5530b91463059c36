"""Iterations: start training (a durable job), cancel it, read performance, publish."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagloop.errors import BudgetInvalid, Conflict, NotFound, RequestInvalid, TrainingInvalid
from tagloop.store.queries import images as image_queries
from tagloop.store.queries import iterations as queries
from tagloop.store.queries import projects as project_queries
from tagloop.store.records import IterationRecord, JobRecord, SnapshotImage
from tagloop.train.budget import parse_budget
from tagloop.types import IterationStatus, TagType, TrainingType
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.jobs import stop_job
from tagloop.workspace.projects import collect_blobs

logger = logging.getLogger(__name__)

MIN_IMAGES_PER_TAG = 5
# A cancelled iteration ends ``Failed`` (Custom Vision knows no other end state) with this error.
CANCELLED = "Cancelled by the user."


def start_training(
    ws: Workspace,
    access: Access,
    project_id: str,
    *,
    force: bool = False,
    selected_tag_ids: Sequence[str] | None = None,
    training_type: TrainingType = "quick",
    budget_seconds: float | None = None,
) -> IterationRecord:
    """Validate the workspace, snapshot it into a new ``Training`` iteration, queue the job.

    ``training_type="advanced"`` fine-tunes within ``budget_seconds`` (default: the
    ``advanced_budget_seconds`` setting); a budget outside (0, 24 h] is refused.
    """
    access.check(project_id)
    if training_type == "advanced":
        budget_seconds = parse_budget(
            ws.settings.advanced_budget_seconds if budget_seconds is None else budget_seconds
        )
    elif budget_seconds is not None:
        raise BudgetInvalid("a budget is for advanced training; ask for training type advanced")
    with ws.session() as session:
        project = project_queries.get_project(session, project_id=project_id)
        if queries.active_job(session, project_id=project_id) is not None:
            raise Conflict("training_in_progress", "This project is already training; wait for it.")
        tags = project_queries.list_tags(session, project_id=project_id)
        if selected_tag_ids:
            unknown = set(selected_tag_ids) - {t.id for t in tags}
            if unknown:
                raise NotFound("tag", sorted(unknown)[0])
            tags = [t for t in tags if t.id in set(selected_tag_ids) or t.type == TagType.NEGATIVE]
        tag_ids = {t.id for t in tags}
        images = [
            SnapshotImage(
                image_id=img.id,
                sha256=img.sha256,
                width=img.width,
                height=img.height,
                created=img.created,
                tag_ids=tuple(sorted(t.tag_id for t in img.tags if t.tag_id in tag_ids)),
                proba=None,
            )
            for img in image_queries.training_images(session, project_id=project_id)
        ]
        images = [img for img in images if img.tag_ids]
        counts = Counter(t for img in images for t in img.tag_ids)
        used = [t for t in tags if counts[t.id]]
        _check_trainable(used, counts)
        fingerprint = _fingerprint(project.backbone, project.classification_type, images)
        done = [
            it for it in queries.list_iterations(session, project_id=project_id) if it.is_completed
        ]
        if done and done[-1].fingerprint == fingerprint and not force:
            raise Conflict(
                "training_not_needed",
                "Nothing changed since the last training; add or re-tag images, or force it.",
            )
        iteration = queries.create_iteration(
            session,
            project_id=project_id,
            classification_type=project.classification_type,
            domain_id=project.domain_id,
            backbone=project.backbone,
            fingerprint=fingerprint,
            tags=[{"id": t.id, "name": t.name, "type": t.type} for t in used],
            images=images,
            training_type=training_type,
            budget_seconds=budget_seconds,
        )
        queries.enqueue_job(session, kind="train", project_id=project_id, iteration_id=iteration.id)
    ws.jobs_changed.set()
    logger.info(
        "project %s: queued training of %s (%d images)", project_id, iteration.id, len(images)
    )
    return iteration


def cancel_training(
    ws: Workspace, access: Access, project_id: str, iteration_id: str
) -> IterationRecord:
    """Stop an iteration's training: a queued job never runs, a running one stops at its next
    progress report and writes nothing. The iteration ends ``Failed`` with error ``CANCELLED``.
    """
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
        if not queries.fail_iteration(session, iteration_id=iteration_id, error=CANCELLED):
            status = queries.get_iteration(
                session, project_id=project_id, iteration_id=iteration_id
            ).status
            raise Conflict(
                "iteration_not_training",
                f"Iteration {iteration_id} is not training ({status}); there is nothing to cancel.",
            )
        job = queries.cancel_job(session, iteration_id=iteration_id, error=CANCELLED)
        iteration = queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
    if job is not None:
        stop_job(job.id)  # after the commit: the cancel is durable before the job unwinds
    logger.info("project %s: cancelled the training of %s", project_id, iteration_id)
    return iteration


def list_iterations(ws: Workspace, access: Access, project_id: str) -> list[IterationRecord]:
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        return queries.list_iterations(session, project_id=project_id)


def get_iteration(
    ws: Workspace, access: Access, project_id: str, iteration_id: str
) -> IterationRecord:
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        return queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)


def training_progress(
    ws: Workspace, access: Access, project_id: str, iteration_id: str
) -> JobRecord | None:
    get_iteration(ws, access, project_id, iteration_id)
    with ws.session() as session:
        return queries.job_for_iteration(session, iteration_id=iteration_id)


def completed_iterations(ws: Workspace, access: Access, project_id: str) -> list[IterationRecord]:
    """The project's trained iterations, oldest first."""
    return [it for it in list_iterations(ws, access, project_id) if it.is_completed]


def latest_completed(ws: Workspace, access: Access, project_id: str) -> IterationRecord:
    done = completed_iterations(ws, access, project_id)
    if not done:
        raise NotFound(
            "iteration", "(none)", "The project has no trained iteration yet; train first."
        )
    return done[-1]


def rename_iteration(
    ws: Workspace, access: Access, project_id: str, iteration_id: str, name: str
) -> IterationRecord:
    access.check(project_id)
    name = (name or "").strip()
    if not name:
        raise RequestInvalid("The iteration name is missing.")
    with ws.session() as session:
        return queries.rename_iteration(
            session, project_id=project_id, iteration_id=iteration_id, name=name
        )


def delete_iteration(ws: Workspace, access: Access, project_id: str, iteration_id: str) -> None:
    access.check(project_id)
    with ws.session() as session:
        iteration = queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
        if iteration.publish_name:
            raise Conflict("iteration_published", "Unpublish the iteration before deleting it.")
        if iteration.status == IterationStatus.TRAINING:
            raise Conflict("iteration_training", "The iteration is still training; wait for it.")
        shas = {s.sha256 for s in queries.snapshot(session, iteration_id=iteration_id)}
        model = queries.delete_iteration(session, project_id=project_id, iteration_id=iteration_id)
    ws.forget_predictor(iteration_id)
    collect_blobs(ws, shas | ({model} if model else set()))


def publish_iteration(
    ws: Workspace,
    access: Access,
    project_id: str,
    iteration_id: str,
    *,
    publish_name: str,
    resource_id: str | None = None,
    overwrite: bool = False,
) -> IterationRecord:
    access.check(project_id)
    publish_name = (publish_name or "").strip()
    if not publish_name or len(publish_name) > 200:
        raise RequestInvalid("The publish name must be 1 to 200 characters.")
    with ws.session() as session:
        iteration = queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
        if not iteration.is_completed:
            raise Conflict(
                "iteration_not_trained",
                f"Iteration {iteration_id} is not trained ({iteration.status}).",
            )
        try:
            holder = queries.find_published(
                session, project_id=project_id, publish_name=publish_name
            )
        except NotFound:
            holder = None
        if holder is not None and holder.id != iteration_id:
            if not overwrite:
                raise Conflict(
                    "publish_name_taken",
                    f"{publish_name!r} is published from {holder.name}; pass overwrite to move it.",
                )
            queries.set_publication(
                session,
                project_id=project_id,
                iteration_id=holder.id,
                publish_name=None,
                resource_id=None,
            )
            session.flush()
        return queries.set_publication(
            session,
            project_id=project_id,
            iteration_id=iteration_id,
            publish_name=publish_name,
            resource_id=resource_id,
        )


def unpublish_iteration(ws: Workspace, access: Access, project_id: str, iteration_id: str) -> None:
    access.check(project_id)
    with ws.session() as session:
        iteration = queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
        if not iteration.publish_name:
            raise Conflict("iteration_not_published", f"Iteration {iteration_id} is not published.")
        queries.set_publication(
            session,
            project_id=project_id,
            iteration_id=iteration_id,
            publish_name=None,
            resource_id=None,
        )


def trained_iteration(
    ws: Workspace, access: Access, project_id: str, iteration_id: str | None
) -> IterationRecord:
    """A completed iteration: the one asked for (refused while not trained) or the latest."""
    if not iteration_id:
        return latest_completed(ws, access, project_id)
    iteration = get_iteration(ws, access, project_id, iteration_id)
    if not iteration.is_completed:
        raise Conflict(
            "iteration_not_trained",
            f"Iteration {iteration_id} is not trained ({iteration.status}).",
        )
    return iteration


def model_files(
    ws: Workspace, access: Access, project_id: str, iteration_id: str
) -> tuple[Path, dict[str, Any]]:
    """The ONNX file and model description of a completed iteration (the export package)."""
    iteration = trained_iteration(ws, access, project_id, iteration_id)
    if iteration.model_sha is None or iteration.model_meta is None:
        raise Conflict("iteration_not_trained", f"Iteration {iteration_id} has no model.")
    return ws.blobs.path(iteration.model_sha), dict(iteration.model_meta)


def trained_images(
    ws: Workspace,
    access: Access,
    project_id: str,
    iteration_id: str,
    *,
    tag_ids: Sequence[str] = (),
) -> tuple[IterationRecord, list[SnapshotImage]]:
    """The images a completed iteration trained on (each with its out-of-fold prediction),
    oldest first; with ``tag_ids``, those that had any of these tags.
    """
    iteration = trained_iteration(ws, access, project_id, iteration_id)
    with ws.session() as session:
        snaps = queries.snapshot(session, iteration_id=iteration_id)
    wanted = set(tag_ids)
    return iteration, [
        s for s in snaps if s.proba is not None and (not wanted or wanted & set(s.tag_ids))
    ]


def _check_trainable(tags: list[Any], counts: Counter[str]) -> None:
    regular = [t for t in tags if t.type != TagType.NEGATIVE]
    few = [t.name for t in tags if counts[t.id] < MIN_IMAGES_PER_TAG]
    if len(regular) < 2 or few:
        detail = f"; too few images: {', '.join(few)}" if few else ""
        raise TrainingInvalid(
            f"Training needs at least 2 tags with at least {MIN_IMAGES_PER_TAG} images each "
            f"(this project has {len(regular)} tags with images{detail}). Tag more images."
        )


def _fingerprint(backbone: str, classification_type: str, images: Sequence[SnapshotImage]) -> str:
    digest = hashlib.sha256(f"{backbone}|{classification_type}".encode())
    for img in sorted(images, key=lambda i: i.sha256):
        digest.update(f"|{img.sha256}:{','.join(img.tag_ids)}".encode())
    return digest.hexdigest()
