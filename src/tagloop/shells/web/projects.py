"""Pages: the project list and a project's training images."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from tagloop.embed.backbones import DEFAULT_BACKBONE, list_backbones
from tagloop.shells.http import call
from tagloop.shells.web.render import page_access, render
from tagloop.store.records import ImageQuery
from tagloop.workspace import images, projects, training

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 60
UPLOAD_BATCH = 16  # files per upload request (the API takes up to max_batch_images)


@router.get("/")
async def project_list(request: Request) -> Response:
    ws, access = await page_access(request)
    summaries = await call(projects.list_project_summaries, ws, access)
    backbones = [
        {"name": s.name, "description": s.description, "is_default": s.name == DEFAULT_BACKBONE}
        for s in list_backbones()
    ]
    return render(
        request,
        "projects.html",
        summaries=summaries,
        backbones=backbones,
        can_create=access.project_id is None,
    )


@router.get("/projects/{project_id}")
async def project_home(request: Request, project_id: str) -> Response:
    return RedirectResponse(f"/projects/{project_id}/images", status_code=303)


@router.get("/projects/{project_id}/images")
async def image_page(
    request: Request,
    project_id: str,
    tag: Annotated[str, Query(description="'', 'untagged' or a tag id")] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    ws, access = await page_access(request)
    project, counts = await call(projects.get_project_summary, ws, access, project_id)
    tags = await call(projects.list_tags, ws, access, project_id)
    if tag == "untagged":
        base = ImageQuery(tagging="Untagged")
    elif tag:
        await call(projects.get_tag, ws, access, project_id, tag)  # 404 for an unknown tag
        base = ImageQuery(tag_ids=(tag,))
    else:
        base = ImageQuery()
    total = await call(images.count_images, ws, access, project_id, base)
    n_pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, n_pages)
    query = replace(base, skip=(page - 1) * PAGE_SIZE, take=PAGE_SIZE)
    shown = await call(images.list_images, ws, access, project_id, query)
    trained = await call(training.completed_iterations, ws, access, project_id)
    return render(
        request,
        "images.html",
        latest=trained[-1] if trained else None,
        project=project,
        counts=counts,
        tags=tags,
        tag_filter=tag,
        images=shown,
        total=total,
        page=page,
        n_pages=n_pages,
        upload_batch=min(UPLOAD_BATCH, ws.settings.max_batch_images),
        max_image_bytes=ws.settings.max_training_image_bytes,
        section="images",
    )
