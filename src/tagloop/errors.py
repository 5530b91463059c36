"""Every error tagloop raises on purpose.

Each error has a stable ``code`` that shells map to an exit status or HTTP status, and a message
that tells the user what to do next. Nothing here knows about HTTP or the terminal.
"""

from __future__ import annotations


class TagloopError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    code = "tagloop_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DataNotFound(TagloopError):
    code = "data_not_found"


class ManifestInvalid(TagloopError):
    code = "manifest_invalid"


class TooFewLabels(TagloopError):
    code = "too_few_labels"


class TooFewImages(TagloopError):
    code = "too_few_images"


class NoReadableImages(TagloopError):
    code = "no_readable_images"


class ImageUnreadable(TagloopError):
    """One file that cannot be used as an image; batch jobs record it and go on."""

    code = "image_unreadable"


class ImageTooManyPixels(ImageUnreadable):
    """An image over the pixel limit (a decompression-bomb guard)."""

    code = "image_too_many_pixels"


class BackboneNotFound(TagloopError):
    code = "backbone_not_found"


class ModelNotFound(TagloopError):
    code = "model_not_found"


class ModelInvalid(TagloopError):
    code = "model_invalid"


class LabelSetMismatch(TagloopError):
    code = "label_set_mismatch"


class ExportMismatch(TagloopError):
    """The exported ONNX graph does not reproduce the in-memory model."""

    code = "export_mismatch"


class OutputNotWritable(TagloopError):
    code = "output_not_writable"


class SettingsInvalid(TagloopError):
    code = "settings_invalid"


class RequestInvalid(TagloopError):
    """A request the service cannot act on: malformed body, missing or bad parameter."""

    code = "request_invalid"


class ImageTooLarge(TagloopError):
    """An image over the byte limit of its endpoint."""

    code = "image_too_large"


class ImageUrlInvalid(TagloopError):
    """A URL the service refuses or cannot fetch an image from."""

    code = "image_url_invalid"


class BatchTooLarge(TagloopError):
    code = "batch_too_large"


class NotFound(TagloopError):
    """An id that does not exist, or that the caller's key may not see.

    ``kind`` names what was looked up (``project``, ``tag``, ``image``, ``iteration``,
    ``prediction``, ``publication``, ``domain``) so shells can map it to a precise code.
    """

    code = "not_found"

    def __init__(self, kind: str, ident: str, message: str | None = None) -> None:
        super().__init__(message or f"{kind.capitalize()} {ident} not found.")
        self.kind = kind
        self.ident = ident


class Conflict(TagloopError):
    """The request contradicts the current state: a name in use, a published iteration, ...

    ``reason`` is a stable short name (``tag_name_taken``, ``iteration_published``, ...).
    """

    code = "conflict"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unauthorized(TagloopError):
    code = "unauthorized"


class BudgetInvalid(RequestInvalid):
    """An advanced-training budget that is not a positive duration within the maximum."""

    code = "budget_invalid"


class TrainingInvalid(RequestInvalid):
    """The project's images and tags cannot be trained on yet (too few tags or images)."""

    code = "training_invalid"


class OneTagPerImage(RequestInvalid):
    """A second tag on an image of a multiclass project (replace its tag instead)."""

    code = "one_tag_per_image"
