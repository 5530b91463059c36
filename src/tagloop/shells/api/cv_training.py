"""Custom Vision training routes (``/customvision/v3.x/training``), spec §5: images (upload
from files, data, URLs and predictions; lists, counts, tags, metadata, suggestions). Domains,
projects and tags are in :mod:`tagloop.shells.api.cv_projects`; training, iterations, quick
tests and stored predictions in :mod:`tagloop.shells.api.cv_iterations`.

Each route parses the wire format, calls one workspace function and formats its result.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tagloop.errors import RequestInvalid
from tagloop.shells.api import cv_models as out
from tagloop.shells.api.cv_filters import parse_metadata_filter
from tagloop.shells.api.cv_wire import (
    JSON_LIMIT,
    P,
    continuation,
    links_for,
    no_content,
    optional_str,
    respond,
    str_list,
)
from tagloop.shells.api.deps import (
    csv_ids,
    image_parts,
    json_body,
    json_object,
    parse_bool,
    parse_float,
    parse_int,
    uploads_of,
)
from tagloop.shells.api.json_batch import read_image_batch
from tagloop.shells.http import authorize, call, call_fetching, get_workspace, spooled_body
from tagloop.store.records import ImageQuery, SnapshotImage
from tagloop.types import ImageStatus
from tagloop.workspace import images, projects, review, training
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.images import Upload

router = APIRouter()


# Images ---------------------------------------------------------------------------------------


@router.post(P + "/images")
async def create_images_from_data(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    tag_ids = csv_ids(request.query_params.get("tagIds"), "tagIds", limit=20)
    limit, most = ws.settings.max_training_image_bytes, ws.settings.max_batch_images
    async with image_parts(request, limit=limit, max_parts=most) as parts:
        uploads = uploads_of(parts, limit)
        results = await call(images.add_images, ws, access, project_id, uploads, tag_ids=tag_ids)
    status, body = out.create_summary(results, links_for(request))
    return respond(body, status)


def _batch(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    entries = body.get("images")
    if not isinstance(entries, list):
        raise RequestInvalid("The batch needs an images list.")
    if not all(isinstance(e, dict) for e in entries):
        raise RequestInvalid("Each entry of images must be an object.")
    return entries, str_list(body.get("tagIds"), "tagIds"), body.get("metadata") or {}


def _batch_limit(request: Request) -> int:
    s = get_workspace(request).settings
    return s.max_batch_images * (s.max_training_image_bytes * 4 // 3 + 4096) + JSON_LIMIT


@router.post(P + "/images/files")
async def create_images_from_files(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    limit = ws.settings.max_training_image_bytes
    async with spooled_body(request, _batch_limit(request)) as raw:  # open while images load
        batch = await call(read_image_batch, raw, max_image_bytes=limit)
        images.check_batch(ws, len(batch.images))
        tag_ids = str_list(batch.tag_ids, "tagIds")
        metadata = batch.metadata
        if not isinstance(metadata, dict):
            raise RequestInvalid("metadata must be an object of strings.")
        uploads = [
            Upload(entry.name, None, error=entry.error, reason=entry.reason)
            if entry.error
            else Upload(entry.name, entry.data, tuple(str_list(entry.tag_ids, "tagIds")))
            for entry in batch.images
        ]
        results = await call(
            images.add_images, ws, access, project_id, uploads, tag_ids=tag_ids, metadata=metadata
        )
    status, body = out.create_summary(results, links_for(request))
    return respond(body, status)


@router.post(P + "/images/urls")
async def create_images_from_urls(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    entries, tag_ids, metadata = _batch(json_object(await json_body(request, JSON_LIMIT)))
    await call(projects.get_project, ws, access, project_id)
    pairs = [(str(e.get("url") or ""), str_list(e.get("tagIds"), "tagIds")) for e in entries]
    uploads = await call_fetching(request, images.fetch_uploads, ws, pairs)
    results = await call(
        images.add_images, ws, access, project_id, uploads, tag_ids=tag_ids, metadata=metadata
    )
    status, body = out.create_summary(results, links_for(request))
    return respond(body, status)


@router.post(P + "/images/predictions")
async def create_images_from_predictions(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    entries, tag_ids, metadata = _batch(json_object(await json_body(request, JSON_LIMIT)))
    pairs = [(str(e.get("id") or ""), str_list(e.get("tagIds"), "tagIds")) for e in entries]
    results = await call(
        images.add_images_from_predictions,
        ws,
        access,
        project_id,
        pairs,
        tag_ids=tag_ids,
        metadata=metadata,
    )
    status, body = out.create_summary(results, links_for(request))
    return respond(body, status)


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
        metadata=parse_metadata_filter(q.get("$filter")),
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
        links = links_for(request)
        return respond(
            [out.snapshot_image_out(project_id, s, names, links) for s in snaps[query.skip : end]]
        )
    found = await call(images.list_images, ws, access, project_id, query)
    return respond([out.image_out(i, links_for(request)) for i in found])


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
        return respond(len(snaps))
    return respond(await call(images.count_images, ws, access, project_id, query))


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
    return respond([out.image_out(i, links_for(request)) for i in found])


@router.delete(P + "/images")
async def delete_images(request: Request, project_id: str) -> Response:
    access = await authorize(request, "training")
    q = request.query_params
    every = parse_bool(q.get("allImages"))
    ids = None if every else csv_ids(q.get("imageIds"), "imageIds", required=True)
    await call(images.delete_images, get_workspace(request), access, project_id, ids)
    return no_content()


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

    return respond(
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
    return no_content()


@router.post(P + "/images/metadata")
async def update_image_metadata(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ids = csv_ids(request.query_params.get("imageIds"), "imageIds", required=True, limit=64)
    metadata = json_object(await json_body(request, JSON_LIMIT), "metadata")
    results = await call(
        images.update_metadata, get_workspace(request), access, project_id, ids, metadata
    )
    ok = all(status == ImageStatus.OK for _, status, _ in results)
    body = {
        "isBatchSuccessful": ok,
        "images": [{"imageId": i, "status": s, "metadata": m} for i, s, m in results],
    }
    return respond(body, 200 if ok else 207)


@router.post(P + "/images/suggested")
async def query_suggested_images(request: Request, project_id: str) -> JSONResponse:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    iteration_id = request.query_params.get("iterationId") or ""
    token = json_object(await json_body(request, JSON_LIMIT))
    if not iteration_id:
        raise RequestInvalid("iterationId is required.")
    max_count = parse_int(optional_str(token.get("maxCount")), "maxCount", 50, 0, 256)
    skip = continuation(token.get("continuation"))
    found = await call(
        review.suggest_images,
        ws,
        access,
        project_id,
        iteration_id,
        tag_ids=str_list(token.get("tagIds"), "tagIds"),
        threshold=parse_float(optional_str(token.get("threshold")), "threshold", 0.0),
    )
    if token.get("sortBy") == "UncertaintyAscending":
        found = found[::-1]
    page = found[skip : skip + max_count]
    more = skip + max_count < len(found)
    echoed = {**token, "continuation": str(skip + max_count) if more else None}
    return respond(
        {
            "token": echoed,
            "results": [out.suggestion_out(s, iteration_id, links_for(request)) for s in page],
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
        review.count_suggested,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        tag_ids=str_list(body.get("tagIds"), "tagIds"),
        threshold=parse_float(optional_str(body.get("threshold")), "threshold", 0.0),
    )
    return respond(counts)
