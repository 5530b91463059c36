"""Custom Vision training routes (``/customvision/v3.x/training``), spec §5: training,
iterations, their performance, publishing and export, quick tests and stored predictions.

Each route parses the wire format, calls one workspace function and formats its result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tagloop.errors import RequestInvalid
from tagloop.shells.api import cv_models as out
from tagloop.shells.api.cv_wire import (
    JSON_LIMIT,
    I,
    P,
    continuation,
    links_for,
    no_content,
    optional_str,
    respond,
    str_list,
    training_type_of,
)
from tagloop.shells.api.deps import (
    csv_ids,
    image_at_url,
    json_body,
    json_object,
    parse_bool,
    parse_float,
    parse_int,
    prediction_image,
)
from tagloop.shells.http import authorize, call, get_workspace
from tagloop.workspace import performance, predictions, training
from tagloop.workspace.predictions import PredictionQuery

router = APIRouter()


# Training and iterations ------------------------------------------------------------------------


@router.post(P + "/train")
async def train_project(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    body = json_object(await json_body(request, JSON_LIMIT))
    q = request.query_params
    training_type, budget = training_type_of(q.get("trainingType"), q.get("reservedBudgetInHours"))
    selected = str_list(body.get("selectedTags"), "selectedTags") or None
    ws = get_workspace(request)
    iteration = await call(
        training.start_training,
        ws,
        access,
        project_id,
        force=parse_bool(q.get("forceTrain")),
        selected_tag_ids=selected,
        training_type=training_type,
        budget_seconds=None if budget is None else min(budget, ws.settings.advanced_budget_seconds),
    )
    return respond(out.iteration_out(iteration))


@router.get(P + "/iterations")
async def get_iterations(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    found = await call(training.list_iterations, get_workspace(request), access, project_id)
    return respond([out.iteration_out(i) for i in found])


@router.get(I)
async def get_iteration(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    found = await call(
        training.get_iteration, get_workspace(request), access, project_id, iteration_id
    )
    return respond(out.iteration_out(found))


@router.patch(I)
async def update_iteration(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    body = json_object(await json_body(request, JSON_LIMIT))
    found = await call(
        training.rename_iteration,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        str(body.get("name") or ""),
    )
    return respond(out.iteration_out(found))


@router.delete(I)
async def delete_iteration(request: Request, project_id: str, iteration_id: str) -> Response:
    access = await authorize(request, "training")
    await call(training.delete_iteration, get_workspace(request), access, project_id, iteration_id)
    return no_content()


@router.get(I + "/performance")
async def get_iteration_performance(
    request: Request, project_id: str, iteration_id: str
) -> JSONResponse:
    access = await authorize(request, "training")
    threshold = parse_float(request.query_params.get("threshold"), "threshold", 0.5)
    perf = await call(
        performance.iteration_performance,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        threshold=threshold,
    )
    return respond(out.performance_out(perf))


async def _image_performances(
    request: Request, project_id: str, iteration_id: str
) -> tuple[list[Any], dict[str, str]]:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    tag_ids = csv_ids(request.query_params.get("tagIds"), "tagIds", limit=20)
    results = await call(
        performance.image_results, ws, access, project_id, iteration_id, tag_ids=tag_ids
    )
    iteration = await call(training.get_iteration, ws, access, project_id, iteration_id)
    return results, {str(t["id"]): str(t["name"]) for t in iteration.tags}


@router.get(I + "/performance/images")
async def get_image_performances(
    request: Request, project_id: str, iteration_id: str
) -> JSONResponse:
    results, names = await _image_performances(request, project_id, iteration_id)
    q = request.query_params
    if (q.get("orderBy") or "Newest") == "Newest":
        results = results[::-1]
    skip = parse_int(q.get("skip"), "skip", 0, 0, 10**9)
    take = parse_int(q.get("take"), "take", 50, 0, 256)
    links = links_for(request)
    return respond(
        [
            out.image_performance_out(project_id, r, names, links)
            for r in results[skip : skip + take]
        ]
    )


@router.get(I + "/performance/images/count")
async def get_image_performance_count(
    request: Request, project_id: str, iteration_id: str
) -> JSONResponse:
    results, _ = await _image_performances(request, project_id, iteration_id)
    return respond(len(results))


@router.post(I + "/publish")
async def publish_iteration(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    q = request.query_params
    await call(
        training.publish_iteration,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        publish_name=q.get("publishName", ""),
        resource_id=q.get("predictionId"),
        overwrite=parse_bool(q.get("overwrite")),
    )
    return respond(True)


@router.delete(I + "/publish")
async def unpublish_iteration(request: Request, project_id: str, iteration_id: str) -> Response:
    access = await authorize(request, "training")
    await call(
        training.unpublish_iteration, get_workspace(request), access, project_id, iteration_id
    )
    return no_content()


@router.get(I + "/export")
async def get_exports(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    iteration = await call(
        training.get_iteration, get_workspace(request), access, project_id, iteration_id
    )
    if not iteration.is_completed:
        return respond([])
    return respond([_export_out(request, project_id, iteration_id)])


@router.post(I + "/export")
async def export_iteration(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    platform = request.query_params.get("platform") or ""
    if platform != "ONNX":
        raise RequestInvalid("tagloop exports ONNX only (platform=ONNX).")
    await call(training.model_files, get_workspace(request), access, project_id, iteration_id)
    return respond(_export_out(request, project_id, iteration_id))


def _export_out(request: Request, project_id: str, iteration_id: str) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "platform": "ONNX",
        "status": "Done",
        "downloadUri": f"{base}/api/v1/projects/{project_id}/iterations/{iteration_id}/export",
        "flavor": None,
        "newerVersionAvailable": False,
    }


# Quick test and stored predictions ------------------------------------------------------------


async def _quick_test(request: Request, project_id: str, data: bytes) -> JSONResponse:
    access = await authorize(request, "training")
    q = request.query_params
    answer = await call(
        predictions.quick_test,
        get_workspace(request),
        access,
        project_id,
        data,
        iteration_id=q.get("iterationId") or None,
        store=parse_bool(q.get("store"), default=True),
    )
    return respond(out.answer_out(answer))


@router.post(P + "/quicktest/image")
async def quick_test_image(request: Request, project_id: str) -> JSONResponse:
    await authorize(request, "training")
    return await _quick_test(request, project_id, await prediction_image(request))


@router.post(P + "/quicktest/url")
async def quick_test_image_url(request: Request, project_id: str) -> JSONResponse:
    await authorize(request, "training")
    return await _quick_test(request, project_id, await image_at_url(request))


@router.post(P + "/predictions/query")
async def query_predictions(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    token = json_object(await json_body(request, JSON_LIMIT))
    order = token.get("orderBy") or "Newest"
    if order not in ("Newest", "Oldest", "Suggested"):
        raise RequestInvalid("orderBy must be Newest, Oldest or Suggested.")
    windows = []
    tags = token.get("tags") or []
    if not isinstance(tags, list):
        raise RequestInvalid("tags must be a list of {id, minThreshold, maxThreshold}.")
    for field in ("iterationId", "application", "startTime", "endTime", "orderBy"):
        if token.get(field) is not None and not isinstance(token.get(field), str):
            raise RequestInvalid(f"{field} must be a string.")
    for tag in tags:
        if not isinstance(tag, dict) or not tag.get("id"):
            raise RequestInvalid("Each entry of tags needs an id.")
        windows.append(
            (
                str(tag["id"]),
                parse_float(optional_str(tag.get("minThreshold")), "minThreshold", 0.0),
                parse_float(optional_str(tag.get("maxThreshold")), "maxThreshold", 1.0),
            )
        )
    query = PredictionQuery(
        iteration_id=token.get("iterationId") or None,
        application=token.get("application") or None,
        start=_time(token.get("startTime")),
        end=_time(token.get("endTime")),
        tag_windows=tuple(windows),
        order_by=order,
        skip=continuation(token.get("continuation")),
        max_count=parse_int(optional_str(token.get("maxCount")), "maxCount", 50, 0, 256),
    )
    page, more = await call(
        predictions.query_predictions, get_workspace(request), access, project_id, query
    )
    echoed = {
        **token,
        "session": token.get("session") or "tagloop",
        "continuation": str(query.skip + query.max_count) if more else None,
    }
    links = links_for(request)
    return respond(
        {"token": echoed, "results": [out.stored_prediction_out(p, links) for p in page]}
    )


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise RequestInvalid(f"{value!r} is not an ISO 8601 time.") from None
    if parsed.tzinfo is not None:
        from datetime import UTC

        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@router.delete(P + "/predictions")
async def delete_prediction(request: Request, project_id: str) -> Response:
    access = await authorize(request, "training")
    ids = csv_ids(request.query_params.get("ids"), "ids", required=True, limit=64)
    await call(predictions.delete_predictions, get_workspace(request), access, project_id, ids)
    return no_content()
