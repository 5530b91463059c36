"""Malformed JSON, empty JSON bodies and invalid query parameters: the documented 4xx JSON
errors, and nothing changed.

How each request is sent and checked: see ``api_errors_support``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.integration.api_errors_support import (
    ENUM_CODES,
    JSON_TYPE,
    PREDICT,
    PROJECT_NAME_CODES,
    PUBLISH_NAME,
    TAG_NAME_CODES,
    TINY_DOMAIN,
    TRAIN,
    P,
    T,
    Trained,
    _describe,
    create_project,
    create_tag,
    file_entry,
    good_jpeg,
    json_bytes,
    refused,
    start_training,
    stored,
    unknown_id,
    upload_tagged,
    wait_completed,
)

from tagloop.config import Settings

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
