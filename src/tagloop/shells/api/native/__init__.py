"""The native JSON API under ``/api/v1`` (documented by the OpenAPI schema at /docs)."""

from __future__ import annotations

from fastapi import APIRouter, Security

from tagloop.shells.api.native import images, insights, media, predictions, projects, training
from tagloop.shells.api.native.wire import ERRORS, TRAINING_KEY

router = APIRouter()
router.include_router(projects.router)
router.include_router(projects.tag_router)
router.include_router(images.router)
router.include_router(training.router)
router.include_router(insights.router)
router.include_router(predictions.predict_router)
router.include_router(predictions.router)
router.include_router(predictions.review_router)
router.include_router(media.router, dependencies=[Security(TRAINING_KEY)], responses=ERRORS)
