"""Images of a project: rows, tag links and metadata."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import Select, and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from tagloop.errors import NotFound
from tagloop.store.records import (
    ImageQuery,
    ImageRecord,
    ImageTagRecord,
    MetadataFilter,
)
from tagloop.store.tables import ImageMetadataRow, ImageRow, ImageTagRow, TagRow


def find_image_by_sha(session: Session, *, project_id: str, sha256: str) -> ImageRecord | None:
    row = session.scalar(
        select(ImageRow).where(ImageRow.project_id == project_id, ImageRow.sha256 == sha256)
    )
    return None if row is None else _records(session, [row])[0]


def add_image(
    session: Session,
    *,
    project_id: str,
    sha256: str,
    width: int,
    height: int,
    format: str,
    n_bytes: int,
    dhash: str,
    source_name: str,
) -> str:
    row = ImageRow(
        project_id=project_id,
        sha256=sha256,
        width=width,
        height=height,
        format=format,
        n_bytes=n_bytes,
        dhash=dhash,
        source_name=source_name,
    )
    session.add(row)
    session.flush()
    return row.id


def get_images(
    session: Session, *, project_id: str, image_ids: Sequence[str], strict: bool = True
) -> list[ImageRecord]:
    """Images in the order asked; an unknown id raises ``NotFound`` unless ``strict`` is off."""
    rows = {
        row.id: row
        for row in session.scalars(
            select(ImageRow).where(ImageRow.project_id == project_id, ImageRow.id.in_(image_ids))
        )
    }
    missing = [i for i in image_ids if i not in rows]
    if missing and strict:
        raise NotFound("image", missing[0])
    return _records(session, [rows[i] for i in image_ids if i in rows])


def list_images(session: Session, *, project_id: str, query: ImageQuery) -> list[ImageRecord]:
    order = ImageRow.created.desc() if query.newest_first else ImageRow.created.asc()
    stmt = _filtered(select(ImageRow), project_id, query).order_by(order, ImageRow.id)
    stmt = stmt.offset(query.skip)
    if query.take is not None:
        stmt = stmt.limit(query.take)
    return _records(session, list(session.scalars(stmt)))


def count_images(session: Session, *, project_id: str, query: ImageQuery) -> int:
    stmt = _filtered(select(func.count(ImageRow.id)), project_id, query)
    return session.scalar(stmt) or 0


def training_images(session: Session, *, project_id: str) -> list[ImageRecord]:
    """Every tagged image of the project, oldest first (the workspace a training run uses)."""
    query = ImageQuery(tagging="Tagged", newest_first=False, take=None)
    return list_images(session, project_id=project_id, query=query)


def delete_images(
    session: Session, *, project_id: str, image_ids: Sequence[str] | None
) -> set[str]:
    """Delete the given images (all of the project's when ``None``); returns their sha256s."""
    stmt = select(ImageRow).where(ImageRow.project_id == project_id)
    if image_ids is not None:
        stmt = stmt.where(ImageRow.id.in_(image_ids))
    rows = list(session.scalars(stmt))
    for row in rows:
        session.delete(row)
    return {row.sha256 for row in rows}


def link_tags(
    session: Session, *, pairs: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Add (image_id, tag_id) links; returns (created, already present)."""
    if not pairs:
        return [], []
    image_ids = {image_id for image_id, _ in pairs}
    present: set[tuple[str, str]] = {
        (image_id, tag_id)
        for image_id, tag_id in session.execute(
            select(ImageTagRow.image_id, ImageTagRow.tag_id).where(
                ImageTagRow.image_id.in_(image_ids)
            )
        )
    }
    created, duplicated = [], []
    for pair in dict.fromkeys(pairs):
        if pair in present:
            duplicated.append(pair)
            continue
        session.add(ImageTagRow(image_id=pair[0], tag_id=pair[1]))
        present.add(pair)
        created.append(pair)
    session.flush()
    return created, duplicated


def tag_ids_of(session: Session, *, image_ids: Sequence[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for image_id, tag_id in session.execute(
        select(ImageTagRow.image_id, ImageTagRow.tag_id).where(ImageTagRow.image_id.in_(image_ids))
    ):
        out[image_id].add(tag_id)
    return out


def unlink_tags(
    session: Session, *, project_id: str, image_ids: Sequence[str], tag_ids: Sequence[str]
) -> int:
    """Remove the links between ``image_ids`` and ``tag_ids`` of images of ``project_id`` only
    (ids of another project's images are ignored, whatever key asked)."""
    own_images = select(ImageRow.id).where(
        ImageRow.project_id == project_id, ImageRow.id.in_(image_ids)
    )
    result = session.execute(
        delete(ImageTagRow).where(
            ImageTagRow.image_id.in_(own_images), ImageTagRow.tag_id.in_(tag_ids)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def set_metadata(session: Session, *, image_id: str, metadata: Mapping[str, str]) -> dict[str, str]:
    """Merge ``metadata`` into the image's key/values; returns the full mapping."""
    current = {
        row.key: row
        for row in session.scalars(
            select(ImageMetadataRow).where(ImageMetadataRow.image_id == image_id)
        )
    }
    for key, value in metadata.items():
        if key in current:
            current[key].value = value
        else:
            current[key] = ImageMetadataRow(image_id=image_id, key=key, value=value)
            session.add(current[key])
    session.flush()
    return {key: row.value for key, row in current.items()}


def _filtered(
    stmt: Select[tuple[object]], project_id: str, query: ImageQuery
) -> Select[tuple[object]]:
    stmt = stmt.where(ImageRow.project_id == project_id)
    has_tag = exists().where(ImageTagRow.image_id == ImageRow.id)
    if query.tagging == "Tagged":
        stmt = stmt.where(has_tag)
    elif query.tagging == "Untagged":
        stmt = stmt.where(~has_tag)
    if query.tag_ids:
        stmt = stmt.where(
            exists().where(
                ImageTagRow.image_id == ImageRow.id, ImageTagRow.tag_id.in_(query.tag_ids)
            )
        )
    if query.metadata:
        stmt = stmt.where(_metadata_clause(query.metadata))
    return stmt


def _metadata_clause(metadata: MetadataFilter):  # type: ignore[no-untyped-def]
    groups = []
    for group in metadata:
        conditions = []
        for cond in group:
            match = exists().where(
                ImageMetadataRow.image_id == ImageRow.id,
                ImageMetadataRow.key == cond.key,
                ImageMetadataRow.value == cond.value,
            )
            conditions.append(match if cond.op == "eq" else ~match)
        groups.append(and_(*conditions))
    return or_(*groups)


def _records(session: Session, rows: list[ImageRow]) -> list[ImageRecord]:
    if not rows:
        return []
    ids = [row.id for row in rows]
    tags: dict[str, list[ImageTagRecord]] = defaultdict(list)
    for image_id, tag_id, tag_name, created in session.execute(
        select(ImageTagRow.image_id, TagRow.id, TagRow.name, ImageTagRow.created)
        .join(TagRow, TagRow.id == ImageTagRow.tag_id)
        .where(ImageTagRow.image_id.in_(ids))
        .order_by(TagRow.name)
    ):
        tags[image_id].append(ImageTagRecord(tag_id=tag_id, tag_name=tag_name, created=created))
    metadata: dict[str, dict[str, str]] = defaultdict(dict)
    for image_id, key, value in session.execute(
        select(ImageMetadataRow.image_id, ImageMetadataRow.key, ImageMetadataRow.value).where(
            ImageMetadataRow.image_id.in_(ids)
        )
    ):
        metadata[image_id][key] = value
    return [
        ImageRecord(
            id=row.id,
            project_id=row.project_id,
            sha256=row.sha256,
            width=row.width,
            height=row.height,
            created=row.created,
            format=row.format,
            n_bytes=row.n_bytes,
            source_name=row.source_name,
            tags=tuple(tags.get(row.id, ())),
            metadata=metadata.get(row.id, {}),
        )
        for row in rows
    ]


def used_shas(session: Session, *, shas: set[str]) -> set[str]:
    return set(session.scalars(select(ImageRow.sha256).where(ImageRow.sha256.in_(shas))))
