"""Stored predictions: what the prediction endpoint was asked, and what it answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tagloop.store.records import PredictionRecord
from tagloop.store.tables import PredictionRow


def add_prediction(
    session: Session,
    *,
    project_id: str,
    iteration_id: str,
    domain_id: str,
    sha256: str,
    width: int,
    height: int,
    application: str | None,
    results: Sequence[Mapping[str, Any]],
    uncertainty: float,
    novelty: float | None = None,
    unknown: bool = False,
) -> PredictionRecord:
    row = PredictionRow(
        project_id=project_id,
        iteration_id=iteration_id,
        domain_id=domain_id,
        sha256=sha256,
        width=width,
        height=height,
        application=application,
        results=[dict(r) for r in results],
        uncertainty=uncertainty,
        novelty=novelty,
        unknown=unknown,
    )
    session.add(row)
    session.flush()
    return _record(row)


def list_predictions(
    session: Session,
    *,
    project_id: str,
    iteration_id: str | None = None,
    application: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    newest_first: bool = True,
    skip: int = 0,
    take: int | None = None,
) -> list[PredictionRecord]:
    """Matching stored predictions, newest (or oldest) first: rows ``skip`` to ``skip + take``
    in the database's order (all of them when ``take`` is None)."""
    stmt = select(PredictionRow).where(PredictionRow.project_id == project_id)
    if iteration_id:
        stmt = stmt.where(PredictionRow.iteration_id == iteration_id)
    if application:
        stmt = stmt.where(PredictionRow.application == application)
    if start:
        stmt = stmt.where(PredictionRow.created >= start)
    if end:
        stmt = stmt.where(PredictionRow.created <= end)
    order = PredictionRow.created.desc() if newest_first else PredictionRow.created.asc()
    stmt = stmt.order_by(order, PredictionRow.id).offset(skip)
    if take is not None:
        stmt = stmt.limit(take)
    return [_record(row) for row in session.scalars(stmt)]


def get_predictions(
    session: Session, *, project_id: str, prediction_ids: Sequence[str]
) -> dict[str, PredictionRecord]:
    rows = session.scalars(
        select(PredictionRow).where(
            PredictionRow.project_id == project_id, PredictionRow.id.in_(prediction_ids)
        )
    )
    return {row.id: _record(row) for row in rows}


def delete_predictions(
    session: Session, *, project_id: str, prediction_ids: Sequence[str]
) -> set[str]:
    """Delete stored predictions; returns the sha256s of their images."""
    shas = {
        p.sha256
        for p in get_predictions(
            session, project_id=project_id, prediction_ids=prediction_ids
        ).values()
    }
    session.execute(
        delete(PredictionRow).where(
            PredictionRow.project_id == project_id, PredictionRow.id.in_(prediction_ids)
        )
    )
    return shas


def trim_predictions(
    session: Session, *, project_id: str, keep: int, created_before: datetime, spare: str
) -> set[str]:
    """Delete the project's stored predictions made before ``created_before`` and those beyond
    the ``keep`` newest, never ``spare`` (the one just stored); returns their images' sha256s."""
    newest = (
        select(PredictionRow.id)
        .where(PredictionRow.project_id == project_id)
        .order_by(PredictionRow.created.desc(), PredictionRow.id.desc())
        .limit(keep)
    )
    doomed = (
        PredictionRow.project_id == project_id,
        PredictionRow.id != spare,
        (PredictionRow.created < created_before) | PredictionRow.id.not_in(newest),
    )
    shas = set(session.scalars(select(PredictionRow.sha256).where(*doomed)))
    if shas:
        session.execute(delete(PredictionRow).where(*doomed))
    return shas


def prediction_shas(session: Session, *, shas: set[str]) -> set[str]:
    return set(session.scalars(select(PredictionRow.sha256).where(PredictionRow.sha256.in_(shas))))


def _record(row: PredictionRow) -> PredictionRecord:
    return PredictionRecord(
        id=row.id,
        project_id=row.project_id,
        iteration_id=row.iteration_id,
        domain_id=row.domain_id,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        application=row.application,
        created=row.created,
        results=tuple(row.results),
        uncertainty=row.uncertainty,
        novelty=row.novelty,
        unknown=bool(row.unknown),
    )
