"""Acceptance: bad requests get the documented 4xx JSON errors and change nothing.

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
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
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
from tagloop.shells.server import create_app
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


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def project_id(api: TestClient) -> str:
    return create_project(api)


@pytest.fixture
def tagged(api: TestClient, project_id: str) -> dict[str, str]:
    """Two tags of ``project_id``: red and green (no images)."""
    return {label: create_tag(api, project_id, label) for label in ("red", "green")}


@dataclass(frozen=True)
class Trained:
    """A project trained twice: iteration 1 published, iteration 2 completed, unpublished."""

    api: TestClient
    settings: Settings
    project_id: str
    tag_ids: dict[str, str]
    published_id: str
    unpublished_id: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Iterator[Trained]:
    settings = Settings(
        cache_dir=shared_cache,
        data_dir=tmp_path_factory.mktemp("api-errors") / "service",
        training_key=TRAINING_KEY,
        prediction_key=PREDICTION_KEY,
        n_threads=2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        pid = create_project(api, "trained")
        tag_ids = {label: create_tag(api, pid, label) for label in COLOURS}
        upload_tagged(api, pid, tag_ids, N_PER_TAG)
        first = start_training(api, pid)
        wait_completed(api, pid, first["id"])
        publish(api, pid, first["id"], PUBLISH_NAME)
        second = start_training(api, pid, force=True)
        wait_completed(api, pid, second["id"])
        yield Trained(api, settings, pid, tag_ids, first["id"], second["id"])


# --------------------------------------------------------------------------------------------
# Non-image bytes


@pytest.mark.parametrize("kind", sorted(NOT_IMAGES))
def test_non_image_bytes_in_multipart_upload_are_error_image_format(
    api: TestClient, api_settings: Settings, project_id: str, tagged: dict[str, str], kind: str
) -> None:
    body, headers = multipart(NOT_IMAGES[kind])
    summary = rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images",
            params={"tagIds": tagged["red"]},
            content=body,
            headers={**TRAIN, **headers},
        ),
        ["ErrorImageFormat"],
    )
    assert summary["images"][0]["sourceUrl"]


def test_non_image_file_part_with_a_filename_is_error_image_format(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    body, headers = multipart(NOT_IMAGES["text"], filename="notes.jpg")
    summary = rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images", content=body, headers={**TRAIN, **headers}
        ),
        ["ErrorImageFormat"],
    )
    assert summary["images"][0]["sourceUrl"] == "notes.jpg"


def test_a_bad_part_next_to_a_good_one_stores_only_the_good_one(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    body, headers = multipart(good_jpeg(1), NOT_IMAGES["text"])
    before = stored(api_settings)
    response = api.post(
        f"{T}/projects/{project_id}/images", content=body, headers={**TRAIN, **headers}
    )
    after = stored(api_settings)
    assert response.status_code == 207, _describe(response)
    summary = response.json()
    assert summary["isBatchSuccessful"] is False
    assert [i["status"] for i in summary["images"]] == ["OK", "ErrorImageFormat"]
    assert summary["images"][0]["image"]["id"]
    assert "image" not in summary["images"][1] or summary["images"][1]["image"] is None
    expected = dict(before.counts, images=before.counts["images"] + 1)
    assert after.counts == expected
    assert len(after.blobs) == len(before.blobs) + 1


@pytest.mark.parametrize("kind", sorted(NOT_IMAGES))
def test_non_image_bytes_in_base64_batch_are_error_image_format(
    api: TestClient, api_settings: Settings, project_id: str, tagged: dict[str, str], kind: str
) -> None:
    batch = {"images": [file_entry(f"{kind}.jpg", NOT_IMAGES[kind])], "tagIds": [tagged["red"]]}
    summary = rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/files",
            content=json_bytes(batch),
            headers={**TRAIN, **JSON_TYPE},
        ),
        ["ErrorImageFormat"],
    )
    assert summary["images"][0]["sourceUrl"] == f"{kind}.jpg"


def test_contents_that_are_not_base64_are_error_image_format(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    batch = {
        "images": [
            {"name": "a.jpg", "contents": "!!! not base64 !!!"},
            {"name": "b.jpg", "contents": base64.b64encode(good_jpeg(3)).decode()[:-3]},
        ]
    }
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/files",
            content=json_bytes(batch),
            headers={**TRAIN, **JSON_TYPE},
        ),
        ["ErrorImageFormat", "ErrorImageFormat"],
    )


@pytest.mark.parametrize("route", ["image", "image/nostore"])
@pytest.mark.parametrize("kind", sorted(NOT_IMAGES))
def test_non_image_bytes_to_prediction_are_400_bad_request_image_format(
    trained: Trained, route: str, kind: str
) -> None:
    body, headers = multipart(NOT_IMAGES[kind])
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/{route}",
            content=body,
            headers={**PREDICT, **headers},
        ),
        400,
        "BadRequestImageFormat",
    )


def test_non_image_bytes_to_quick_test_are_400_bad_request_image_format(trained: Trained) -> None:
    body, headers = multipart(NOT_IMAGES["text"])
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{T}/projects/{trained.project_id}/quicktest/image",
            params={"store": "true"},
            content=body,
            headers={**TRAIN, **headers},
        ),
        400,
        "BadRequestImageFormat",
    )


def test_a_raw_octet_stream_non_image_to_prediction_is_400(trained: Trained) -> None:
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/image",
            content=NOT_IMAGES["random"],
            headers={**PREDICT, "Content-Type": "application/octet-stream"},
        ),
        400,
        "BadRequestImageFormat",
    )


# --------------------------------------------------------------------------------------------
# Oversized files


def test_an_image_over_6_mb_in_multipart_is_error_image_size(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    data = over_training_limit(api_settings.max_training_image_bytes)
    body, headers = multipart(data)
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images", content=body, headers={**TRAIN, **headers}
        ),
        ["ErrorImageSize"],
    )


def test_an_image_over_6_mb_in_base64_batch_is_error_image_size(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    data = over_training_limit(api_settings.max_training_image_bytes)
    batch = {"images": [file_entry("big.png", data)]}
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/files",
            content=json_bytes(batch),
            headers={**TRAIN, **JSON_TYPE},
        ),
        ["ErrorImageSize"],
    )


@pytest.mark.parametrize("route", ["image", "image/nostore"])
def test_an_image_over_4_mb_to_prediction_is_400_bad_request_image_size_bytes(
    trained: Trained, route: str
) -> None:
    data = over_prediction_limit(trained.settings.max_prediction_image_bytes)
    body, headers = multipart(data)
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/{route}",
            content=body,
            headers={**PREDICT, **headers},
        ),
        400,
        "BadRequestImageSizeBytes",
    )


def test_a_prediction_request_body_far_over_the_limit_is_400_bad_request_image_size_bytes(
    trained: Trained,
) -> None:
    # Over 6 MB: refused from its Content-Length before the body is read.
    body, headers = multipart(over_training_limit(trained.settings.max_training_image_bytes))
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/image",
            content=body,
            headers={**PREDICT, **headers},
        ),
        400,
        "BadRequestImageSizeBytes",
    )


# --------------------------------------------------------------------------------------------
# Batch size


def _distinct_entries(n: int) -> list[dict[str, Any]]:
    return [file_entry(f"img-{i}.jpg", good_jpeg(1000 + i)) for i in range(n)]


def test_65_images_in_one_base64_batch_is_400_exceeded_batch_size(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    body = json_bytes({"images": _distinct_entries(65)})
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/files",
            content=body,
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        "BadRequestExceededBatchSize",
    )


def test_64_images_in_one_base64_batch_are_accepted(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    before = stored(api_settings)
    response = api.post(
        f"{T}/projects/{project_id}/images/files",
        content=json_bytes({"images": _distinct_entries(64)}),
        headers={**TRAIN, **JSON_TYPE},
    )
    assert response.status_code == 200, _describe(response)
    assert [i["status"] for i in response.json()["images"]] == ["OK"] * 64
    assert stored(api_settings).counts["images"] == before.counts["images"] + 64


def test_65_parts_in_one_multipart_upload_is_400_exceeded_batch_size(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    body, headers = multipart(*(good_jpeg(2000 + i) for i in range(65)))
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images", content=body, headers={**TRAIN, **headers}
        ),
        400,
        "BadRequestExceededBatchSize",
    )


@pytest.mark.parametrize(
    ("route", "entry"),
    [
        ("urls", {"url": "http://203.0.113.7/a.jpg"}),
        ("predictions", {"id": "00000000-0000-0000-0000-000000000000"}),
    ],
)
def test_65_entries_in_a_url_or_prediction_batch_is_400_exceeded_batch_size(
    api: TestClient, api_settings: Settings, project_id: str, route: str, entry: dict[str, str]
) -> None:
    body = json_bytes({"images": [entry] * 65})
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/{route}",
            content=body,
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        "BadRequestExceededBatchSize",
    )


# --------------------------------------------------------------------------------------------
# Pixel dimensions


@pytest.mark.parametrize("kind", ["bomb", "10x10"])
def test_images_out_of_pixel_bounds_are_error_image_dimensions_in_multipart(
    api: TestClient, api_settings: Settings, project_id: str, kind: str
) -> None:
    body, headers = multipart(bomb_png() if kind == "bomb" else tiny_jpeg())
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images", content=body, headers={**TRAIN, **headers}
        ),
        ["ErrorImageDimensions"],
    )


@pytest.mark.parametrize("kind", ["bomb", "10x10", "8x200"])
def test_images_out_of_pixel_bounds_are_error_image_dimensions_in_base64_batch(
    api: TestClient, api_settings: Settings, project_id: str, kind: str
) -> None:
    data = {
        "bomb": bomb_png,
        "10x10": tiny_jpeg,
        "8x200": lambda: jpeg_bytes(colour_image((40, 60, 200), seed=8, size=(8, 200))),
    }[kind]()
    batch = {"images": [file_entry(f"{kind}.png", data)]}
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/files",
            content=json_bytes(batch),
            headers={**TRAIN, **JSON_TYPE},
        ),
        ["ErrorImageDimensions"],
    )


def test_a_decompression_bomb_to_prediction_is_400(trained: Trained) -> None:
    # Spec §2.4 names BadRequestImageFormat for undecodable single images; the code list also
    # has BadRequestImageDimensions, the single-image twin of the upload's ErrorImageDimensions.
    body, headers = multipart(bomb_png())
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/image",
            content=body,
            headers={**PREDICT, **headers},
        ),
        400,
        {"BadRequestImageDimensions", "BadRequestImageFormat"},
    )


# --------------------------------------------------------------------------------------------
# Tags on uploads


def test_an_unknown_tag_id_on_upload_is_error_invalid_tag(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    body, headers = multipart(good_jpeg(4))
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images",
            params={"tagIds": unknown_id()},
            content=body,
            headers={**TRAIN, **headers},
        ),
        ["ErrorInvalidTag"],
    )
    batch = {"images": [file_entry("a.jpg", good_jpeg(4), [unknown_id()])]}
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/files",
            content=json_bytes(batch),
            headers={**TRAIN, **JSON_TYPE},
        ),
        ["ErrorInvalidTag"],
    )


def test_negative_and_regular_tag_on_one_upload_is_refused_per_item(
    api: TestClient, api_settings: Settings, project_id: str, tagged: dict[str, str]
) -> None:
    negative = create_tag(api, project_id, "nothing", "Negative")
    batch = {"images": [file_entry("a.jpg", good_jpeg(6), [tagged["red"], negative])]}
    rejected_items(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images/files",
            content=json_bytes(batch),
            headers={**TRAIN, **JSON_TYPE},
        ),
        ["ErrorNegativeAndRegularTagOnSameImage"],
    )


# --------------------------------------------------------------------------------------------
# Unknown ids


def _project_routes() -> list[tuple[str, str, bytes | None, str]]:
    """(method, path, JSON body or None, code) for an unknown id; {pid} is a real project."""
    u = "{unknown}"
    return [
        ("GET", f"{T}/projects/{u}", None, "NotFoundProject"),
        ("PATCH", f"{T}/projects/{u}", b'{"name": "x", "description": ""}', "NotFoundProject"),
        ("DELETE", f"{T}/projects/{u}", None, "NotFoundProject"),
        ("GET", f"{T}/projects/{u}/tags", None, "NotFoundProject"),
        ("POST", f"{T}/projects/{u}/tags?name=x", None, "NotFoundProject"),
        ("GET", f"{T}/projects/{u}/images?take=50&skip=0", None, "NotFoundProject"),
        ("GET", f"{T}/projects/{u}/images/tagged/count", None, "NotFoundProject"),
        ("GET", f"{T}/projects/{u}/iterations", None, "NotFoundProject"),
        ("POST", f"{T}/projects/{u}/train?forceTrain=false", b"", "NotFoundProject"),
        ("POST", f"{T}/projects/{u}/images/urls", b'{"images": []}', "NotFoundProject"),
        ("POST", f"{T}/projects/{u}/predictions/query", b"{}", "NotFoundProject"),
        ("GET", f"{T}/projects/{{pid}}/tags/{u}", None, "NotFoundTag"),
        (
            "PATCH",
            f"{T}/projects/{{pid}}/tags/{u}",
            b'{"name": "x", "description": "", "type": "Regular"}',
            "NotFoundTag",
        ),
        ("DELETE", f"{T}/projects/{{pid}}/tags/{u}", None, "NotFoundTag"),
        (
            "POST",
            f"{T}/projects/{{pid}}/train",
            f'{{"selectedTags": ["{u}"]}}'.encode(),
            "NotFoundTag",
        ),
        ("GET", f"{T}/projects/{{pid}}/iterations/{u}", None, "NotFoundIteration"),
        ("PATCH", f"{T}/projects/{{pid}}/iterations/{u}", b'{"name": "x"}', "NotFoundIteration"),
        ("DELETE", f"{T}/projects/{{pid}}/iterations/{u}", None, "NotFoundIteration"),
        (
            "POST",
            f"{T}/projects/{{pid}}/iterations/{u}/publish?publishName=x&predictionId=y",
            None,
            "NotFoundIteration",
        ),
        ("DELETE", f"{T}/projects/{{pid}}/iterations/{u}/publish", None, "NotFoundIteration"),
        ("GET", f"{T}/projects/{{pid}}/iterations/{u}/performance", None, "NotFoundIteration"),
        (
            "POST",
            f"{T}/projects/{{pid}}/iterations/{u}/export?platform=ONNX",
            None,
            "NotFoundIteration",
        ),
        ("GET", f"{T}/projects/{{pid}}/tags?iterationId={u}", None, "NotFoundIteration"),
        ("GET", f"{T}/projects/{{pid}}/images/tagged?iterationId={u}", None, "NotFoundIteration"),
        (
            "POST",
            f"{T}/projects/{{pid}}/images/suggested?iterationId={u}",
            b"{}",
            "NotFoundIteration",
        ),
        (
            "POST",
            f"{T}/projects/{{pid}}/images/tags",
            f'{{"tags": [{{"imageId": "{u}", "tagId": "{u}"}}]}}'.encode(),
            "NotFoundImage",
        ),
        ("GET", f"{T}/domains/{u}", None, "NotFoundDomain"),
        ("POST", f"{T}/projects?name=x&domainId={u}", b"", "NotFoundDomain"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    _project_routes(),
    ids=[f"{m} {p.split('/training')[-1]}" for m, p, _, _ in _project_routes()],
)
def test_unknown_ids_are_404_with_the_kind_in_the_code(
    api: TestClient,
    api_settings: Settings,
    project_id: str,
    method: str,
    path: str,
    body: bytes | None,
    code: str,
) -> None:
    unknown = unknown_id()
    url = path.replace("{pid}", project_id).replace("{unknown}", unknown)
    content = None if body is None else body.replace(b"{unknown}", unknown.encode())
    headers = {**TRAIN, **JSON_TYPE} if body is not None else TRAIN
    refused(
        api_settings, lambda: api.request(method, url, content=content, headers=headers), 404, code
    )


@pytest.mark.parametrize("kind", ["jpeg", "not-an-image"])
def test_multipart_upload_to_an_unknown_project_is_404_not_found_project(
    api: TestClient, api_settings: Settings, kind: str
) -> None:
    body, headers = multipart(good_jpeg(11) if kind == "jpeg" else NOT_IMAGES["text"])
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{unknown_id()}/images", content=body, headers={**TRAIN, **headers}
        ),
        404,
        "NotFoundProject",
    )


@pytest.mark.parametrize("kind", ["jpeg", "not-an-image"])
def test_base64_upload_to_an_unknown_project_is_404_not_found_project(
    api: TestClient, api_settings: Settings, kind: str
) -> None:
    data = good_jpeg(12) if kind == "jpeg" else NOT_IMAGES["text"]
    body = json_bytes({"images": [file_entry("a.jpg", data)]})
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{unknown_id()}/images/files",
            content=body,
            headers={**TRAIN, **JSON_TYPE},
        ),
        404,
        "NotFoundProject",
    )


def test_prediction_import_to_an_unknown_project_is_404_not_found_project(
    api: TestClient, api_settings: Settings
) -> None:
    body = json_bytes({"images": [{"id": unknown_id()}]})
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{unknown_id()}/images/predictions",
            content=body,
            headers={**TRAIN, **JSON_TYPE},
        ),
        404,
        "NotFoundProject",
    )


def test_quick_test_with_unknown_ids_is_404(trained: Trained) -> None:
    body, headers = multipart(good_jpeg(13))
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{T}/projects/{unknown_id()}/quicktest/image",
            content=body,
            headers={**TRAIN, **headers},
        ),
        404,
        "NotFoundProject",
    )
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{T}/projects/{trained.project_id}/quicktest/image",
            params={"iterationId": unknown_id(), "store": "true"},
            content=body,
            headers={**TRAIN, **headers},
        ),
        404,
        "NotFoundIteration",
    )


def test_prediction_with_an_unknown_published_name_or_project_is_404(trained: Trained) -> None:
    body, headers = multipart(good_jpeg(14))
    for project, name in ((trained.project_id, "noSuchModel"), (unknown_id(), PUBLISH_NAME)):
        for route in ("image", "image/nostore"):
            refused(
                trained.settings,
                lambda project=project, name=name, route=route: trained.api.post(
                    f"{P}/{project}/classify/iterations/{name}/{route}",
                    content=body,
                    headers={**PREDICT, **headers},
                ),
                404,
                {"NotFound", "NotFoundIteration", "NotFoundProject"},
            )


def test_an_unpublished_iteration_name_is_not_a_published_name(trained: Trained) -> None:
    body, headers = multipart(good_jpeg(15))
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{P}/{trained.project_id}/classify/iterations/Iteration%202/image",
            content=body,
            headers={**PREDICT, **headers},
        ),
        404,
        {"NotFound", "NotFoundIteration"},
    )


@pytest.mark.parametrize("what", ["project", "image", "iteration", "prediction"])
def test_unknown_ids_on_native_routes_are_404(
    api: TestClient, api_settings: Settings, project_id: str, what: str
) -> None:
    u = unknown_id()
    path, code = {
        "project": (f"/api/v1/projects/{u}/keys", "project_not_found"),
        "image": (f"/api/v1/projects/{project_id}/images/{u}/file", "image_not_found"),
        "iteration": (
            f"/api/v1/projects/{project_id}/iterations/{u}/export",
            "iteration_not_found",
        ),
        "prediction": (
            f"/api/v1/projects/{project_id}/predictions/{u}/thumbnail",
            "prediction_not_found",
        ),
    }[what]
    refused(api_settings, lambda: api.get(path, headers=TRAIN), 404, code, native=True)


# --------------------------------------------------------------------------------------------
# Malformed JSON


def _malformed_bodies() -> list[tuple[str, str, bytes]]:
    """(method, path, body): JSON routes with bodies that are not what they expect."""
    files, pid = "{pid}/images/files", "{pid}"
    return [
        ("POST", files, b"{bad"),
        ("POST", files, b"[]"),
        ("POST", files, b'[{"images": []}]'),
        ("POST", files, b"null"),
        ("POST", files, b'"images"'),
        ("POST", files, b'{"images": "a.jpg"}'),
        ("POST", files, b'{"images": {"name": "a.jpg"}}'),
        ("POST", files, b'{"images": [1, 2]}'),
        ("POST", files, b'{"notImages": []}'),
        ("POST", files, b'{"images": [], "tagIds": "abc"}'),
        ("POST", files, b"\xff\xfe{}"),
        ("POST", files, b'{"images": [{"name": "x", "contents": "", "tagIds": [5]}]}'),
        ("POST", "{pid}/images/urls", b"{bad"),
        ("POST", "{pid}/images/urls", b'{"images": 5}'),
        ("POST", "{pid}/images/predictions", b"[1]"),
        ("POST", "{pid}/images/tags", b"{bad"),
        ("POST", "{pid}/images/tags", b'{"tags": "x"}'),
        ("POST", "{pid}/images/tags", b'{"tags": [1]}'),
        ("POST", "{pid}/images/metadata?imageIds={unknown}", b"[1, 2]"),
        ("POST", "{pid}/images/metadata?imageIds={unknown}", b'{"key": 5}'),
        ("POST", "{pid}/images/metadata?imageIds={unknown}", b"{bad"),
        ("PATCH", pid, b"{bad"),
        ("PATCH", pid, b"[1]"),
        ("PATCH", pid, b'{"settings": "General"}'),
        ("PATCH", pid, b'{"settings": [1]}'),
        ("PATCH", pid, b'{"name": 5}'),
        ("PATCH", pid, b'{"description": 5}'),
        ("PATCH", pid, b'{"settings": {"classificationType": "Bogus"}}'),
        ("PATCH", "{pid}/tags/{tag}", b"{bad"),
        ("PATCH", "{pid}/tags/{tag}", b'"red"'),
        ("PATCH", "{pid}/tags/{tag}", b'{"name": 5, "description": "", "type": "Regular"}'),
        ("PATCH", "{pid}/tags/{tag}", b'{"name": "x", "description": 5, "type": "Regular"}'),
        ("PATCH", "{pid}/tags/{tag}", b'{"name": "x", "description": "", "type": "Bogus"}'),
        ("POST", "{pid}/train", b"{bad"),
        ("POST", "{pid}/train", b'{"selectedTags": "x"}'),
        ("POST", "{pid}/predictions/query", b"{bad"),
        ("POST", "{pid}/predictions/query", b"[]"),
        ("POST", "{pid}/predictions/query", b'{"orderBy": "Bogus"}'),
        ("POST", "{pid}/predictions/query", b'{"tags": [1]}'),
        ("POST", "{pid}/predictions/query", b'{"tags": 5}'),
        ("POST", "{pid}/predictions/query", b'{"application": ["a"]}'),
        ("POST", "{pid}/predictions/query", b'{"iterationId": {"id": "x"}}'),
        ("POST", "{pid}/predictions/query", b'{"startTime": "yesterday"}'),
        ("POST", "{pid}/predictions/query", b'{"maxCount": "many"}'),
        ("POST", "{pid}/predictions/query", b'{"continuation": "abc"}'),
        ("POST", "{pid}/quicktest/url", b"{bad"),
        ("POST", "{pid}/images/suggested?iterationId={unknown}", b"{bad"),
        ("POST", "", b"{bad"),
        ("POST", "", b"[1]"),
        ("POST", files, b"[" * 50_000 + b"]" * 50_000),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    _malformed_bodies(),
    ids=[f"{m} {p or 'projects'} {b[:40]!r}" for m, p, b in _malformed_bodies()],
)
def test_malformed_json_bodies_are_400_bad_request(
    api: TestClient,
    api_settings: Settings,
    project_id: str,
    tagged: dict[str, str],
    method: str,
    path: str,
    body: bytes,
) -> None:
    resolved = (
        path.replace("{pid}", project_id)
        .replace("{tag}", tagged["red"])
        .replace("{unknown}", unknown_id())
    )
    url = f"{T}/projects/{resolved}".rstrip("/")
    if not path:  # create_project
        url = f"{T}/projects?name=x&domainId={TINY_DOMAIN}"
    refused(
        api_settings,
        lambda: api.request(method, url, content=body, headers={**TRAIN, **JSON_TYPE}),
        400,
        "BadRequest",
    )


def test_a_valid_image_with_malformed_batch_metadata_is_not_stored(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    for metadata in (["a"], "a", {"key": 5}, {"": "x"}):
        body = json_bytes({"images": [file_entry("a.jpg", good_jpeg(16))], "metadata": metadata})
        refused(
            api_settings,
            lambda body=body: api.post(
                f"{T}/projects/{project_id}/images/files",
                content=body,
                headers={**TRAIN, **JSON_TYPE},
            ),
            400,
            "BadRequest",
        )


@pytest.mark.parametrize("body", [b"{bad", b"[]", b'{"url": 5}'])
def test_malformed_json_to_prediction_url_is_400(trained: Trained, body: bytes) -> None:
    expected = {"BadRequest", "BadRequestImageUrl"} if body == b'{"url": 5}' else "BadRequest"
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/url",
            content=body,
            headers={**PREDICT, **JSON_TYPE},
        ),
        400,
        expected,
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n\r\nabc\r\n--x--\r\n"),  # no boundary parameter
        ("multipart/form-data; boundary=abc", b"no boundary in here"),
        (
            "multipart/form-data; boundary=abc",
            b'--abc\r\nContent-Disposition: form-data; name="imageData"\r\n\r\nxyz',
        ),
        ("multipart/form-data; boundary=abc", b"--abc--\r\n"),  # no parts
        ("application/json; charset=utf-8", b""),  # no image at all
    ],
    ids=["no-boundary-param", "boundary-missing", "not-closed", "no-parts", "empty"],
)
def test_malformed_multipart_is_400_bad_request(
    api: TestClient, api_settings: Settings, project_id: str, content_type: str, body: bytes
) -> None:
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/images",
            content=body,
            headers={**TRAIN, "Content-Type": content_type},
        ),
        400,
        "BadRequest",
    )


# --------------------------------------------------------------------------------------------
# Empty bodies with a JSON content type (spec §1.3)


def test_empty_json_typed_bodies_on_create_project_and_train_work(
    api: TestClient, api_settings: Settings
) -> None:
    before = stored(api_settings)
    pid = create_project(api, "empty bodies")  # Content-Length: 0, application/json
    assert stored(api_settings).counts["projects"] == before.counts["projects"] + 1
    tag_ids = {label: create_tag(api, pid, label) for label in ("red", "green")}
    upload_tagged(api, pid, tag_ids, 5)
    iteration = start_training(api, pid)  # Content-Length: 0, application/json
    assert iteration["name"] == "Iteration 1"
    wait_completed(api, pid, iteration["id"])
    after = stored(api_settings)
    assert after.counts["iterations"] == before.counts["iterations"] + 1
    assert after.counts["jobs"] == before.counts["jobs"] + 1


def test_a_literal_empty_object_body_is_accepted_too(
    api: TestClient, api_settings: Settings
) -> None:
    response = api.post(
        f"{T}/projects",
        params={"name": "braces", "domainId": TINY_DOMAIN},
        content=b"{}",
        headers={**TRAIN, **JSON_TYPE},
    )
    assert response.status_code == 200, _describe(response)
    assert response.json()["name"] == "braces"


# --------------------------------------------------------------------------------------------
# Invalid query parameters


def _bad_queries() -> list[tuple[str, str, str | set[str]]]:
    """(method, path with query under the project, codes)."""
    return [
        ("GET", "{pid}/images?take=999&skip=0", "BadRequest"),
        ("GET", "{pid}/images?take=257&skip=0", "BadRequest"),
        ("GET", "{pid}/images?take=-1&skip=0", "BadRequest"),
        ("GET", "{pid}/images?take=ten&skip=0", "BadRequest"),
        ("GET", "{pid}/images?take=50&skip=-1", "BadRequest"),
        ("GET", "{pid}/images?orderBy=Bogus&take=50&skip=0", "BadRequest"),
        ("GET", "{pid}/images?taggingStatus=Bogus&take=50&skip=0", "BadRequest"),
        ("GET", "{pid}/images?%24filter=garbage&take=50&skip=0", "BadRequest"),
        ("GET", "{pid}/images/tagged?take=999&skip=0", "BadRequest"),
        ("GET", "{pid}/images/untagged?orderBy=Bogus&take=50&skip=0", "BadRequest"),
        ("GET", "{pid}/images/count?taggingStatus=Bogus", "BadRequest"),
        ("GET", "{pid}/images/id?imageIds=" + ",".join(["x"] * 257), "BadRequest"),
        ("DELETE", "{pid}/images", "BadRequest"),
        ("DELETE", "{pid}/images?allImages=maybe", "BadRequest"),
        ("DELETE", "{pid}/images/tags?imageIds={unknown}", "BadRequest"),
        ("POST", "{pid}/tags?name=x&type=Bogus", ENUM_CODES),
        ("POST", "{pid}/tags", TAG_NAME_CODES),
        ("POST", "{pid}/tags?name=%20%20", TAG_NAME_CODES),
        ("POST", "{pid}/tags?name=" + "x" * 201, TAG_NAME_CODES),
        ("POST", "{pid}/train?trainingType=Bogus", "BadRequest"),
        ("POST", "{pid}/train?forceTrain=maybe", "BadRequest"),
        ("POST", "{pid}/iterations/{unknown}/export?platform=CoreML", "BadRequest"),
        ("GET", "{pid}/iterations/{unknown}/performance?threshold=2", "BadRequest"),
        ("GET", "{pid}/iterations/{unknown}/performance?threshold=half", "BadRequest"),
        ("POST", "{pid}/images/suggested", "BadRequest"),
        ("DELETE", "{pid}/predictions", "BadRequest"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "codes"), _bad_queries(), ids=[f"{m} {p[:60]}" for m, p, _ in _bad_queries()]
)
def test_invalid_query_parameters_are_400(
    api: TestClient,
    api_settings: Settings,
    project_id: str,
    method: str,
    path: str,
    codes: str | set[str],
) -> None:
    url = f"{T}/projects/" + path.replace("{pid}", project_id).replace("{unknown}", unknown_id())
    headers = {**TRAIN, **JSON_TYPE} if method == "POST" and "/tags" not in path else TRAIN
    body = b"{}" if path.endswith("/suggested") else b""
    refused(
        api_settings,
        lambda: api.request(method, url, content=body, headers=headers),
        400,
        codes,
    )


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ({}, PROJECT_NAME_CODES),
        ({"name": "   "}, PROJECT_NAME_CODES),
        ({"name": "x" * 201}, PROJECT_NAME_CODES),
        ({"name": "x", "classificationType": "Bogus"}, ENUM_CODES),
    ],
    ids=["no-name", "blank-name", "long-name", "bad-classification"],
)
def test_create_project_with_bad_parameters_is_400_and_creates_nothing(
    api: TestClient, api_settings: Settings, query: dict[str, str], codes: set[str]
) -> None:
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects",
            params={**query, "domainId": TINY_DOMAIN},
            content=b"",
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        codes,
    )


# --------------------------------------------------------------------------------------------
# Business rules on tags


def test_a_duplicate_tag_name_is_400_tag_name_not_unique(
    api: TestClient, api_settings: Settings, project_id: str, tagged: dict[str, str]
) -> None:
    refused(
        api_settings,
        lambda: api.post(f"{T}/projects/{project_id}/tags", params={"name": "red"}, headers=TRAIN),
        400,
        "BadRequestTagNameNotUnique",
    )
    refused(  # renaming onto another tag's name
        api_settings,
        lambda: api.patch(
            f"{T}/projects/{project_id}/tags/{tagged['green']}",
            content=json_bytes({"name": "red", "description": "", "type": "Regular"}),
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        "BadRequestTagNameNotUnique",
    )


def test_a_second_negative_tag_is_400_multiple_negative_tag(
    api: TestClient, api_settings: Settings, project_id: str, tagged: dict[str, str]
) -> None:
    create_tag(api, project_id, "nothing", "Negative")
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/tags",
            params={"name": "nothing else", "type": "Negative"},
            headers=TRAIN,
        ),
        400,
        "BadRequestMultipleNegativeTag",
    )
    refused(  # turning a regular tag into a second Negative one
        api_settings,
        lambda: api.patch(
            f"{T}/projects/{project_id}/tags/{tagged['red']}",
            content=json_bytes({"name": "red", "description": "", "type": "Negative"}),
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        "BadRequestMultipleNegativeTag",
    )


# --------------------------------------------------------------------------------------------
# Training and publishing


@pytest.mark.parametrize(
    "layout",
    [{}, {"red": 5}, {"red": 5, "green": 4}, {"red": 5, "nothing": 5}],
    ids=["no-images", "one-tag-with-images", "four-images", "second-tag-is-negative"],
)
def test_training_with_too_few_images_is_400_and_creates_no_iteration(
    api: TestClient,
    api_settings: Settings,
    project_id: str,
    tagged: dict[str, str],
    layout: dict[str, int],
) -> None:
    tag_ids = dict(tagged)
    if "nothing" in layout:
        tag_ids["nothing"] = create_tag(api, project_id, "nothing", "Negative")
    entries = [
        file_entry(
            f"{label}-{i}.jpg",
            good_jpeg(300 + k * 10 + i, COLOURS.get(label, (128, 128, 128))),
            [tag_ids[label]],
        )
        for k, (label, n) in enumerate(layout.items())
        for i in range(n)
    ]
    if entries:
        response = api.post(
            f"{T}/projects/{project_id}/images/files",
            content=json_bytes({"images": entries}),
            headers={**TRAIN, **JSON_TYPE},
        )
        assert response.status_code == 200, _describe(response)
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{project_id}/train",
            params={"reservedBudgetInHours": "0", "forceTrain": "false"},
            content=b"",
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        TRAINING_INVALID_CODES,
    )
    assert stored(api_settings).counts["iterations"] == 0


def test_training_when_nothing_changed_is_400_training_not_needed(trained: Trained) -> None:
    refused(
        trained.settings,
        lambda: trained.api.post(
            f"{T}/projects/{trained.project_id}/train",
            params={"reservedBudgetInHours": "0", "forceTrain": "false"},
            content=b"",
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        "BadRequestTrainingNotNeeded",
    )


def test_rules_on_published_and_completed_iterations(trained: Trained) -> None:
    base = f"{T}/projects/{trained.project_id}/iterations"
    refused(  # the name is bound to iteration 1; no overwrite
        trained.settings,
        lambda: trained.api.post(
            f"{base}/{trained.unpublished_id}/publish",
            params={"publishName": PUBLISH_NAME, "predictionId": RESOURCE_ID},
            headers=TRAIN,
        ),
        400,
        "BadRequestInvalidPublishName",
    )
    refused(
        trained.settings,
        lambda: trained.api.delete(f"{base}/{trained.published_id}", headers=TRAIN),
        400,
        "BadRequestIterationIsPublished",
    )
    refused(
        trained.settings,
        lambda: trained.api.delete(f"{base}/{trained.unpublished_id}/publish", headers=TRAIN),
        400,
        "BadRequestIterationNotPublished",
    )
    for bad_name in ("", "   ", "x" * 201):
        refused(
            trained.settings,
            lambda bad_name=bad_name: trained.api.post(
                f"{base}/{trained.unpublished_id}/publish",
                params={"publishName": bad_name, "predictionId": RESOURCE_ID},
                headers=TRAIN,
            ),
            400,
            {"BadRequest", "BadRequestInvalidPublishName", "BadRequestRequiredParamIsNull"},
        )
    refused(
        trained.settings,
        lambda: trained.api.patch(
            f"{base}/{trained.unpublished_id}",
            content=json_bytes({"name": ""}),
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        {"BadRequest", "BadRequestIterationName", "BadRequestRequiredParamIsNull"},
    )


@pytest.fixture
def training_never_runs(api_settings: Settings) -> Iterator[TestClient]:
    """The app without its job worker: a started training stays ``Training``."""
    app = create_app(api_settings, run_worker=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_an_iteration_still_training_cannot_be_published_retrained_or_deleted(
    training_never_runs: TestClient, api_settings: Settings
) -> None:
    api = training_never_runs
    pid = create_project(api)
    tag_ids = {label: create_tag(api, pid, label) for label in ("red", "green")}
    upload_tagged(api, pid, tag_ids, 5)
    iteration = start_training(api, pid)["id"]
    base = f"{T}/projects/{pid}/iterations/{iteration}"
    refused(
        api_settings,
        lambda: api.post(
            f"{base}/publish",
            params={"publishName": PUBLISH_NAME, "predictionId": RESOURCE_ID},
            headers=TRAIN,
        ),
        400,
        "BadRequestIterationIsNotTrained",
    )
    refused(
        api_settings,
        lambda: api.post(
            f"{T}/projects/{pid}/train",
            params={"forceTrain": "true"},
            content=b"",
            headers={**TRAIN, **JSON_TYPE},
        ),
        400,
        "BadRequestTrainingAlreadyInProgress",
    )
    refused(
        api_settings,
        lambda: api.get(f"{base}/performance", headers=TRAIN),
        400,
        "BadRequestIterationIsNotTrained",
    )
    refused(
        api_settings,
        lambda: api.post(f"{base}/export", params={"platform": "ONNX"}, headers=TRAIN),
        400,
        "BadRequestIterationIsNotTrained",
    )
    refused(api_settings, lambda: api.delete(base, headers=TRAIN), 400, "BadRequest")


# --------------------------------------------------------------------------------------------
# Routes and keys


@pytest.mark.parametrize(
    ("path", "native"),
    [
        (f"{T}/nothing-here", False),
        (f"{T}/projects/{{pid}}/nothing-here", False),
        (f"{P}/{{pid}}/detect/nothing/here", False),
        ("/customvision/v9.9/training/projects", False),
        ("/nothing-here", True),
        ("/api/v1/nothing-here", True),
        ("/api/v1/projects/{pid}/nothing-here", True),
    ],
)
def test_an_unknown_route_is_404_json(
    api: TestClient, api_settings: Settings, project_id: str, path: str, native: bool
) -> None:
    url = path.replace("{pid}", project_id)
    if native:
        refused(
            api_settings,
            lambda: api.get(url, headers=TRAIN),
            404,
            "route_not_found",
            native=True,
        )
    else:
        refused(api_settings, lambda: api.get(url, headers=TRAIN), 404, "NotFound")


def test_a_wrong_method_is_405_json(
    api: TestClient, api_settings: Settings, project_id: str
) -> None:
    refused(
        api_settings,
        lambda: api.put(
            f"{T}/projects/{project_id}", content=b"{}", headers={**TRAIN, **JSON_TYPE}
        ),
        405,
        "BadRequestNotSupported",
    )
    refused(
        api_settings,
        lambda: api.delete(f"/api/v1/projects/{project_id}/keys", headers=TRAIN),
        405,
        "method_not_allowed",
        native=True,
    )
    # Both faces say which methods the route takes (RFC 9110: a 405 carries Allow).
    cv = api.put(f"{T}/projects/{project_id}", content=b"{}", headers={**TRAIN, **JSON_TYPE})
    assert "GET" in cv.headers["allow"].replace(" ", "").split(",")
    native = api.delete(f"/api/v1/projects/{project_id}/keys", headers=TRAIN)
    assert native.headers["allow"] == "GET"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Training-key": "wrong"},
        {"Training-key": ""},
        {"Prediction-key": PREDICTION_KEY},  # a prediction key does not open training routes
        {"Ocp-Apim-Subscription-Key": "wrong"},
    ],
    ids=["none", "wrong", "empty", "prediction-key", "wrong-apim"],
)
def test_a_wrong_key_is_401_json_and_changes_nothing(
    api: TestClient, api_settings: Settings, project_id: str, headers: dict[str, str]
) -> None:
    body, multipart_headers = multipart(good_jpeg(20))
    sends = [
        lambda: api.get(f"{T}/projects", headers=headers),
        lambda: api.post(
            f"{T}/projects",
            params={"name": "x", "domainId": TINY_DOMAIN},
            content=b"",
            headers={**headers, **JSON_TYPE},
        ),
        lambda: api.post(
            f"{T}/projects/{project_id}/images",
            content=body,
            headers={**headers, **multipart_headers},
        ),
        lambda: api.post(  # the key is checked before the body is read
            f"{T}/projects/{project_id}/images/files",
            content=b"{bad",
            headers={**headers, **JSON_TYPE},
        ),
        lambda: api.delete(f"{T}/projects/{project_id}", headers=headers),
        lambda: api.get(f"{T}/projects/{unknown_id()}", headers=headers),  # 401, not 404
    ]
    for send in sends:
        refused(api_settings, send, 401, "Unauthorized")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Prediction-key": "wrong"}, {"Training-key": "wrong"}],
    ids=["none", "wrong", "wrong-training"],
)
def test_a_wrong_key_on_prediction_is_401_json(trained: Trained, headers: dict[str, str]) -> None:
    body, multipart_headers = multipart(good_jpeg(21))
    for route in ("image", "image/nostore"):
        refused(
            trained.settings,
            lambda route=route: trained.api.post(
                f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/{route}",
                content=body,
                headers={**headers, **multipart_headers},
            ),
            401,
            "Unauthorized",
        )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Training-Key": "wrong"}, {"Prediction-Key": PREDICTION_KEY}],
    ids=["none", "wrong", "prediction-key"],
)
def test_a_wrong_key_on_native_routes_is_401_native_json(
    api: TestClient, api_settings: Settings, project_id: str, headers: dict[str, str]
) -> None:
    refused(
        api_settings,
        lambda: api.get(f"/api/v1/projects/{project_id}/keys", headers=headers),
        401,
        "unauthorized",
        native=True,
    )
    refused(
        api_settings,
        lambda: api.get(
            f"/api/v1/projects/{project_id}/iterations/{unknown_id()}/export", headers=headers
        ),
        401,
        "unauthorized",
        native=True,
    )
    refused(
        api_settings,
        lambda: api.post(
            "/api/v1/projects",
            content=b'{"name": "by a stranger"}',
            headers={**headers, **JSON_TYPE},
        ),
        401,
        "unauthorized",
        native=True,
    )


@pytest.mark.parametrize("body", [b"{bad", b"[]", b'{"name": 5}'])
def test_native_routes_check_the_key_before_the_body(
    api: TestClient, api_settings: Settings, body: bytes
) -> None:
    """As on the Custom Vision face: a caller without a key learns nothing about the body."""
    refused(
        api_settings,
        lambda: api.post(
            "/api/v1/projects", content=body, headers={"Training-Key": "wrong", **JSON_TYPE}
        ),
        401,
        "unauthorized",
        native=True,
    )


def test_the_right_keys_still_work_after_all_this(trained: Trained) -> None:
    """A control: the published model classifies a good image, and nothing is stored by nostore."""
    body, headers = multipart(good_jpeg(22, COLOURS["green"]))
    before = stored(trained.settings)
    response = trained.api.post(
        f"{P}/{trained.project_id}/classify/iterations/{PUBLISH_NAME}/image/nostore",
        content=body,
        headers={**PREDICT, **headers},
    )
    assert response.status_code == 200, _describe(response)
    answer = response.json()
    assert answer["iteration"] == trained.published_id
    assert {p["tagName"] for p in answer["predictions"]} == set(COLOURS)
    assert stored(trained.settings).changes_to(before) == []
