"""Custom Vision training routes (``/customvision/v3.x/training``): spec §5.

Each route parses the wire format, calls one workspace function and formats its result.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tagloop.errors import RequestInvalid
from tagloop.shells.api import cv_models as out
from tagloop.shells.api.deps import (
    csv_ids,
    image_at_url,
    image_parts,
    json_body,
    json_object,
    parse_bool,
    parse_float,
    parse_int,
    prediction_image,
)
from tagloop.shells.http import authorize, call, get_workspace
from tagloop.store.records import ImageQuery, SnapshotImage
from tagloop.types import TrainingType
from tagloop.workspace import filters, images, predictions, projects, training
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.domains import get_domain, list_domains
from tagloop.workspace.images import Upload
from tagloop.workspace.predictions import PredictionQuery

router = APIRouter()
P = "/projects/{project_id}"
JSON_LIMIT = 1024 * 1024


def _ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _no_content() -> Response:
    return Response(status_code=204)


def _links(request: Request) -> out.Links:
    return out.Links(str(request.base_url))


# Domains and projects ------------------------------------------------------------------------


@router.get("/domains")
async def get_domains(request: Request) -> JSONResponse:
    await authorize(request, "training")
    return _ok([out.domain_out(d) for d in list_domains()])


@router.get("/domains/{domain_id}")
async def get_domain_route(request: Request, domain_id: str) -> JSONResponse:
    await authorize(request, "training")
    return _ok(out.domain_out(get_domain(domain_id)))


@router.get("/projects")
async def get_projects(request: Request) -> JSONResponse:
    access = await authorize(request, "training")
    found = await call(projects.list_projects, get_workspace(request), access)
    return _ok([out.project_out(p) for p in found])


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
    return _ok(out.project_out(project))


@router.get(P)
async def get_project(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    project = await call(projects.get_project, get_workspace(request), access, project_id)
    return _ok(out.project_out(project))


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
    return _ok(out.project_out(project))


@router.delete(P)
async def delete_project(request: Request, project_id: str) -> Response:
    access = await authorize(request, "training")
    await call(projects.delete_project, get_workspace(request), access, project_id)
    return _no_content()


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
    return _ok([out.tag_out(t) for t in tags])


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
    return _ok(out.tag_out(tag))


@router.get(P + "/tags/{tag_id}")
async def get_tag(request: Request, project_id: str, tag_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    tag = await call(projects.get_tag, get_workspace(request), access, project_id, tag_id)
    return _ok(out.tag_out(tag))


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
    return _ok(out.tag_out(tag))


@router.delete(P + "/tags/{tag_id}")
async def delete_tag(request: Request, project_id: str, tag_id: str) -> Response:
    access = await authorize(request, "training")
    await call(projects.delete_tag, get_workspace(request), access, project_id, tag_id)
    return _no_content()


# Images ---------------------------------------------------------------------------------------


@router.post(P + "/images")
async def create_images_from_data(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    tag_ids = csv_ids(request.query_params.get("tagIds"), "tagIds", limit=20)
    parts = await image_parts(
        request, limit=ws.settings.max_training_image_bytes, max_parts=ws.settings.max_batch_images
    )
    uploads = [Upload(p.filename or p.name, p.data) for p in parts]
    results = await call(images.add_images, ws, access, project_id, uploads, tag_ids=tag_ids)
    status, body = out.create_summary(results, _links(request))
    return _ok(body, status)


def _batch(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    entries = body.get("images")
    if not isinstance(entries, list):
        raise RequestInvalid("The batch needs an images list.")
    if not all(isinstance(e, dict) for e in entries):
        raise RequestInvalid("Each entry of images must be an object.")
    return entries, _str_list(body.get("tagIds"), "tagIds"), body.get("metadata") or {}


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestInvalid(f"{what} must be a list of ids.")
    return value


def _batch_limit(request: Request) -> int:
    s = get_workspace(request).settings
    return s.max_batch_images * (s.max_training_image_bytes * 4 // 3 + 4096) + JSON_LIMIT


@router.post(P + "/images/files")
async def create_images_from_files(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    entries, tag_ids, metadata = _batch(
        json_object(await json_body(request, _batch_limit(request)))
    )
    images.check_batch(ws, len(entries))
    uploads = []
    for i, entry in enumerate(entries):
        name = str(entry.get("name") or f"image {i + 1}")
        try:
            data = base64.b64decode(entry.get("contents") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            uploads.append(Upload(name, None, error="ErrorImageFormat", reason="not base64"))
            continue
        uploads.append(Upload(name, data, tuple(_str_list(entry.get("tagIds"), "tagIds"))))
    results = await call(
        images.add_images, ws, access, project_id, uploads, tag_ids=tag_ids, metadata=metadata
    )
    status, body = out.create_summary(results, _links(request))
    return _ok(body, status)


@router.post(P + "/images/urls")
async def create_images_from_urls(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    entries, tag_ids, metadata = _batch(json_object(await json_body(request, JSON_LIMIT)))
    await call(projects.get_project, ws, access, project_id)
    pairs = [(str(e.get("url") or ""), _str_list(e.get("tagIds"), "tagIds")) for e in entries]
    uploads = await call(images.fetch_uploads, ws, pairs)
    results = await call(
        images.add_images, ws, access, project_id, uploads, tag_ids=tag_ids, metadata=metadata
    )
    status, body = out.create_summary(results, _links(request))
    return _ok(body, status)


@router.post(P + "/images/predictions")
async def create_images_from_predictions(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    entries, tag_ids, metadata = _batch(json_object(await json_body(request, JSON_LIMIT)))
    pairs = [(str(e.get("id") or ""), _str_list(e.get("tagIds"), "tagIds")) for e in entries]
    results = await call(
        images.add_images_from_predictions,
        ws,
        access,
        project_id,
        pairs,
        tag_ids=tag_ids,
        metadata=metadata,
    )
    status, body = out.create_summary(results, _links(request))
    return _ok(body, status)


def _image_query(request: Request, tagging: str, *, paged: bool = True) -> ImageQuery:
    q = request.query_params
    order = q.get("orderBy") or "Newest"
    if order not in ("Newest", "Oldest"):
        raise RequestInvalid("orderBy must be Newest or Oldest.")
    tagging = q.get("taggingStatus") or tagging
    if tagging not in ("All", "Tagged", "Untagged"):
        raise RequestInvalid("taggingStatus must be All, Tagged or Untagged.")
    return ImageQuery(
        tagging=tagging,
        tag_ids=tuple(csv_ids(q.get("tagIds"), "tagIds", limit=20)),
        metadata=filters.parse_metadata_filter(q.get("$filter")),
        newest_first=order == "Newest",
        skip=parse_int(q.get("skip"), "skip", 0, 0, 10**9) if paged else 0,
        take=parse_int(q.get("take"), "take", 50, 0, 256) if paged else None,
    )


async def _list_images(request: Request, project_id: str, tagging: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    query = _image_query(request, tagging)
    iteration_id = request.query_params.get("iterationId")
    if iteration_id:
        snaps, names = await call(_snapshot_images, ws, access, project_id, iteration_id, query)
        end = None if query.take is None else query.skip + query.take
        links = _links(request)
        return _ok(
            [out.snapshot_image_out(project_id, s, names, links) for s in snaps[query.skip : end]]
        )
    found = await call(images.list_images, ws, access, project_id, query)
    return _ok([out.image_out(i, _links(request)) for i in found])


def _snapshot_images(
    ws: Workspace, access: Access, project_id: str, iteration_id: str, query: ImageQuery
) -> tuple[list[SnapshotImage], dict[str, str]]:
    """Images as an iteration trained on them (spec: image lists with ``iterationId``), in the
    query's order, and the iteration's tag names. Every trained image was tagged.
    """
    iteration, snaps = training.trained_images(
        ws, access, project_id, iteration_id, tag_ids=query.tag_ids
    )
    if query.tagging == "Untagged":
        snaps = []
    snaps.sort(key=lambda s: s.created, reverse=query.newest_first)
    return snaps, {str(t["id"]): str(t["name"]) for t in iteration.tags}


@router.get(P + "/images")
async def get_images(request: Request, project_id: str) -> JSONResponse:
    return await _list_images(request, project_id, "All")


@router.get(P + "/images/tagged")
async def get_tagged_images(request: Request, project_id: str) -> JSONResponse:
    return await _list_images(request, project_id, "Tagged")


@router.get(P + "/images/untagged")
async def get_untagged_images(request: Request, project_id: str) -> JSONResponse:
    return await _list_images(request, project_id, "Untagged")


async def _count_images(request: Request, project_id: str, tagging: str) -> JSONResponse:
    access = await authorize(request, "training")
    query = _image_query(request, tagging, paged=False)
    iteration_id = request.query_params.get("iterationId")
    ws = get_workspace(request)
    if iteration_id:
        snaps, _ = await call(_snapshot_images, ws, access, project_id, iteration_id, query)
        return _ok(len(snaps))
    return _ok(await call(images.count_images, ws, access, project_id, query))


@router.get(P + "/images/count")
async def get_image_count(request: Request, project_id: str) -> JSONResponse:
    return await _count_images(request, project_id, "All")


@router.get(P + "/images/tagged/count")
async def get_tagged_image_count(request: Request, project_id: str) -> JSONResponse:
    return await _count_images(request, project_id, "Tagged")


@router.get(P + "/images/untagged/count")
async def get_untagged_image_count(request: Request, project_id: str) -> JSONResponse:
    return await _count_images(request, project_id, "Untagged")


@router.get(P + "/images/id")
async def get_images_by_ids(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ids = csv_ids(request.query_params.get("imageIds"), "imageIds")
    found = await call(images.get_images, get_workspace(request), access, project_id, ids)
    return _ok([out.image_out(i, _links(request)) for i in found])


@router.delete(P + "/images")
async def delete_images(request: Request, project_id: str) -> Response:
    access = await authorize(request, "training")
    q = request.query_params
    every = parse_bool(q.get("allImages"))
    ids = None if every else csv_ids(q.get("imageIds"), "imageIds", required=True)
    await call(images.delete_images, get_workspace(request), access, project_id, ids)
    return _no_content()


@router.post(P + "/images/tags")
async def create_image_tags(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    body = json_object(await json_body(request, JSON_LIMIT))
    entries = body.get("tags")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RequestInvalid("The body needs a tags list of {imageId, tagId}.")
    pairs = [(str(e.get("imageId") or ""), str(e.get("tagId") or "")) for e in entries]
    created, duplicated, exceeded = await call(
        images.tag_images, get_workspace(request), access, project_id, pairs
    )

    def entries_out(items: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"imageId": i, "tagId": t} for i, t in items]

    return _ok(
        {
            "created": entries_out(created),
            "duplicated": entries_out(duplicated),
            "exceeded": entries_out(exceeded),
        }
    )


@router.delete(P + "/images/tags")
async def delete_image_tags(request: Request, project_id: str) -> Response:
    access = await authorize(request, "training")
    q = request.query_params
    image_ids = csv_ids(q.get("imageIds"), "imageIds", required=True, limit=64)
    tag_ids = csv_ids(q.get("tagIds"), "tagIds", required=True, limit=20)
    await call(images.untag_images, get_workspace(request), access, project_id, image_ids, tag_ids)
    return _no_content()


@router.post(P + "/images/metadata")
async def update_image_metadata(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ids = csv_ids(request.query_params.get("imageIds"), "imageIds", required=True, limit=64)
    metadata = json_object(await json_body(request, JSON_LIMIT), "metadata")
    results = await call(
        images.update_metadata, get_workspace(request), access, project_id, ids, metadata
    )
    ok = all(status == "OK" for _, status, _ in results)
    body = {
        "isBatchSuccessful": ok,
        "images": [{"imageId": i, "status": s, "metadata": m} for i, s, m in results],
    }
    return _ok(body, 200 if ok else 207)


@router.post(P + "/images/suggested")
async def query_suggested_images(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    iteration_id = request.query_params.get("iterationId") or ""
    token = json_object(await json_body(request, JSON_LIMIT))
    if not iteration_id:
        raise RequestInvalid("iterationId is required.")
    max_count = parse_int(_str(token.get("maxCount")), "maxCount", 50, 0, 256)
    skip = _continuation(token.get("continuation"))
    found = await call(
        predictions.suggest_images,
        ws,
        access,
        project_id,
        iteration_id,
        tag_ids=_str_list(token.get("tagIds"), "tagIds"),
        threshold=parse_float(_str(token.get("threshold")), "threshold", 0.0),
    )
    if token.get("sortBy") == "UncertaintyAscending":
        found = found[::-1]
    page = found[skip : skip + max_count]
    more = skip + max_count < len(found)
    echoed = {**token, "continuation": str(skip + max_count) if more else None}
    return _ok(
        {
            "token": echoed,
            "results": [out.suggestion_out(s, iteration_id, _links(request)) for s in page],
        }
    )


@router.post(P + "/images/suggested/count")
async def query_suggested_image_count(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    iteration_id = request.query_params.get("iterationId") or ""
    body = json_object(await json_body(request, JSON_LIMIT))
    if not iteration_id:
        raise RequestInvalid("iterationId is required.")
    counts = await call(
        predictions.count_suggested,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        tag_ids=_str_list(body.get("tagIds"), "tagIds"),
        threshold=parse_float(_str(body.get("threshold")), "threshold", 0.0),
    )
    return _ok(counts)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _training_type(kind: str | None, hours: str | None) -> tuple[TrainingType, float | None]:
    """Custom Vision's Regular / Advanced and reservedBudgetInHours (a cap on the server's
    advanced budget; 0 or absent: the server's budget)."""
    if (kind or "Regular") not in ("Regular", "Advanced"):
        raise RequestInvalid("trainingType must be Regular or Advanced.")
    if kind != "Advanced":
        return "quick", None
    if hours in (None, "", "0"):
        return "advanced", None
    try:
        value = float(hours)
    except ValueError:
        raise RequestInvalid("reservedBudgetInHours must be a number of hours.") from None
    return "advanced", value * 3600  # the core refuses what is not a positive duration


def _continuation(value: Any) -> int:
    if value in (None, ""):
        return 0
    text = str(value)
    if not text.isdigit():
        raise RequestInvalid("The continuation token is not valid; send back the one you got.")
    return int(text)


# Training and iterations ------------------------------------------------------------------------


@router.post(P + "/train")
async def train_project(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    body = json_object(await json_body(request, JSON_LIMIT))
    q = request.query_params
    training_type, budget = _training_type(q.get("trainingType"), q.get("reservedBudgetInHours"))
    selected = _str_list(body.get("selectedTags"), "selectedTags") or None
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
    return _ok(out.iteration_out(iteration))


@router.get(P + "/iterations")
async def get_iterations(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    found = await call(training.list_iterations, get_workspace(request), access, project_id)
    return _ok([out.iteration_out(i) for i in found])


I = P + "/iterations/{iteration_id}"  # noqa: E741


@router.get(I)
async def get_iteration(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    found = await call(
        training.get_iteration, get_workspace(request), access, project_id, iteration_id
    )
    return _ok(out.iteration_out(found))


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
    return _ok(out.iteration_out(found))


@router.delete(I)
async def delete_iteration(request: Request, project_id: str, iteration_id: str) -> Response:
    access = await authorize(request, "training")
    await call(training.delete_iteration, get_workspace(request), access, project_id, iteration_id)
    return _no_content()


@router.get(I + "/performance")
async def get_iteration_performance(
    request: Request, project_id: str, iteration_id: str
) -> JSONResponse:
    access = await authorize(request, "training")
    threshold = parse_float(request.query_params.get("threshold"), "threshold", 0.5)
    perf = await call(
        training.iteration_performance,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        threshold=threshold,
    )
    return _ok(out.performance_out(perf))


async def _image_performances(
    request: Request, project_id: str, iteration_id: str
) -> tuple[list[Any], dict[str, str]]:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    tag_ids = csv_ids(request.query_params.get("tagIds"), "tagIds", limit=20)
    results = await call(
        training.image_results, ws, access, project_id, iteration_id, tag_ids=tag_ids
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
    links = _links(request)
    return _ok(
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
    return _ok(len(results))


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
    return _ok(True)


@router.delete(I + "/publish")
async def unpublish_iteration(request: Request, project_id: str, iteration_id: str) -> Response:
    access = await authorize(request, "training")
    await call(
        training.unpublish_iteration, get_workspace(request), access, project_id, iteration_id
    )
    return _no_content()


@router.get(I + "/export")
async def get_exports(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    iteration = await call(
        training.get_iteration, get_workspace(request), access, project_id, iteration_id
    )
    if not iteration.is_completed:
        return _ok([])
    return _ok([_export_out(request, project_id, iteration_id)])


@router.post(I + "/export")
async def export_iteration(request: Request, project_id: str, iteration_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    platform = request.query_params.get("platform") or ""
    if platform != "ONNX":
        raise RequestInvalid("tagloop exports ONNX only (platform=ONNX).")
    await call(training.model_files, get_workspace(request), access, project_id, iteration_id)
    return _ok(_export_out(request, project_id, iteration_id))


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
    return _ok(out.answer_out(answer))


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
                parse_float(_str(tag.get("minThreshold")), "minThreshold", 0.0),
                parse_float(_str(tag.get("maxThreshold")), "maxThreshold", 1.0),
            )
        )
    query = PredictionQuery(
        iteration_id=token.get("iterationId") or None,
        application=token.get("application") or None,
        start=_time(token.get("startTime")),
        end=_time(token.get("endTime")),
        tag_windows=tuple(windows),
        order_by=order,
        skip=_continuation(token.get("continuation")),
        max_count=parse_int(_str(token.get("maxCount")), "maxCount", 50, 0, 256),
    )
    page, more = await call(
        predictions.query_predictions, get_workspace(request), access, project_id, query
    )
    echoed = {
        **token,
        "session": token.get("session") or "tagloop",
        "continuation": str(query.skip + query.max_count) if more else None,
    }
    links = _links(request)
    return _ok({"token": echoed, "results": [out.stored_prediction_out(p, links) for p in page]})


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
    return _no_content()
