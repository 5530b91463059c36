"""Image bytes, thumbnails, model downloads and project keys, for holders of a key."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tagloop.serve.explain import Explanation, overlay_png
from tagloop.shells.api.deps import prediction_image
from tagloop.shells.api.native.wire import image_upload_body
from tagloop.shells.http import authorize, call, get_workspace
from tagloop.workspace import explain, images, predictions, projects, training
from tagloop.workspace.context import Workspace

router = APIRouter(tags=["media"])
P = "/projects/{project_id}"
CACHE = {"Cache-Control": "private, max-age=86400, immutable"}


def _sniff(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:3] == b"GIF":
        return "image/gif"
    return "application/octet-stream"


async def _blob_response(ws: Workspace, sha: str) -> Response:
    data = await call(ws.blobs.read, sha)
    return Response(data, media_type=_sniff(data), headers=CACHE)


async def _thumbnail_response(ws: Workspace, sha: str) -> Response:
    return Response(await call(images.thumbnail, ws, sha), media_type="image/jpeg", headers=CACHE)


@router.get(P + "/keys")
async def project_keys(request: Request, project_id: str) -> dict[str, str]:
    """The project's own keys: they open this project only."""
    access = await authorize(request, "training")
    project = await call(projects.get_project, get_workspace(request), access, project_id)
    return {"training_key": project.training_key, "prediction_key": project.prediction_key}


@router.get(P + "/images/{image_id}/file", response_class=Response)
async def image_file(request: Request, project_id: str, image_id: str) -> Response:
    """The uploaded bytes of an image, unchanged (a training key: prediction keys open the
    prediction routes only)."""
    access = await authorize(request, "training")
    ws = get_workspace(request)
    sha = await call(images.image_sha, ws, access, project_id, image_id)
    return await _blob_response(ws, sha)


@router.get(P + "/images/{image_id}/thumbnail", response_class=Response)
async def image_thumbnail(request: Request, project_id: str, image_id: str) -> Response:
    """A JPEG at most 256 px on its longer side (a training key, like the image itself)."""
    access = await authorize(request, "training")
    ws = get_workspace(request)
    sha = await call(images.image_sha, ws, access, project_id, image_id)
    return await _thumbnail_response(ws, sha)


@router.get(P + "/predictions/{prediction_id}/file", response_class=Response)
async def prediction_file(request: Request, project_id: str, prediction_id: str) -> Response:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    sha = await call(predictions.prediction_sha, ws, access, project_id, prediction_id)
    return await _blob_response(ws, sha)


@router.get(P + "/predictions/{prediction_id}/thumbnail", response_class=Response)
async def prediction_thumbnail(request: Request, project_id: str, prediction_id: str) -> Response:
    access = await authorize(request, "training")
    ws = get_workspace(request)
    sha = await call(predictions.prediction_sha, ws, access, project_id, prediction_id)
    return await _thumbnail_response(ws, sha)


IterationQuery = Annotated[str | None, Query(description="Default: the latest trained.")]
TagQuery = Annotated[str | None, Query(description="Default: the most probable tag.")]


async def _heatmap_response(found: Explanation) -> Response:
    """The overlay PNG; the tag and its probability in headers (X-Tag-Name, X-Probability)."""
    png = await call(overlay_png, found)
    x, y = found.peak
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Tag-Name": found.label.encode("unicode_escape").decode("ascii"),
            "X-Probability": f"{found.probability:.6f}",
            "X-Peak": f"{x:.4f},{y:.4f}",
            "Cache-Control": "private, no-cache",
        },
    )


@router.get(P + "/images/{image_id}/heatmap", response_class=Response)
async def image_heatmap(
    request: Request,
    project_id: str,
    image_id: str,
    iteration_id: IterationQuery = None,
    tag_id: TagQuery = None,
) -> Response:
    """Where the iteration's model looks for a tag in a training image: a PNG of the model's
    input (its centre crop) with the tag's class-activation map drawn over it."""
    access = await authorize(request, "training")
    found = await call(
        explain.explain_image,
        get_workspace(request),
        access,
        project_id,
        image_id,
        iteration_id=iteration_id or None,
        tag_id=tag_id or None,
    )
    return await _heatmap_response(found)


@router.get(P + "/predictions/{prediction_id}/heatmap", response_class=Response)
async def prediction_heatmap(
    request: Request,
    project_id: str,
    prediction_id: str,
    iteration_id: IterationQuery = None,
    tag_id: TagQuery = None,
) -> Response:
    """As for a training image, for a stored prediction."""
    access = await authorize(request, "training")
    found = await call(
        explain.explain_prediction,
        get_workspace(request),
        access,
        project_id,
        prediction_id,
        iteration_id=iteration_id or None,
        tag_id=tag_id or None,
    )
    return await _heatmap_response(found)


@router.post(
    P + "/quicktest/heatmap",
    response_class=Response,
    openapi_extra=image_upload_body(many=False),
)
async def quick_test_heatmap(
    request: Request,
    project_id: str,
    iteration_id: IterationQuery = None,
    tag_id: TagQuery = None,
) -> Response:
    """As for a training image, for an uploaded photo (multipart, like the quick test)."""
    access = await authorize(request, "training")
    data = await prediction_image(request)
    found = await call(
        explain.explain_upload,
        get_workspace(request),
        access,
        project_id,
        data,
        iteration_id=iteration_id or None,
        tag_id=tag_id or None,
    )
    return await _heatmap_response(found)


@router.get(P + "/iterations/{iteration_id}/export", response_class=Response)
async def export_model(request: Request, project_id: str, iteration_id: str) -> Response:
    """The model package of an iteration: a zip of ``model.onnx`` and ``model.json``."""
    access = await authorize(request, "training")
    ws = get_workspace(request)
    onnx_path, meta = await call(training.model_files, ws, access, project_id, iteration_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(onnx_path, "model.onnx")
        archive.writestr("model.json", json.dumps(meta, indent=2) + "\n")
    name = f"tagloop-{project_id[:8]}-{iteration_id[:8]}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
