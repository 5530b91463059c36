"""Contract: the exact JSON shape of every error, per face of the API.

* Custom Vision paths (``/customvision/...``) answer Custom Vision's flat error (spec §2.1):
  exactly the keys ``code`` and ``message``, both non-empty strings. The SDK reads ``code``; the
  nested ``{"error": {...}}`` shape or an empty body breaks it.
* Every other path (the native ``/api/v1`` API, unknown routes) answers
  ``{"ok": false, "error", "code", "status"}`` with ``status`` equal to the HTTP status.

One table of requests hits both faces: unknown ids and routes, wrong methods, missing and wrong
keys, malformed bodies and parameters, oversized batches.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorCodes
from fastapi.testclient import TestClient
from tests.fixtures import PREDICTION_KEY, TINY, TRAINING_KEY, colour_image, jpeg_bytes

from tagloop.config import Settings
from tagloop.shells.server import create_app
from tagloop.workspace.domains import domain_id_for

T = "/customvision/v3.4-preview/training"
P = "/customvision/v3.1/prediction"
TRAIN = {"Training-key": TRAINING_KEY, "Accept": "application/json"}
PREDICT = {"Prediction-key": PREDICTION_KEY, "Accept": "application/json"}
NATIVE = {"Training-Key": TRAINING_KEY}
JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}
BOUNDARY = "0123456789abcdef0123456789abcdef"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
TRAIN_JSON = {**TRAIN, **JSON_TYPE}
PREDICT_JSON = {**PREDICT, **JSON_TYPE}
TRAIN_MULTIPART = {**TRAIN, **MULTIPART}
PREDICT_MULTIPART = {**PREDICT, **MULTIPART}
UNKNOWN = "00000000-1111-2222-3333-444444444444"
# The SDK's CustomVisionErrorCodes (spec §2.3), plus the suggested 401 code (spec §1.2).
CV_CODES = {code.value for code in CustomVisionErrorCodes} | {"Unauthorized"}


def _multipart(data: bytes) -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="imageData"\r\n\r\n'
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


JPEG = jpeg_bytes(colour_image((200, 40, 40), seed=1))
BATCH_65 = json.dumps(
    {
        "images": [
            {"name": f"{i}.jpg", "contents": base64.b64encode(b"x").decode()} for i in range(65)
        ]
    }
).encode()


@dataclass(frozen=True)
class Case:
    """One request; ``{pid}`` in the path is a real project (with one tag, ``red``)."""

    id: str
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @property
    def custom_vision(self) -> bool:
        return self.path.startswith("/customvision/")


CASES = [
    # Custom Vision training face
    Case("cv-unknown-project", "GET", f"{T}/projects/{UNKNOWN}", 404, TRAIN),
    Case("cv-unknown-tag", "GET", f"{T}/projects/{{pid}}/tags/{UNKNOWN}", 404, TRAIN),
    Case("cv-unknown-iteration", "GET", f"{T}/projects/{{pid}}/iterations/{UNKNOWN}", 404, TRAIN),
    Case("cv-unknown-domain", "GET", f"{T}/domains/{UNKNOWN}", 404, TRAIN),
    Case("cv-unknown-route", "GET", f"{T}/nothing-here", 404, TRAIN),
    Case("cv-unknown-version", "GET", "/customvision/v9.9/training/projects", 404, TRAIN),
    Case("cv-wrong-method", "PUT", f"{T}/projects/{{pid}}", 405, TRAIN_JSON, b"{}"),
    Case("cv-no-key", "GET", f"{T}/projects", 401),
    Case("cv-wrong-key", "GET", f"{T}/projects", 401, {"Training-key": "wrong"}),
    Case("cv-prediction-key", "GET", f"{T}/projects", 401, PREDICT),
    Case("cv-no-name", "POST", f"{T}/projects", 400, TRAIN_JSON, b""),
    Case(
        "cv-bad-json",
        "POST",
        f"{T}/projects/{{pid}}/images/files",
        400,
        TRAIN_JSON,
        b"{bad",
    ),
    Case("cv-json-list", "PATCH", f"{T}/projects/{{pid}}", 400, TRAIN_JSON, b"[]"),
    Case(
        "cv-batch-65",
        "POST",
        f"{T}/projects/{{pid}}/images/files",
        400,
        TRAIN_JSON,
        BATCH_65,
    ),
    Case("cv-take-999", "GET", f"{T}/projects/{{pid}}/images?take=999&skip=0", 400, TRAIN),
    Case("cv-order-bogus", "GET", f"{T}/projects/{{pid}}/images/tagged?orderBy=Bogus", 400, TRAIN),
    Case("cv-duplicate-tag", "POST", f"{T}/projects/{{pid}}/tags?name=red", 400, TRAIN),
    Case("cv-train-too-few", "POST", f"{T}/projects/{{pid}}/train", 400, TRAIN_JSON, b""),
    Case(
        "cv-no-image",
        "POST",
        f"{T}/projects/{{pid}}/images",
        400,
        TRAIN_MULTIPART,
        f"--{BOUNDARY}--\r\n".encode(),
    ),
    Case("cv-v3.0-alias", "GET", f"/customvision/v3.0/training/projects/{UNKNOWN}", 404, TRAIN),
    Case("cv-v3.3-alias-no-key", "GET", "/customvision/v3.3/training/projects", 401),
    # Custom Vision prediction face
    Case(
        "cv-predict-unknown-name",
        "POST",
        f"{P}/{{pid}}/classify/iterations/nothing/image",
        404,
        PREDICT_MULTIPART,
        _multipart(JPEG),
    ),
    Case(
        "cv-predict-no-key",
        "POST",
        f"{P}/{{pid}}/classify/iterations/nothing/image/nostore",
        401,
        MULTIPART,
        _multipart(JPEG),
    ),
    Case(
        "cv-predict-bad-json",
        "POST",
        f"{P}/{{pid}}/classify/iterations/nothing/url",
        400,
        PREDICT_JSON,
        b"{bad",
    ),
    Case(
        "cv-predict-no-image",
        "POST",
        f"{P}/{{pid}}/classify/iterations/nothing/image",
        400,
        PREDICT,
        b"",
    ),
    Case("cv-predict-unknown-route", "GET", f"{P}/{{pid}}/classify", 404, PREDICT),
    Case(
        "cv-v3.0-prediction-alias",
        "POST",
        "/customvision/v3.0/prediction/{pid}/classify/iterations/nothing/image",
        401,
        MULTIPART,
        _multipart(JPEG),
    ),
    # Native face
    Case("native-unknown-route", "GET", "/nothing-here", 404, NATIVE),
    Case("native-unknown-api-route", "GET", "/api/v1/nothing-here", 404, NATIVE),
    Case("native-wrong-method", "POST", "/health", 405),
    Case("native-keys-no-key", "GET", "/api/v1/projects/{pid}/keys", 401),
    Case(
        "native-keys-wrong-key",
        "GET",
        "/api/v1/projects/{pid}/keys",
        401,
        {"Training-Key": "wrong"},
    ),
    Case(
        "native-keys-prediction-key",
        "GET",
        "/api/v1/projects/{pid}/keys",
        401,
        {"Prediction-Key": PREDICTION_KEY},
    ),
    Case("native-keys-unknown-project", "GET", f"/api/v1/projects/{UNKNOWN}/keys", 404, NATIVE),
    Case("native-keys-wrong-method", "DELETE", "/api/v1/projects/{pid}/keys", 405, NATIVE),
    Case(
        "native-unknown-image-file",
        "GET",
        f"/api/v1/projects/{{pid}}/images/{UNKNOWN}/file",
        404,
        NATIVE,
    ),
    Case(
        "native-unknown-export",
        "GET",
        f"/api/v1/projects/{{pid}}/iterations/{UNKNOWN}/export",
        404,
        NATIVE,
    ),
    Case(
        "native-unknown-prediction",
        "GET",
        f"/api/v1/projects/{{pid}}/predictions/{UNKNOWN}/file",
        404,
        NATIVE,
    ),
    Case("native-unknown-project", "GET", f"/api/v1/projects/{UNKNOWN}", 404, NATIVE),
    Case("native-bad-json", "POST", "/api/v1/projects", 400, {**NATIVE, **JSON_TYPE}, b"{bad"),
    Case("native-projects-no-key", "GET", "/api/v1/projects", 401),
]


@dataclass(frozen=True)
class Service:
    client: TestClient
    project_id: str


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Iterator[Service]:
    settings = Settings(
        cache_dir=shared_cache,
        data_dir=tmp_path_factory.mktemp("error-shape") / "service",
        training_key=TRAINING_KEY,
        prediction_key=PREDICTION_KEY,
        n_threads=2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post(
            f"{T}/projects",
            params={"name": "shapes", "domainId": domain_id_for(TINY)},
            headers=TRAIN_JSON,
        )
        assert response.status_code == 200, response.text
        project_id = response.json()["id"]
        response = client.post(f"{T}/projects/{project_id}/tags?name=red", headers=TRAIN)
        assert response.status_code == 200, response.text
        yield Service(client, project_id)


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_body_has_the_exact_shape_of_its_face(service: Service, case: Case) -> None:
    path = case.path.replace("{pid}", service.project_id)
    response = service.client.request(case.method, path, headers=case.headers, content=case.body)
    where = f"{case.method} {path} -> {response.status_code} {response.text[:300]!r}"
    assert response.status_code == case.status, where
    assert response.headers.get("content-type", "").startswith("application/json"), where
    assert response.content, f"{where}: empty error body (spec §2.1: the SDK crashes on it)"
    body = response.json()
    assert isinstance(body, dict), where
    if case.custom_vision:
        assert set(body) == {"code", "message"}, where
        assert _non_empty_string(body["code"]), where
        assert _non_empty_string(body["message"]), where
        assert body["code"] in CV_CODES, f"{where}: not a Custom Vision error code"
    else:
        assert set(body) == {"ok", "error", "code", "status"}, where
        assert body["ok"] is False, where
        assert _non_empty_string(body["error"]), where
        assert _non_empty_string(body["code"]), where
        assert body["code"] == body["code"].lower() and " " not in body["code"], where
        assert body["status"] == response.status_code, where
        assert type(body["status"]) is int, where


def test_the_table_covers_both_faces_and_every_error_status() -> None:
    faces = {c.custom_vision for c in CASES}
    assert faces == {True, False}
    for face in faces:
        statuses = {c.status for c in CASES if c.custom_vision is face}
        assert {400, 401, 404, 405} <= statuses, (face, statuses)


def test_a_custom_vision_error_is_not_nested(service: Service) -> None:
    """The nested OData shape would leave the SDK's ``error.code`` empty (spec §2.1)."""
    response = service.client.get(f"{T}/projects/{uuid.uuid4()}", headers=TRAIN)
    assert response.status_code == 404
    body = response.json()
    assert "error" not in body
    assert body["code"] == "NotFoundProject"
    assert isinstance(body["message"], str) and body["message"]
