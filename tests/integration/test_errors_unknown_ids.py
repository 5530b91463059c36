"""Unknown ids on every route family: the documented 4xx JSON errors, and nothing changed.

How each request is sent and checked: see ``api_errors_support``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.integration.api_errors_support import (
    JSON_TYPE,
    NOT_IMAGES,
    PREDICT,
    PUBLISH_NAME,
    TRAIN,
    P,
    T,
    Trained,
    file_entry,
    good_jpeg,
    json_bytes,
    multipart,
    refused,
    unknown_id,
)

from tagloop.config import Settings

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
