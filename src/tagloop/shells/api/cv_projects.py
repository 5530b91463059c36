"""Custom Vision training routes (``/customvision/v3.x/training``), spec §5: domains, projects
and tags. Images are in :mod:`tagloop.shells.api.cv_training`; training, iterations, quick
tests and stored predictions in :mod:`tagloop.shells.api.cv_iterations`.

Each route parses the wire format, calls one workspace function and formats its result.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tagloop.shells.api import cv_models as out
from tagloop.shells.api.cv_wire import (
    JSON_LIMIT,
    P,
    no_content,
    respond,
)
from tagloop.shells.api.deps import (
    json_body,
    json_object,
)
from tagloop.shells.http import authorize, call, get_workspace
from tagloop.workspace import projects, training
from tagloop.workspace.domains import get_domain, list_domains

router = APIRouter()


# Domains and projects ------------------------------------------------------------------------


@router.get("/domains")
async def get_domains(request: Request) -> JSONResponse:
    await authorize(request, "training")
    return respond([out.domain_out(d) for d in list_domains()])


@router.get("/domains/{domain_id}")
async def get_domain_route(request: Request, domain_id: str) -> JSONResponse:
    await authorize(request, "training")
    return respond(out.domain_out(get_domain(domain_id)))


@router.get("/projects")
async def get_projects(request: Request) -> JSONResponse:
    access = await authorize(request, "training")
    found = await call(projects.list_projects, get_workspace(request), access)
    return respond([out.project_out(p) for p in found])


@router.post("/projects")
async def create_project(request: Request) -> JSONResponse:
    access = await authorize(request, "training")
    # CreateProjectOptions (storage URIs) are accepted and not used.
    json_object(await json_body(request, JSON_LIMIT))
    q = request.query_params
    project = await call(
        projects.create_project,
        get_workspace(request),
        access,
        name=q.get("name", ""),
        description=q.get("description", ""),
        classification_type=q.get("classificationType") or "Multiclass",
        domain_id=q.get("domainId") or None,
    )
    return respond(out.project_out(project))


@router.get(P)
async def get_project(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    project = await call(projects.get_project, get_workspace(request), access, project_id)
    return respond(out.project_out(project))


@router.patch(P)
async def update_project(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    body = json_object(await json_body(request, JSON_LIMIT))
    settings = json_object(body.get("settings") or {}, "settings")
    project = await call(
        projects.update_project,
        get_workspace(request),
        access,
        project_id,
        name=body.get("name"),
        description=body.get("description"),
        classification_type=settings.get("classificationType"),
        domain_id=settings.get("domainId"),
    )
    return respond(out.project_out(project))


@router.delete(P)
async def delete_project(request: Request, project_id: str) -> Response:
    access = await authorize(request, "training")
    await call(projects.delete_project, get_workspace(request), access, project_id)
    return no_content()


# Tags -----------------------------------------------------------------------------------------


@router.get(P + "/tags")
async def get_tags(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    iteration_id = request.query_params.get("iterationId")
    tags = await call(projects.list_tags, ws, access, project_id)
    if iteration_id:
        iteration = await call(training.get_iteration, ws, access, project_id, iteration_id)
        trained = {str(t["id"]) for t in iteration.tags}
        tags = [t for t in tags if t.id in trained]
    return respond([out.tag_out(t) for t in tags])


@router.post(P + "/tags")
async def create_tag(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    q = request.query_params
    tag = await call(
        projects.create_tag,
        get_workspace(request),
        access,
        project_id,
        name=q.get("name", ""),
        description=q.get("description", ""),
        type=q.get("type") or "Regular",
    )
    return respond(out.tag_out(tag))


@router.get(P + "/tags/{tag_id}")
async def get_tag(request: Request, project_id: str, tag_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    tag = await call(projects.get_tag, get_workspace(request), access, project_id, tag_id)
    return respond(out.tag_out(tag))


@router.patch(P + "/tags/{tag_id}")
async def update_tag(request: Request, project_id: str, tag_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    body = json_object(await json_body(request, JSON_LIMIT))
    tag = await call(
        projects.update_tag,
        get_workspace(request),
        access,
        project_id,
        tag_id,
        name=body.get("name"),
        description=body.get("description"),
        type=body.get("type"),
    )
    return respond(out.tag_out(tag))


@router.delete(P + "/tags/{tag_id}")
async def delete_tag(request: Request, project_id: str, tag_id: str) -> Response:
    access = await authorize(request, "training")
    await call(projects.delete_tag, get_workspace(request), access, project_id, tag_id)
    return no_content()
