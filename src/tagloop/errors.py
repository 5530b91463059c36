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
