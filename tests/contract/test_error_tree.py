"""Contract: every error in ``tagloop.errors`` has its own stable code and maps to a 4xx on
both API faces (Custom Vision's codes on its routes), so no shell needs to read message text.
"""

from __future__ import annotations

import re

import pytest
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorCodes

from tagloop import errors
from tagloop.shells.api.errors import custom_vision_error, native_code, native_status

CV_CODES = {code.value for code in CustomVisionErrorCodes} | {"Unauthorized"}


def _tree(cls: type[errors.TagloopError]) -> list[type[errors.TagloopError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _tree(sub)
    return found


ERRORS = _tree(errors.TagloopError)


def _instance(cls: type[errors.TagloopError]) -> errors.TagloopError:
    if issubclass(cls, errors.NotFound):
        return cls("project", "p1")
    if issubclass(cls, errors.Conflict):
        return cls("training_in_progress", "This project is already training.")
    return cls("What to do next.")


def test_the_tree_is_the_modules_errors() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.TagloopError)
    }
    assert set(ERRORS) == defined
    assert len(ERRORS) >= 20


def test_every_error_has_its_own_stable_snake_case_code() -> None:
    codes = [cls.code for cls in ERRORS]
    assert len(set(codes)) == len(codes), sorted(codes)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes), codes


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_maps_to_a_client_error_on_both_faces(cls: type[errors.TagloopError]) -> None:
    exc = _instance(cls)
    assert 400 <= native_status(exc) < 500
    assert native_code(exc)
    status, cv_code = custom_vision_error(exc)
    assert 400 <= status < 500 and cv_code in CV_CODES
    assert exc.message
