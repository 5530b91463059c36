"""Projects and tags."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from tagloop.errors import Conflict, RequestInvalid, Unauthorized
from tagloop.store.queries import images as image_queries
from tagloop.store.queries import iterations as iteration_queries
from tagloop.store.queries import predictions as prediction_queries
from tagloop.store.queries import projects as queries
from tagloop.store.records import ImageQuery, ProjectRecord, TagRecord
from tagloop.types import ClassificationType, TagType
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.domains import GENERAL, domain_id_for, get_domain

logger = logging.getLogger(__name__)

MAX_NAME = 200


def create_project(
    ws: Workspace,
    access: Access,
    *,
    name: str,
    description: str = "",
    classification_type: str = ClassificationType.MULTICLASS,
    domain_id: str | None = None,
    backbone: str | None = None,
) -> ProjectRecord:
    if access.project_id is not None:
        raise Unauthorized("A project's own key cannot create projects; use the server key.")
    name = _check_name(name, "project")
    description = _check_text(description, "description") or ""
    _check_choice(classification_type, ClassificationType, "classification type")
    if backbone is not None:
        domain_id = domain_id_for(backbone)
    domain = get_domain(domain_id or GENERAL)
    with ws.session() as session:
        project = queries.create_project(
            session,
            name=name,
            description=description or "",
            classification_type=classification_type,
            domain_id=domain.id,
            backbone=domain.backbone,
        )
    logger.info("created project %s (%s)", project.id, project.name)
    return project


def list_projects(ws: Workspace, access: Access) -> list[ProjectRecord]:
    with ws.session() as session:
        ids = None if access.project_id is None else {access.project_id}
        return queries.list_projects(session, project_ids=ids)


def get_project(ws: Workspace, access: Access, project_id: str) -> ProjectRecord:
    access.check(project_id)
    with ws.session() as session:
        return queries.get_project(session, project_id=project_id)


@dataclass(frozen=True)
class ProjectCounts:
    """How much a project holds: images and tags are counted in SQL; iterations are listed."""

    n_images: int = 0
    n_tagged: int = 0
    n_tags: int = 0
    n_iterations: int = 0

    @property
    def n_untagged(self) -> int:
        return self.n_images - self.n_tagged


def list_project_summaries(
    ws: Workspace, access: Access
) -> list[tuple[ProjectRecord, ProjectCounts]]:
    """Every project the key opens, oldest first, with its counts (one session for all)."""
    with ws.session() as session:
        ids = None if access.project_id is None else {access.project_id}
        return [
            (project, _count_contents(session, project.id))
            for project in queries.list_projects(session, project_ids=ids)
        ]


def get_project_summary(
    ws: Workspace, access: Access, project_id: str
) -> tuple[ProjectRecord, ProjectCounts]:
    """A project with its counts of images, tags and iterations."""
    access.check(project_id)
    with ws.session() as session:
        project = queries.get_project(session, project_id=project_id)
        return project, _count_contents(session, project_id)


def _count_contents(session: Session, project_id: str) -> ProjectCounts:
    return ProjectCounts(
        n_images=image_queries.count_images(
            session, project_id=project_id, query=ImageQuery(take=None)
        ),
        n_tagged=image_queries.count_images(
            session, project_id=project_id, query=ImageQuery(tagging="Tagged", take=None)
        ),
        n_tags=queries.count_tags(session, project_id=project_id),
        n_iterations=iteration_queries.count_iterations(session, project_id=project_id),
    )


def update_project(
    ws: Workspace,
    access: Access,
    project_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    classification_type: str | None = None,
    domain_id: str | None = None,
) -> ProjectRecord:
    access.check(project_id)
    if name is not None:
        name = _check_name(name, "project")
    description = _check_text(description, "description")
    if classification_type is not None:
        _check_choice(classification_type, ClassificationType, "classification type")
    backbone = get_domain(domain_id).backbone if domain_id is not None else None
    with ws.session() as session:
        return queries.update_project(
            session,
            project_id=project_id,
            name=name,
            description=description,
            classification_type=classification_type,
            domain_id=domain_id,
            backbone=backbone,
        )


def delete_project(ws: Workspace, access: Access, project_id: str) -> None:
    """Delete the project, its images, iterations and stored predictions, then unused blobs."""
    access.check(project_id)
    with ws.session() as session:
        iterations = iteration_queries.list_iterations(session, project_id=project_id)
        images = image_queries.list_images(
            session, project_id=project_id, query=ImageQuery(take=None)
        )
        preds = prediction_queries.list_predictions(session, project_id=project_id)
        shas = {i.sha256 for i in images} | {p.sha256 for p in preds}
        shas |= {it.model_sha for it in iterations if it.model_sha}
        for it in iterations:
            shas |= {s.sha256 for s in iteration_queries.snapshot(session, iteration_id=it.id)}
        queries.delete_project(session, project_id=project_id)
    for it in iterations:
        ws.forget_predictor(it.id)
    collect_blobs(ws, shas)
    logger.info("deleted project %s", project_id)


def collect_blobs(ws: Workspace, candidates: set[str]) -> None:
    """Remove the blobs among ``candidates`` that no row refers to any more."""
    if not candidates:
        return
    ws.blobs.delete(_unreferenced(ws, candidates))


def _unreferenced(ws: Workspace, shas: set[str]) -> set[str]:
    with ws.session() as session:
        used = image_queries.used_shas(session, shas=shas)
        used |= iteration_queries.snapshot_shas(session, shas=shas)
        used |= prediction_queries.prediction_shas(session, shas=shas)
        used |= iteration_queries.model_shas(session) & shas
    return shas - used


def collect_orphan_blobs(ws: Workspace, min_age: float | None = None) -> int:
    """At start: remove blobs that no row refers to (a process killed between writing a file
    and committing its row leaves one) and staging files of interrupted writes, older than
    ``min_age`` seconds (default: the ``orphan_min_age_seconds`` setting; younger ones may
    belong to another process sharing the data dir). Returns how many files were removed."""
    age = ws.settings.orphan_min_age_seconds if min_age is None else min_age
    shas, staging = ws.blobs.older_than(age)
    for path in staging:
        path.unlink(missing_ok=True)
    before = len(shas)
    removed = ws.blobs.delete(_unreferenced(ws, shas)) if shas else 0
    if removed or staging:
        logger.info(
            "start-up: removed %d orphan blobs (of %d old ones) and %d staging files",
            removed,
            before,
            len(staging),
        )
    return removed + len(staging)


def create_tag(
    ws: Workspace,
    access: Access,
    project_id: str,
    *,
    name: str,
    description: str = "",
    type: str = TagType.REGULAR,
) -> TagRecord:
    access.check(project_id)
    name = _check_name(name, "tag")
    description = _check_text(description, "description") or ""
    _check_choice(type, TagType, "tag type")
    with ws.session() as session:
        queries.get_project(session, project_id=project_id)
        tags = queries.list_tags(session, project_id=project_id)
        _check_tag_unique(tags, name, type, None)
        tag = queries.create_tag(
            session, project_id=project_id, name=name, description=description or "", type=type
        )
        queries.touch_project(session, project_id=project_id)
    return tag


def list_tags(ws: Workspace, access: Access, project_id: str) -> list[TagRecord]:
    access.check(project_id)
    with ws.session() as session:
        queries.get_project(session, project_id=project_id)
        return queries.list_tags(session, project_id=project_id)


def get_tag(ws: Workspace, access: Access, project_id: str, tag_id: str) -> TagRecord:
    access.check(project_id)
    with ws.session() as session:
        queries.get_project(session, project_id=project_id)
        return queries.get_tag(session, project_id=project_id, tag_id=tag_id)


def update_tag(
    ws: Workspace,
    access: Access,
    project_id: str,
    tag_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    type: str | None = None,
) -> TagRecord:
    access.check(project_id)
    if name is not None:
        name = _check_name(name, "tag")
    description = _check_text(description, "description")
    if type is not None:
        _check_choice(type, TagType, "tag type")
    with ws.session() as session:
        queries.get_project(session, project_id=project_id)
        current = queries.get_tag(session, project_id=project_id, tag_id=tag_id)
        tags = queries.list_tags(session, project_id=project_id)
        _check_tag_unique(tags, name or current.name, type or current.type, tag_id)
        return queries.update_tag(
            session,
            project_id=project_id,
            tag_id=tag_id,
            name=name,
            description=description,
            type=type,
        )


def delete_tag(ws: Workspace, access: Access, project_id: str, tag_id: str) -> None:
    access.check(project_id)
    with ws.session() as session:
        queries.get_project(session, project_id=project_id)
        queries.delete_tag(session, project_id=project_id, tag_id=tag_id)
        queries.touch_project(session, project_id=project_id)


def _check_tag_unique(tags: list[TagRecord], name: str, type: str, tag_id: str | None) -> None:
    others = [t for t in tags if t.id != tag_id]
    if any(t.name.casefold() == name.casefold() for t in others):
        raise Conflict("tag_name_taken", f"The project already has a tag named {name!r}.")
    if type == TagType.NEGATIVE and any(t.type == TagType.NEGATIVE for t in others):
        raise Conflict("multiple_negative_tags", "A project has at most one Negative tag.")


def _check_name(name: object, what: str) -> str:
    if name is not None and not isinstance(name, str):
        raise RequestInvalid(f"The {what} name must be a string.")
    name = (name or "").strip()
    if not name:
        raise RequestInvalid(f"The {what} name is missing; give a non-empty name.")
    if len(name) > MAX_NAME:
        raise RequestInvalid(f"The {what} name is longer than {MAX_NAME} characters.")
    return name


def _check_choice(value: str, choices: type[StrEnum], what: str) -> None:
    names = [choice.value for choice in choices]
    if value not in names:
        raise RequestInvalid(f"Unknown {what} {value!r}; use one of {', '.join(names)}.")


def _check_text(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise RequestInvalid(f"The {what} must be a string.")
    return value
