"""What every native router shares: the key check, key headers for /docs, the error shape.

The key is checked by the route class, before FastAPI reads or validates the body, so a caller
without a valid key gets 401 and learns nothing about the body. Handlers take the resulting
:class:`~tagloop.workspace.context.Access` as a ``KeyAccess`` parameter. The header schemes only
document the keys, so the OpenAPI page can send them ("Authorize").
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from tagloop.shells.api.schemas import ErrorOut
from tagloop.shells.http import authorize
from tagloop.workspace.context import Access

TRAINING_KEY = APIKeyHeader(
    name="Training-Key",
    scheme_name="TrainingKey",
    description="The server's training key, or a project's own training key.",
    auto_error=False,
)
PREDICTION_KEY = APIKeyHeader(
    name="Prediction-Key",
    scheme_name="PredictionKey",
    description="A prediction key (a training key works too).",
    auto_error=False,
)
P = "/projects/{project_id}"
I = P + "/iterations/{iteration_id}"  # noqa: E741
ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": ErrorOut,
        "description": "400 invalid request, 401 missing or wrong key, 404 unknown id, "
        "409 conflicts with the current state, 413 too large.",
    }
}


class TrainingKeyRoute(APIRoute):
    """A route that answers only to a training key, checked before the body is read."""

    need = "training"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        need = self.need

        async def keyed(request: Request) -> Response:
            request.state.access = await authorize(request, need)
            return await handle(request)

        return keyed


class PredictionKeyRoute(TrainingKeyRoute):
    """A route that a prediction key (or a training key) opens."""

    need = "prediction"


def _access(request: Request) -> Access:
    access: Access = request.state.access
    return access


KeyAccess = Annotated[Access, Depends(_access)]


def native_router(tag: str, *, need: str = "training") -> APIRouter:
    """A router of keyed routes (``need``: ``training`` or ``prediction``)."""
    if need == "prediction":
        return APIRouter(
            tags=[tag],
            route_class=PredictionKeyRoute,
            dependencies=[Security(PREDICTION_KEY), Security(TRAINING_KEY)],
            responses=ERRORS,
        )
    return APIRouter(
        tags=[tag],
        route_class=TrainingKeyRoute,
        dependencies=[Security(TRAINING_KEY)],
        responses=ERRORS,
    )


def image_upload_body(*, many: bool) -> dict[str, Any]:
    """``openapi_extra`` describing a multipart upload (the route parses the body itself)."""
    binary = {"type": "string", "format": "binary"}
    properties = (
        {"files": {"type": "array", "items": binary, "description": "Any field names work."}}
        if many
        else {"imageData": binary}
    )
    schema = {"type": "object", "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }
