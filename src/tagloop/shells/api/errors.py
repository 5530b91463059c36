"""One mapping from core errors to HTTP statuses and bodies, for each face of the API.

Custom Vision routes answer a flat ``{"code", "message"}`` with Custom Vision's code strings;
the native API answers ``{"ok": false, "error", "code", "status"}`` with tagloop's codes.
"""

from __future__ import annotations

from tagloop.errors import (
    BackboneNotFound,
    BatchTooLarge,
    Conflict,
    ImageTooLarge,
    ImageUnreadable,
    ImageUrlInvalid,
    ModelNotFound,
    NotFound,
    TagloopError,
    TrainingInvalid,
    Unauthorized,
)

_NOT_FOUND = {
    "project": "NotFoundProject",
    "iteration": "NotFoundIteration",
    "tag": "NotFoundTag",
    "image": "NotFoundImage",
    "domain": "NotFoundDomain",
}
_CONFLICT = {
    "tag_name_taken": "BadRequestTagNameNotUnique",
    "multiple_negative_tags": "BadRequestMultipleNegativeTag",
    "training_in_progress": "BadRequestTrainingAlreadyInProgress",
    "training_not_needed": "BadRequestTrainingNotNeeded",
    "iteration_published": "BadRequestIterationIsPublished",
    "iteration_not_trained": "BadRequestIterationIsNotTrained",
    "publish_name_taken": "BadRequestInvalidPublishName",
    "iteration_not_published": "BadRequestIterationNotPublished",
}


def custom_vision_error(exc: TagloopError) -> tuple[int, str]:
    """HTTP status and Custom Vision error code (Custom Vision uses 400 for business rules)."""
    if isinstance(exc, Unauthorized):
        return 401, "Unauthorized"
    if isinstance(exc, NotFound):
        return 404, _NOT_FOUND.get(exc.kind, "NotFound")
    if isinstance(exc, ModelNotFound):
        return 404, "NotFoundIteration"
    if isinstance(exc, Conflict):
        return 400, _CONFLICT.get(exc.reason, "BadRequest")
    if isinstance(exc, TrainingInvalid):
        return 400, "BadRequestTrainingValidationFailed"
    if isinstance(exc, BatchTooLarge):
        return 400, "BadRequestExceededBatchSize"
    if isinstance(exc, ImageTooLarge):
        return 400, "BadRequestImageSizeBytes"
    if isinstance(exc, ImageUnreadable):
        return 400, "BadRequestImageFormat"
    if isinstance(exc, ImageUrlInvalid):
        return 400, "BadRequestImageUrl"
    if isinstance(exc, BackboneNotFound):
        return 400, "BadRequestProjectUnknownDomain"
    return 400, "BadRequest"


def native_status(exc: TagloopError) -> int:
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, NotFound | ModelNotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, ImageTooLarge | BatchTooLarge):
        return 413
    return 400


def native_code(exc: TagloopError) -> str:
    if isinstance(exc, NotFound):
        return f"{exc.kind}_not_found"
    if isinstance(exc, Conflict):
        return exc.reason
    return exc.code
