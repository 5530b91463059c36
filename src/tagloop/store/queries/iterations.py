"""Iterations (trained models), their image snapshots, publications and training jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tagloop.errors import NotFound
from tagloop.store.records import IterationRecord, JobRecord, SnapshotImage
from tagloop.store.tables import IterationImageRow, IterationRow, JobRow, utcnow
from tagloop.types import ClassificationType, IterationStatus, JobStatus, TrainingType

OPEN_JOB_STATES = (JobStatus.QUEUED, JobStatus.RUNNING)


def create_iteration(
    session: Session,
    *,
    project_id: str,
    classification_type: str,
    domain_id: str,
    backbone: str,
    fingerprint: str,
    tags: Sequence[Mapping[str, Any]],
    images: Sequence[SnapshotImage],
    training_type: TrainingType = "quick",
    budget_seconds: float | None = None,
) -> IterationRecord:
    number = (
        session.scalar(
            select(func.max(IterationRow.number)).where(IterationRow.project_id == project_id)
        )
        or 0
    ) + 1
    row = IterationRow(
        project_id=project_id,
        number=number,
        name=f"Iteration {number}",
        status=IterationStatus.TRAINING,
        classification_type=classification_type,
        domain_id=domain_id,
        backbone=backbone,
        fingerprint=fingerprint,
        tags=[dict(t) for t in tags],
        training_type=training_type,
        budget_seconds=budget_seconds,
    )
    session.add(row)
    session.flush()
    session.add_all(
        IterationImageRow(
            iteration_id=row.id,
            image_id=img.image_id,
            sha256=img.sha256,
            width=img.width,
            height=img.height,
            created=img.created,
            tag_ids=list(img.tag_ids),
        )
        for img in images
    )
    session.flush()
    return _iteration(row)


def get_iteration(session: Session, *, project_id: str, iteration_id: str) -> IterationRecord:
    return _iteration(_row(session, project_id, iteration_id))


def list_iterations(session: Session, *, project_id: str) -> list[IterationRecord]:
    rows = session.scalars(
        select(IterationRow)
        .where(IterationRow.project_id == project_id)
        .order_by(IterationRow.number)
    )
    return [_iteration(row) for row in rows]


def find_published(session: Session, *, project_id: str, publish_name: str) -> IterationRecord:
    row = session.scalar(
        select(IterationRow).where(
            IterationRow.project_id == project_id, IterationRow.publish_name == publish_name
        )
    )
    if row is None:
        raise NotFound(
            "publication",
            publish_name,
            f"No iteration of project {project_id} is published as {publish_name!r}.",
        )
    return _iteration(row)


def rename_iteration(
    session: Session, *, project_id: str, iteration_id: str, name: str
) -> IterationRecord:
    row = _row(session, project_id, iteration_id)
    row.name = name
    row.last_modified = utcnow()
    return _iteration(row)


def delete_iteration(session: Session, *, project_id: str, iteration_id: str) -> str | None:
    """Delete the iteration; returns its model blob's sha256 (to collect), if any."""
    row = _row(session, project_id, iteration_id)
    sha = row.model_sha
    session.delete(row)
    return sha


def complete_iteration(
    session: Session,
    *,
    iteration_id: str,
    model_sha: str,
    model_meta: Mapping[str, Any],
    tags: Sequence[Mapping[str, Any]],
    training_seconds: float,
    proba: Mapping[str, Sequence[float]],
) -> bool:
    """Record a finished training run in one transaction: model, numbers, per-image results.

    Returns False, writing nothing, when the iteration is no longer training (cancelled or
    deleted meanwhile): the run's result has nowhere to go.
    """
    now = utcnow()
    result = session.execute(
        update(IterationRow)
        .where(IterationRow.id == iteration_id, IterationRow.status == IterationStatus.TRAINING)
        .values(
            status=IterationStatus.COMPLETED,
            error=None,
            model_sha=model_sha,
            model_meta=dict(model_meta),
            tags=[dict(t) for t in tags],
            trained_at=now,
            last_modified=now,
            training_seconds=training_seconds,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    for snap in session.scalars(
        select(IterationImageRow).where(IterationImageRow.iteration_id == iteration_id)
    ):
        if snap.image_id in proba:
            snap.proba = [float(p) for p in proba[snap.image_id]]
    return True


def fail_iteration(session: Session, *, iteration_id: str, error: str) -> bool:
    """Mark a training iteration failed; False when it is not training (any more) or gone."""
    result = session.execute(
        update(IterationRow)
        .where(IterationRow.id == iteration_id, IterationRow.status == IterationStatus.TRAINING)
        .values(status=IterationStatus.FAILED, error=error, last_modified=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def set_publication(
    session: Session,
    *,
    project_id: str,
    iteration_id: str,
    publish_name: str | None,
    resource_id: str | None,
) -> IterationRecord:
    row = _row(session, project_id, iteration_id)
    row.publish_name, row.publish_resource_id = publish_name, resource_id
    row.published_at = utcnow() if publish_name else None
    row.last_modified = utcnow()
    session.flush()
    return _iteration(row)


def snapshot(session: Session, *, iteration_id: str) -> list[SnapshotImage]:
    rows = session.scalars(
        select(IterationImageRow)
        .where(IterationImageRow.iteration_id == iteration_id)
        .order_by(IterationImageRow.created, IterationImageRow.image_id)
    )
    return [
        SnapshotImage(
            image_id=row.image_id,
            sha256=row.sha256,
            width=row.width,
            height=row.height,
            created=row.created,
            tag_ids=tuple(row.tag_ids),
            proba=None if row.proba is None else tuple(row.proba),
        )
        for row in rows
    ]


def model_shas(session: Session) -> set[str]:
    return {sha for sha in session.scalars(select(IterationRow.model_sha)) if sha}


def snapshot_shas(session: Session, *, shas: set[str]) -> set[str]:
    rows = session.scalars(
        select(IterationImageRow.sha256).where(IterationImageRow.sha256.in_(shas))
    )
    return set(rows)


# Jobs ------------------------------------------------------------------------------------------


def enqueue_job(session: Session, *, kind: str, project_id: str, iteration_id: str) -> JobRecord:
    row = JobRow(
        kind=kind, project_id=project_id, iteration_id=iteration_id, status=JobStatus.QUEUED
    )
    session.add(row)
    session.flush()
    return _job(row)


def claim_job(session: Session) -> JobRecord | None:
    """Mark the oldest queued job running and return it (one worker per database)."""
    row = session.scalar(
        select(JobRow).where(JobRow.status == JobStatus.QUEUED).order_by(JobRow.created).limit(1)
    )
    if row is None:
        return None
    claimed = session.execute(
        update(JobRow)
        .where(JobRow.id == row.id, JobRow.status == JobStatus.QUEUED)
        .values(status=JobStatus.RUNNING, started=utcnow(), attempts=JobRow.attempts + 1)
    )
    if not getattr(claimed, "rowcount", 0):
        return None
    session.refresh(row)
    return _job(row)


def finish_job(session: Session, *, job_id: str, error: str | None = None) -> None:
    """End an open job as ``done`` or ``failed``; a job already ended (cancelled) stays so."""
    session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.status.in_(OPEN_JOB_STATES))
        .values(
            status=JobStatus.FAILED if error else JobStatus.DONE, error=error, finished=utcnow()
        )
        .execution_options(synchronize_session=False)
    )


def cancel_job(session: Session, *, iteration_id: str, error: str) -> JobRecord | None:
    """Mark the iteration's open (queued or running) job ``cancelled``, so that no worker
    claims, requeues or completes it. Returns the job as it was before, or None if none was open.
    """
    row = session.scalar(
        select(JobRow).where(
            JobRow.iteration_id == iteration_id, JobRow.status.in_(OPEN_JOB_STATES)
        )
    )
    if row is None:
        return None
    before = _job(row)
    result = session.execute(
        update(JobRow)
        .where(JobRow.id == row.id, JobRow.status.in_(OPEN_JOB_STATES))
        .values(status=JobStatus.CANCELLED, error=error, finished=utcnow())
        .execution_options(synchronize_session=False)
    )
    return before if getattr(result, "rowcount", 0) else None


def set_job_progress(session: Session, *, job_id: str, progress: Mapping[str, Any]) -> bool:
    """Record a running job's progress; False when the job no longer runs (cancelled, gone)."""
    result = session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.status == JobStatus.RUNNING)
        .values(progress=dict(progress))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def active_job(session: Session, *, project_id: str) -> JobRecord | None:
    row = session.scalar(
        select(JobRow).where(JobRow.project_id == project_id, JobRow.status.in_(OPEN_JOB_STATES))
    )
    return None if row is None else _job(row)


def job_for_iteration(session: Session, *, iteration_id: str) -> JobRecord | None:
    row = session.scalar(
        select(JobRow).where(JobRow.iteration_id == iteration_id).order_by(JobRow.created.desc())
    )
    return None if row is None else _job(row)


def interrupted_jobs(session: Session) -> list[JobRecord]:
    """Jobs a stopped server left running."""
    return [
        _job(row)
        for row in session.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING))
    ]


def requeue_job(session: Session, *, job_id: str) -> None:
    session.execute(update(JobRow).where(JobRow.id == job_id).values(status=JobStatus.QUEUED))


def _row(session: Session, project_id: str, iteration_id: str) -> IterationRow:
    # populate_existing: the status may have changed through a conditional UPDATE since loaded.
    row = session.get(IterationRow, iteration_id, populate_existing=True)
    if row is None or row.project_id != project_id:
        raise NotFound("iteration", iteration_id)
    return row


def _iteration(row: IterationRow) -> IterationRecord:
    return IterationRecord(
        id=row.id,
        project_id=row.project_id,
        number=row.number,
        name=row.name,
        status=IterationStatus(row.status),
        error=row.error,
        classification_type=ClassificationType(row.classification_type),
        domain_id=row.domain_id,
        backbone=row.backbone,
        created=row.created,
        last_modified=row.last_modified,
        trained_at=row.trained_at,
        training_seconds=row.training_seconds,
        fingerprint=row.fingerprint,
        tags=tuple(row.tags or ()),
        model_sha=row.model_sha,
        model_meta=row.model_meta,
        publish_name=row.publish_name,
        publish_resource_id=row.publish_resource_id,
        published_at=row.published_at,
        training_type="advanced" if row.training_type == "advanced" else "quick",
        budget_seconds=row.budget_seconds,
    )


def _job(row: JobRow) -> JobRecord:
    return JobRecord(
        id=row.id,
        kind=row.kind,
        project_id=row.project_id,
        iteration_id=row.iteration_id,
        status=JobStatus(row.status),
        attempts=row.attempts,
        error=row.error,
        progress=row.progress,
        created=row.created,
        started=row.started,
        finished=row.finished,
    )


def snapshot_sha(session: Session, *, project_id: str, image_id: str) -> str | None:
    """The sha256 of an image some iteration of the project trained on (deleted since)."""
    return session.scalar(
        select(IterationImageRow.sha256)
        .join(IterationRow, IterationRow.id == IterationImageRow.iteration_id)
        .where(IterationRow.project_id == project_id, IterationImageRow.image_id == image_id)
        .limit(1)
    )


def count_iterations(session: Session, *, project_id: str) -> int:
    return (
        session.scalar(
            select(func.count(IterationRow.id)).where(IterationRow.project_id == project_id)
        )
        or 0
    )
