"""Business rules on tags, training and publishing, routes and keys: the documented 4xx JSON
errors, and nothing changed.

How each request is sent and checked: see ``api_errors_support``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.fixtures import (
    COLOURS,
    PREDICTION_KEY,
)
from tests.integration.api_errors_support import (
    JSON_TYPE,
    PREDICT,
    PUBLISH_NAME,
    RESOURCE_ID,
    TINY_DOMAIN,
    TRAIN,
    TRAINING_INVALID_CODES,
    P,
    T,
    Trained,
    _describe,
    create_project,
    create_tag,
    file_entry,
    good_jpeg,
    json_bytes,
    multipart,
    refused,
    start_training,
    stored,
    unknown_id,
    upload_tagged,
)

from tagloop.config import Settings
from tagloop.shells.server import create_app

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
