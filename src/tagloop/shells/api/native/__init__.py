"""The native JSON API under ``/api/v1`` (documented by the OpenAPI schema at /docs)."""

from __future__ import annotations

from fastapi import APIRouter

from tagloop.shells.api.native import media

router = APIRouter()
router.include_router(media.router)
