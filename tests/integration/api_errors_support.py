"""Helpers for the bad-request tests (``test_errors_*.py``): every table's rows and the blob
files before and after a request, the exact error checks, the wire formats the Custom Vision
SDK sends, and a project to send them to. The fixtures are in ``tests/integration/conftest.py``.

The issue: "Non-image bytes, an oversized file, 65 images in one batch, unknown ids and malformed
JSON get the documented 4xx JSON errors and change nothing (tests count rows before and after)".

Every request here is sent as raw HTTP with the bodies and headers the Custom Vision SDK puts on
the wire (spec §1.3): multipart with one ``imageData`` part and no filename, JSON with
``application/json; charset=utf-8``, body-less POSTs with no Content-Type. Around each bad request
the test reads every table of ``<data_dir>/tagloop.sqlite`` directly with sqlite3 (row counts and
row contents) and lists the files under ``<data_dir>/blobs``; both must be identical afterwards.
Each error is checked for its exact status and code (spec §2.3-§2.4) and for a non-empty flat JSON
body (spec §2.1: an error with an empty body crashes the SDK).

The tests run on the tiny real backbone (``test-tiny``), so training takes a second or two.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from tests.fixtures import (
    COLOURS,
    PREDICTION_KEY,
    TINY,
    TRAINING_KEY,
    colour_image,
    huge_png_bytes,
    jpeg_bytes,
)

from tagloop.config import Settings
from tagloop.workspace.domains import domain_id_for

T = "/customvision/v3.4-preview/training"
P = "/customvision/v3.1/prediction"
TINY_DOMAIN = domain_id_for(TINY)
TABLES = (
    "projects",
    "tags",
    "images",
    "image_tags",
    "image_metadata",
    "iterations",
    "iteration_images",
    "predictions",
    "jobs",
)
SDK_AGENT = "python/3.11 msrest/0.7.1 azure-cognitiveservices-vision-customvision/3.0"
TRAIN = {"Training-key": TRAINING_KEY, "Accept": "application/json", "User-Agent": SDK_AGENT}
PREDICT = {"Prediction-key": PREDICTION_KEY, "Accept": "application/json", "User-Agent": SDK_AGENT}
JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}
PUBLISH_NAME = "errorsModel"
RESOURCE_ID = "/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/accounts/z"
N_PER_TAG = 6  # the service wants >= 2 tags with >= 5 images each

# Spec §2.4: "missing name, bad enum value, malformed id list → 400 BadRequestProjectName /
# BadRequestTagName / BadRequestInvalidIds / BadRequestRequiredParamIsNull / BadRequest".
PROJECT_NAME_CODES = {"BadRequest", "BadRequestProjectName", "BadRequestRequiredParamIsNull"}
TAG_NAME_CODES = {"BadRequest", "BadRequestTagName", "BadRequestRequiredParamIsNull"}
ENUM_CODES = {"BadRequest", "BadRequestTagType", "BadRequestProjectUnknownClassification"}
TRAINING_INVALID_CODES = {
    "BadRequestTrainingValidationFailed",
    "BadRequestClassificationTrainingValidationFailed",
    "BadRequestMultiClassClassificationTrainingValidationFailed",
}


# --------------------------------------------------------------------------------------------
# Stored state: every table's rows and the blob files


@dataclass(frozen=True)
class Stored:
    counts: dict[str, int]
    rows: dict[str, list[str]]
    blobs: tuple[str, ...]

    def changes_to(self, after: Stored) -> list[str]:
        """What differs in ``after``, in words; empty when nothing changed."""
        changes = []
        for table in TABLES:
            if after.counts[table] != self.counts[table]:
                changes.append(f"{table}: {self.counts[table]} -> {after.counts[table]} rows")
            elif after.rows[table] != self.rows[table]:
                changes.append(f"{table}: rows rewritten ({after.counts[table]} rows)")
        if after.blobs != self.blobs:
            added = sorted(set(after.blobs) - set(self.blobs))
            removed = sorted(set(self.blobs) - set(after.blobs))
            changes.append(
                f"blobs: {len(self.blobs)} -> {len(after.blobs)} files "
                f"(added {added[:3]}, removed {removed[:3]})"
            )
        return changes


def stored(settings: Settings) -> Stored:
    """Row counts and contents of every table (read with sqlite3) and the files under blobs/."""
    database = settings.data_dir / "tagloop.sqlite"
    assert database.is_file(), f"no database at {database}"
    with closing(sqlite3.connect(database)) as conn:
        counts = {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}
        rows = {t: sorted(repr(row) for row in conn.execute(f"SELECT * FROM {t}")) for t in TABLES}
    root = settings.data_dir / "blobs"
    blobs = tuple(sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()))
    return Stored(counts, rows, blobs)


# --------------------------------------------------------------------------------------------
# Checking answers


def _describe(response: httpx.Response) -> str:
    request = response.request
    return (
        f"{request.method} {request.url.path}"
        + (f"?{request.url.query.decode()[:120]}" if request.url.query else "")
        + f" -> {response.status_code} {response.text[:300]!r}"
    )


def _json_body(response: httpx.Response) -> tuple[Any, list[str]]:
    problems = []
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        problems.append(f"Content-Type is {content_type!r}, not application/json")
    if not response.content:
        return None, [*problems, "the body is empty (the SDK crashes on empty error bodies)"]
    try:
        return response.json(), problems
    except ValueError:
        return None, [*problems, "the body is not JSON"]


def cv_error_problems(response: httpx.Response, status: int, codes: str | set[str]) -> list[str]:
    """Differences from a Custom Vision error: ``status`` and a flat ``{code, message}``."""
    allowed = {codes} if isinstance(codes, str) else codes
    problems = []
    if response.status_code != status:
        problems.append(f"status {response.status_code}, expected {status}")
    body, more = _json_body(response)
    problems += more
    if body is not None:
        if not isinstance(body, dict) or set(body) != {"code", "message"}:
            problems.append(f"body is not exactly {{code, message}}: {body!r}")
        else:
            if body["code"] not in allowed:
                problems.append(f"code {body['code']!r}, expected {' or '.join(sorted(allowed))}")
            if not isinstance(body["message"], str) or not body["message"].strip():
                problems.append("message is not a non-empty string")
    return problems


def native_error_problems(response: httpx.Response, status: int, code: str) -> list[str]:
    """Differences from a native error: ``{ok: false, error, code, status}``."""
    problems = []
    if response.status_code != status:
        problems.append(f"status {response.status_code}, expected {status}")
    body, more = _json_body(response)
    problems += more
    if body is not None:
        if not isinstance(body, dict) or set(body) != {"ok", "error", "code", "status"}:
            problems.append(f"body is not exactly {{ok, error, code, status}}: {body!r}")
        else:
            if body["ok"] is not False:
                problems.append(f"ok is {body['ok']!r}")
            if body["code"] != code:
                problems.append(f"code {body['code']!r}, expected {code!r}")
            if body["status"] != response.status_code:
                problems.append(f"status field {body['status']!r} != {response.status_code}")
            if not isinstance(body["error"], str) or not body["error"].strip():
                problems.append("error is not a non-empty string")
    return problems


def refused(
    settings: Settings,
    send: Callable[[], httpx.Response],
    status: int,
    codes: str | set[str],
    *,
    native: bool = False,
) -> httpx.Response:
    """Send a bad request: it must get the error and leave every table and blob as it was."""
    before = stored(settings)
    response = send()
    after = stored(settings)
    if native:
        assert isinstance(codes, str)
        problems = native_error_problems(response, status, codes)
    else:
        problems = cv_error_problems(response, status, codes)
    problems += before.changes_to(after)
    assert not problems, f"{_describe(response)}: " + "; ".join(problems)
    return response


def rejected_items(
    settings: Settings, send: Callable[[], httpx.Response], statuses: list[str]
) -> dict[str, Any]:
    """A batch upload whose every item fails: 207, isBatchSuccessful false, nothing stored."""
    before = stored(settings)
    response = send()
    after = stored(settings)
    problems = []
    if response.status_code != 207:
        problems.append(f"status {response.status_code}, expected 207")
    body, more = _json_body(response)
    problems += more
    if isinstance(body, dict):
        if body.get("isBatchSuccessful") is not False:
            problems.append(f"isBatchSuccessful is {body.get('isBatchSuccessful')!r}")
        got = [item.get("status") for item in body.get("images") or []]
        if got != statuses:
            problems.append(f"item statuses {got}, expected {statuses}")
        stored_images = [item["image"] for item in body.get("images") or [] if item.get("image")]
        if stored_images:
            problems.append(f"failed items carry an image: {stored_images[:1]}")
    else:
        problems.append(f"body is not an ImageCreateSummary: {body!r}")
    problems += before.changes_to(after)
    assert not problems, f"{_describe(response)}: " + "; ".join(problems)
    assert isinstance(body, dict)
    return body


# --------------------------------------------------------------------------------------------
# Wire formats


def multipart(*images: bytes, filename: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A body as ``requests`` builds it for the SDK: one ``imageData`` part per image.

    Without ``filename`` (the quickstart passes raw bytes) the part has no filename and no
    Content-Type; with one it is a file part of type application/octet-stream.
    """
    boundary = uuid.uuid4().hex
    chunks = []
    for data in images:
        if filename is None:
            head = 'Content-Disposition: form-data; name="imageData"\r\n\r\n'
        else:
            head = (
                f'Content-Disposition: form-data; name="imageData"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
        chunks.append(f"--{boundary}\r\n{head}".encode() + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def file_entry(name: str, data: bytes, tag_ids: list[str] | None = None) -> dict[str, Any]:
    """One ImageFileCreateEntry as msrest serializes it (bytes → base64, None omitted)."""
    entry: dict[str, Any] = {"name": name, "contents": base64.b64encode(data).decode("ascii")}
    if tag_ids:
        entry["tagIds"] = tag_ids
    return entry


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def good_jpeg(seed: int, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    return jpeg_bytes(colour_image(colour, seed=seed))


def noise_png(min_bytes: int) -> bytes:
    """A valid PNG of random pixels (it does not compress) just over ``min_bytes``."""
    width = 1024
    height = min_bytes // (3 * width + 1) + 8
    pixels = np.random.default_rng(min_bytes).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
    data = buffer.getvalue()
    assert len(data) > min_bytes
    return data


@functools.cache
def over_training_limit(limit: int) -> bytes:
    """A real image just over the training upload limit (6 MB by default)."""
    return noise_png(limit + 1)


@functools.cache
def over_prediction_limit(limit: int) -> bytes:
    """A real image over the prediction limit (4 MB), in a request under limit + 1 MB."""
    data = noise_png(limit + 100_000)
    assert len(data) < limit + 1024 * 1024 - 4096
    return data


@functools.cache
def bomb_png() -> bytes:
    """16000 x 16000 pixels (256 M, over max_image_pixels) in a few hundred kB."""
    return huge_png_bytes()


def tiny_jpeg() -> bytes:
    """10 x 10 pixels: under min_image_side (16)."""
    return jpeg_bytes(colour_image((40, 180, 60), seed=5, size=(10, 10)))


NOT_IMAGES = {
    "text": b"this is a text file, not a photo\n" * 20,
    "random": np.random.default_rng(7).bytes(5000),
    "truncated-jpeg": good_jpeg(99)[:300],
    "empty": b"",
}


# --------------------------------------------------------------------------------------------
# Driving the API over raw HTTP


def create_project(api: TestClient, name: str = "errors") -> str:
    # As create_project sends it: query parameters, an empty body with a JSON content type.
    response = api.post(
        f"{T}/projects",
        params={"name": name, "domainId": TINY_DOMAIN},
        headers={**TRAIN, **JSON_TYPE},
        content=b"",
    )
    assert response.status_code == 200, _describe(response)
    project = response.json()
    assert project["name"] == name and project["settings"]["domainId"] == TINY_DOMAIN
    return str(project["id"])


def create_tag(api: TestClient, project_id: str, name: str, type: str = "Regular") -> str:
    # As create_tag sends it: query parameters, no body and no Content-Type.
    response = api.post(
        f"{T}/projects/{project_id}/tags", params={"name": name, "type": type}, headers=TRAIN
    )
    assert response.status_code == 200, _describe(response)
    return str(response.json()["id"])


def upload_tagged(api: TestClient, project_id: str, tag_ids: dict[str, str], n: int) -> None:
    """``n`` distinct images per colour tag through images/files; all must be OK."""
    entries = [
        file_entry(f"{label}-{i}.jpg", good_jpeg(k * 100 + i, COLOURS[label]), [tag_ids[label]])
        for k, label in enumerate(tag_ids)
        for i in range(n)
    ]
    response = api.post(
        f"{T}/projects/{project_id}/images/files",
        content=json_bytes({"images": entries}),
        headers={**TRAIN, **JSON_TYPE},
    )
    assert response.status_code == 200, _describe(response)
    assert response.json()["isBatchSuccessful"] is True


def start_training(api: TestClient, project_id: str, *, force: bool = False) -> dict[str, Any]:
    # As train_project sends it: the query string it always sends, an empty JSON-typed body.
    response = api.post(
        f"{T}/projects/{project_id}/train",
        params={"reservedBudgetInHours": "0", "forceTrain": "true" if force else "false"},
        headers={**TRAIN, **JSON_TYPE},
        content=b"",
    )
    assert response.status_code == 200, _describe(response)
    iteration = response.json()
    assert iteration["status"] == "Training", iteration
    return dict(iteration)


def wait_completed(api: TestClient, project_id: str, iteration_id: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        response = api.get(f"{T}/projects/{project_id}/iterations/{iteration_id}", headers=TRAIN)
        assert response.status_code == 200, _describe(response)
        status = response.json()["status"]
        if status == "Completed":
            return
        assert status == "Training", response.json()
        assert time.monotonic() < deadline, "training did not finish in 120 s"
        time.sleep(0.1)


def publish(api: TestClient, project_id: str, iteration_id: str, name: str) -> None:
    response = api.post(
        f"{T}/projects/{project_id}/iterations/{iteration_id}/publish",
        params={"publishName": name, "predictionId": RESOURCE_ID},
        headers=TRAIN,
    )
    assert response.status_code == 200, _describe(response)
    assert response.json() is True


def unknown_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Trained:
    """A project trained twice: iteration 1 published, iteration 2 completed, unpublished."""

    api: TestClient
    settings: Settings
    project_id: str
    tag_ids: dict[str, str]
    published_id: str
    unpublished_id: str
