"""What the Custom Vision training routes share: the JSON answers, links, and readers of
Custom Vision's loosely typed values (numbers sent as strings, continuation tokens, training
types)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from tagloop.errors import RequestInvalid
from tagloop.shells.api import cv_models as out
from tagloop.types import TrainingType

P = "/projects/{project_id}"
I = P + "/iterations/{iteration_id}"  # noqa: E741
JSON_LIMIT = 1024 * 1024


def respond(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


def links_for(request: Request) -> out.Links:
    return out.Links(str(request.base_url))


def optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def training_type_of(kind: str | None, hours: str | None) -> tuple[TrainingType, float | None]:
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


def continuation(value: Any) -> int:
    if value in (None, ""):
        return 0
    text = str(value)
    if not text.isdigit():
        raise RequestInvalid("The continuation token is not valid; send back the one you got.")
    return int(text)


def str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestInvalid(f"{what} must be a list of ids.")
    return value
