"""A project's data check (the report of ``tagloop check``, paths being image ids)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from tagloop.shells.api.native.wire import KeyAccess, P, native_router
from tagloop.shells.http import call, get_workspace
from tagloop.workspace import insights

router = native_router("insights")


class FindingOut(BaseModel):
    """One finding; detail fields beyond these depend on the code (see docs/check.md)."""

    model_config = ConfigDict(extra="allow")

    code: str
    severity: str = Field(description="error, warning or info.")
    message: str
    advice: str = Field(description="What to do about it.")
    items: list[Any] | None = Field(
        default=None, description="Image ids, or objects with a `path` (the image id)."
    )
    groups: list[list[str]] | None = Field(
        default=None, description="Lists of image ids that are copies of one image."
    )


class CheckOut(BaseModel):
    n_images: int
    labels: dict[str, int] = Field(description="Tag name -> tagged images.")
    findings: list[FindingOut] = Field(description="Errors first, then warnings, then info.")


@router.get(P + "/insights", response_model_exclude_none=True)
async def get_insights(access: KeyAccess, request: Request, project_id: str) -> CheckOut:
    """The data check of the project's tagged images: what to fix before training.

    The first call embeds images not seen before (training reuses that work); the report is
    kept until the images, their tags or the backbone change.
    """
    report = await call(insights.check_project, get_workspace(request), access, project_id)
    return CheckOut.model_validate(report.to_dict())
