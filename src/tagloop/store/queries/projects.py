"""Projects and their tags."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tagloop.errors import NotFound
from tagloop.store.records import ProjectRecord, TagRecord
from tagloop.store.tables import ImageTagRow, ProjectRow, TagRow, utcnow
from tagloop.types import ClassificationType, TagType


def new_key() -> str:
    return secrets.token_hex(16)


def create_project(
    session: Session,
    *,
    name: str,
    description: str,
    classification_type: str,
    domain_id: str,
    backbone: str,
) -> ProjectRecord:
    row = ProjectRow(
        name=name,
        description=description,
        classification_type=classification_type,
        domain_id=domain_id,
        backbone=backbone,
        training_key=new_key(),
        prediction_key=new_key(),
    )
    session.add(row)
    session.flush()
    return _project(row)


def get_project(session: Session, *, project_id: str) -> ProjectRecord:
    return _project(_project_row(session, project_id))


def find_project(session: Session, *, project_id: str) -> ProjectRecord | None:
    row = session.get(ProjectRow, project_id)
    return _project(row) if row is not None else None


def list_projects(session: Session, *, project_ids: set[str] | None = None) -> list[ProjectRecord]:
    query = select(ProjectRow).order_by(ProjectRow.created)
    if project_ids is not None:
        query = query.where(ProjectRow.id.in_(project_ids))
    return [_project(row) for row in session.scalars(query)]


def find_project_by_key(session: Session, *, key: str) -> tuple[ProjectRecord, str] | None:
    """The project whose training or prediction key this is, and which of the two."""
    row = session.scalar(
        select(ProjectRow).where(
            (ProjectRow.training_key == key) | (ProjectRow.prediction_key == key)
        )
    )
    if row is None:
        return None
    return _project(row), "training" if secrets.compare_digest(
        row.training_key, key
    ) else "prediction"


def update_project(
    session: Session,
    *,
    project_id: str,
    name: str | None = None,
    description: str | None = None,
    classification_type: str | None = None,
    domain_id: str | None = None,
    backbone: str | None = None,
) -> ProjectRecord:
    row = _project_row(session, project_id)
    for attr, value in (
        ("name", name),
        ("description", description),
        ("classification_type", classification_type),
        ("domain_id", domain_id),
        ("backbone", backbone),
    ):
        if value is not None:
            setattr(row, attr, value)
    row.last_modified = utcnow()
    return _project(row)


def touch_project(session: Session, *, project_id: str) -> None:
    _project_row(session, project_id).last_modified = utcnow()


def delete_project(session: Session, *, project_id: str) -> None:
    session.delete(_project_row(session, project_id))


def create_tag(
    session: Session, *, project_id: str, name: str, description: str, type: str
) -> TagRecord:
    row = TagRow(project_id=project_id, name=name, description=description, type=type)
    session.add(row)
    session.flush()
    return _tag(row, 0)


def list_tags(session: Session, *, project_id: str) -> list[TagRecord]:
    counts: dict[str, int] = dict(
        list(
            session.execute(
                select(ImageTagRow.tag_id, func.count())
                .join(TagRow, TagRow.id == ImageTagRow.tag_id)
                .where(TagRow.project_id == project_id)
                .group_by(ImageTagRow.tag_id)
            )
        )
    )
    rows = session.scalars(
        select(TagRow).where(TagRow.project_id == project_id).order_by(TagRow.created, TagRow.name)
    )
    return [_tag(row, counts.get(row.id, 0)) for row in rows]


def get_tag(session: Session, *, project_id: str, tag_id: str) -> TagRecord:
    row = _tag_row(session, project_id, tag_id)
    count = session.scalar(select(func.count()).where(ImageTagRow.tag_id == tag_id)) or 0
    return _tag(row, count)


def update_tag(
    session: Session,
    *,
    project_id: str,
    tag_id: str,
    name: str | None = None,
    description: str | None = None,
    type: str | None = None,
) -> TagRecord:
    row = _tag_row(session, project_id, tag_id)
    for attr, value in (("name", name), ("description", description), ("type", type)):
        if value is not None:
            setattr(row, attr, value)
    session.flush()
    return get_tag(session, project_id=project_id, tag_id=tag_id)


def delete_tag(session: Session, *, project_id: str, tag_id: str) -> None:
    session.delete(_tag_row(session, project_id, tag_id))


def _project_row(session: Session, project_id: str) -> ProjectRow:
    row = session.get(ProjectRow, project_id)
    if row is None:
        raise NotFound("project", project_id)
    return row


def _tag_row(session: Session, project_id: str, tag_id: str) -> TagRow:
    row = session.get(TagRow, tag_id)
    if row is None or row.project_id != project_id:
        raise NotFound("tag", tag_id)
    return row


def _project(row: ProjectRow) -> ProjectRecord:
    return ProjectRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        classification_type=ClassificationType(row.classification_type),
        domain_id=row.domain_id,
        backbone=row.backbone,
        created=row.created,
        last_modified=row.last_modified,
        training_key=row.training_key,
        prediction_key=row.prediction_key,
    )


def _tag(row: TagRow, image_count: int) -> TagRecord:
    return TagRecord(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        description=row.description,
        type=TagType(row.type),
        created=row.created,
        image_count=image_count,
    )


def count_tags(session: Session, *, project_id: str) -> int:
    return session.scalar(select(func.count(TagRow.id)).where(TagRow.project_id == project_id)) or 0
