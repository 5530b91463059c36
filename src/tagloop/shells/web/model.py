"""Pages: training and iterations (publish, export), and an iteration's performance."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tagloop.errors import NotFound
from tagloop.shells.http import call
from tagloop.shells.web.render import page_access, render
from tagloop.store.records import IterationRecord
from tagloop.train.budget import MAX_BUDGET_SECONDS
from tagloop.types import IterationStatus
from tagloop.workspace import performance, projects, training
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.performance import NO_TAG
from tagloop.workspace.readiness import tag_count_warnings

router = APIRouter(include_in_schema=False)
RESULTS_PAGE = 48


@router.get("/projects/{project_id}/train")
async def train_page(request: Request, project_id: str) -> Response:
    ws, access = await page_access(request)
    project, counts = await call(projects.get_project_summary, ws, access, project_id)
    tags = await call(projects.list_tags, ws, access, project_id)
    iterations = await call(training.list_iterations, ws, access, project_id)
    running = [it for it in iterations if it.status == IterationStatus.TRAINING]
    # The Performance page's evaluation at its default threshold, so both pages agree.
    scores = {
        it.id: (await call(performance.iteration_performance, ws, access, project_id, it.id)).report
        for it in iterations
        if it.is_completed
    }
    progress = {}
    for it in running:
        job = await call(training.training_progress, ws, access, project_id, it.id)
        progress[it.id] = dict(job.progress or {}) if job else {}
    base = str(request.base_url).rstrip("/")
    return render(
        request,
        "train.html",
        project=project,
        counts=counts,
        tags=tags,
        iterations=list(reversed(iterations)),
        running=running,
        scores=scores,
        progress=progress,
        notices=tag_count_warnings(tags, n_untagged=counts.n_untagged),
        endpoint=base,
        default_budget_minutes=max(1, round(ws.settings.advanced_budget_seconds / 60)),
        max_budget_minutes=int(MAX_BUDGET_SECONDS // 60),
        section="train",
    )


@router.get("/projects/{project_id}/performance")
async def performance_page(
    request: Request,
    project_id: str,
    iteration: str = "",
    compare: str = "",
    threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.5,
    true: str = "",
    predicted: str = "",
    wrong: bool = False,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    ws, access = await page_access(request)
    project, counts = await call(projects.get_project_summary, ws, access, project_id)
    done = await call(training.completed_iterations, ws, access, project_id)
    context: dict[str, Any] = {
        "project": project,
        "counts": counts,
        "section": "performance",
        "completed": list(reversed(done)),
        "threshold": threshold,
    }
    if not done:
        return render(request, "performance.html", shown=[], **context)
    selected = _pick(done, iteration) or done[-1]
    other = _pick(done, compare) if compare and compare != selected.id else None
    shown = [await _iteration_view(ws, access, it, threshold) for it in (selected, other) if it]
    results = await call(
        performance.image_results,
        ws,
        access,
        project_id,
        selected.id,
        tag_ids=[true] if true else [],
        only_wrong=wrong,
        predicted_tag_id=predicted or None,
        threshold=threshold,
    )
    n_pages = max(1, math.ceil(len(results) / RESULTS_PAGE))
    page = min(page, n_pages)
    return render(
        request,
        "performance.html",
        shown=shown,
        selected=selected,
        other=other,
        names={**{str(t["id"]): str(t["name"]) for t in selected.tags}, NO_TAG: "no tag"},
        results=results[(page - 1) * RESULTS_PAGE : page * RESULTS_PAGE],
        n_results=len(results),
        page=page,
        n_pages=n_pages,
        true_tag=true,
        predicted_tag=predicted,
        wrong=wrong,
        **context,
    )


def _pick(done: list[IterationRecord], iteration_id: str) -> IterationRecord | None:
    if not iteration_id:
        return None
    for it in done:
        if it.id == iteration_id:
            return it
    raise NotFound("iteration", iteration_id, f"No trained iteration {iteration_id} here.")


async def _iteration_view(
    ws: Workspace, access: Access, iteration: IterationRecord, threshold: float
) -> dict[str, Any]:
    perf = await call(
        performance.iteration_performance,
        ws,
        access,
        iteration.project_id,
        iteration.id,
        threshold=threshold,
    )
    return {
        "iteration": iteration,
        "report": perf.report,
        "per_tag": perf.tag_metrics(),
        "matrix": _matrix(perf),
    }


def _matrix(perf: performance.Performance) -> dict[str, Any]:
    """The confusion matrix at the threshold with tag ids, so a cell can link to its images:
    rows are true tags, columns the tags given, then "no tag" (given none)."""
    report = perf.report
    rows = [[*row, none] for row, none in zip(report.matrix, report.no_label, strict=True)]
    return {
        "tags": [(str(t["id"]), str(t["name"])) for t in perf.tags],
        "columns": [*((str(t["id"]), str(t["name"])) for t in perf.tags), (NO_TAG, "no tag")],
        "rows": rows,
        "max": max((max(r) for r in rows if r), default=0) or 1,
    }
