"""Backbones, projects and tags."""

from __future__ import annotations

from fastapi import Request

from tagloop.embed.backbones import DEFAULT_BACKBONE, list_backbones
from tagloop.shells.api.native.formats import project_out, tag_out
from tagloop.shells.api.native.wire import KeyAccess, P, native_router
from tagloop.shells.api.schemas import (
    BackboneOut,
    ProjectIn,
    ProjectOut,
    ProjectUpdateIn,
    TagIn,
    TagOut,
    TagUpdateIn,
)
from tagloop.shells.http import call, get_workspace
from tagloop.workspace import projects
from tagloop.workspace.domains import domain_id_for
from tagloop.workspace.projects import ProjectCounts

router = native_router("projects")
tag_router = native_router("tags")


@router.get("/backbones")
async def get_backbones() -> list[BackboneOut]:
    """The backbones a project can be built on; ``is_default`` marks the one used if unset."""
    return [
        BackboneOut(
            name=spec.name,
            description=spec.description,
            input_size=spec.preprocess.image_size,
            feature_dim=spec.feature_dim,
            is_default=spec.name == DEFAULT_BACKBONE,
        )
        for spec in list_backbones()
    ]


@router.get("/projects")
async def get_projects(access: KeyAccess, request: Request) -> list[ProjectOut]:
    """Every project the key opens, oldest first, with its counts."""
    found = await call(projects.list_project_summaries, get_workspace(request), access)
    return [project_out(project, counts) for project, counts in found]


@router.post("/projects", status_code=201)
async def create_project(access: KeyAccess, request: Request, body: ProjectIn) -> ProjectOut:
    """Create an empty project (needs the server's training key)."""
    project = await call(
        projects.create_project,
        get_workspace(request),
        access,
        name=body.name,
        description=body.description,
        classification_type=body.classification_type,
        backbone=body.backbone,
    )
    return project_out(project, ProjectCounts())


@router.get(P)
async def get_project(access: KeyAccess, request: Request, project_id: str) -> ProjectOut:
    """One project with its counts of images, tags and iterations."""
    project, counts = await call(
        projects.get_project_summary, get_workspace(request), access, project_id
    )
    return project_out(project, counts)


@router.patch(P)
async def update_project(
    access: KeyAccess, request: Request, project_id: str, body: ProjectUpdateIn
) -> ProjectOut:
    """Change the fields given; a new backbone or type applies from the next training."""
    ws = get_workspace(request)
    await call(
        projects.update_project,
        ws,
        access,
        project_id,
        name=body.name,
        description=body.description,
        classification_type=body.classification_type,
        domain_id=None if body.backbone is None else domain_id_for(body.backbone),
    )
    project, counts = await call(projects.get_project_summary, ws, access, project_id)
    return project_out(project, counts)


@router.delete(P, status_code=204)
async def delete_project(access: KeyAccess, request: Request, project_id: str) -> None:
    """Delete the project with its images, iterations and stored predictions."""
    await call(projects.delete_project, get_workspace(request), access, project_id)


@tag_router.get(P + "/tags")
async def get_tags(access: KeyAccess, request: Request, project_id: str) -> list[TagOut]:
    """The project's tags with how many images carry each."""
    found = await call(projects.list_tags, get_workspace(request), access, project_id)
    return [tag_out(t) for t in found]


@tag_router.post(P + "/tags", status_code=201)
async def create_tag(access: KeyAccess, request: Request, project_id: str, body: TagIn) -> TagOut:
    """Add a tag; names are unique per project, and at most one tag is Negative."""
    tag = await call(
        projects.create_tag,
        get_workspace(request),
        access,
        project_id,
        name=body.name,
        description=body.description,
        type=body.type,
    )
    return tag_out(tag)


@tag_router.get(P + "/tags/{tag_id}")
async def get_tag(access: KeyAccess, request: Request, project_id: str, tag_id: str) -> TagOut:
    """One tag with its image count."""
    return tag_out(await call(projects.get_tag, get_workspace(request), access, project_id, tag_id))


@tag_router.patch(P + "/tags/{tag_id}")
async def update_tag(
    access: KeyAccess, request: Request, project_id: str, tag_id: str, body: TagUpdateIn
) -> TagOut:
    """Rename a tag, or change its description or type."""
    tag = await call(
        projects.update_tag,
        get_workspace(request),
        access,
        project_id,
        tag_id,
        name=body.name,
        description=body.description,
        type=body.type,
    )
    return tag_out(tag)


@tag_router.delete(P + "/tags/{tag_id}", status_code=204)
async def delete_tag(access: KeyAccess, request: Request, project_id: str, tag_id: str) -> None:
    """Delete a tag; images keep their other tags."""
    await call(projects.delete_tag, get_workspace(request), access, project_id, tag_id)
