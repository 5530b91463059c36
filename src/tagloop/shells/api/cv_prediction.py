"""Custom Vision prediction routes (``/customvision/v3.x/prediction``): spec §6."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tagloop.shells.api import cv_models as out
from tagloop.shells.api.deps import image_at_url, prediction_image
from tagloop.shells.http import authorize, call, get_workspace
from tagloop.workspace import predictions

router = APIRouter()
C = "/{project_id}/classify/iterations/{published_name}"


async def _classify(
    request: Request, project_id: str, published_name: str, data: bytes, *, store: bool
) -> JSONResponse:
    access = await authorize(request, "prediction")
    answer = await call(
        predictions.classify,
        get_workspace(request),
        access,
        project_id,
        published_name,
        data,
        store=store,
        application=request.query_params.get("application") or None,
    )
    return JSONResponse(out.answer_out(answer))


async def _image(request: Request) -> bytes:
    await authorize(request, "prediction")
    return await prediction_image(request)


async def _url(request: Request) -> bytes:
    await authorize(request, "prediction")
    return await image_at_url(request)


@router.post(C + "/image")
async def classify_image(request: Request, project_id: str, published_name: str) -> JSONResponse:
    data = await _image(request)
    return await _classify(request, project_id, published_name, data, store=True)


@router.post(C + "/image/nostore")
async def classify_image_with_no_store(
    request: Request, project_id: str, published_name: str
) -> JSONResponse:
    data = await _image(request)
    return await _classify(request, project_id, published_name, data, store=False)


@router.post(C + "/url")
async def classify_image_url(
    request: Request, project_id: str, published_name: str
) -> JSONResponse:
    data = await _url(request)
    return await _classify(request, project_id, published_name, data, store=True)


@router.post(C + "/url/nostore")
async def classify_image_url_with_no_store(
    request: Request, project_id: str, published_name: str
) -> JSONResponse:
    data = await _url(request)
    return await _classify(request, project_id, published_name, data, store=False)
