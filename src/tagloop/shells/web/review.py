"""Pages: Predictions (what to label next) and Quick test."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tagloop.errors import NotFound
from tagloop.shells.http import call
from tagloop.shells.web.render import page_access, render
from tagloop.types import TagType
from tagloop.workspace import projects, training
from tagloop.workspace.review import review_queue

router = APIRouter(include_in_schema=False)
QUEUE_SIZE = 48


@router.get("/projects/{project_id}/predictions")
async def predictions_page(request: Request, project_id: str) -> Response:
    ws, access = await page_access(request)
    project, counts = await call(projects.get_project_summary, ws, access, project_id)
    tags = await call(projects.list_tags, ws, access, project_id)
    try:
        queue = await call(review_queue, ws, access, project_id, take=QUEUE_SIZE)
    except NotFound:  # nothing trained yet
        queue = None
    return render(
        request,
        "predictions.html",
        project=project,
        counts=counts,
        tags=[t for t in tags if t.type != TagType.NEGATIVE],
        negative=next((t for t in tags if t.type == TagType.NEGATIVE), None),
        queue=queue,
        section="predictions",
    )


@router.get("/projects/{project_id}/quicktest")
async def quick_test_page(request: Request, project_id: str) -> Response:
    ws, access = await page_access(request)
    project, counts = await call(projects.get_project_summary, ws, access, project_id)
    done = await call(training.completed_iterations, ws, access, project_id)
    return render(
        request,
        "quicktest.html",
        project=project,
        counts=counts,
        completed=list(reversed(done)),
        max_image_bytes=ws.settings.max_prediction_image_bytes,
        section="quicktest",
    )
