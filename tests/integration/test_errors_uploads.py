"""Bad uploads (non-image bytes, oversized files, batch size, pixel dimensions, tags on
uploads): the documented 4xx JSON errors, and nothing changed.

How each request is sent and checked: see ``api_errors_support``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fixtures import (
    colour_image,
    jpeg_bytes,
)
from tests.integration.api_errors_support import (
    JSON_TYPE,
    NOT_IMAGES,
    PREDICT,
    PUBLISH_NAME,
    TRAIN,
    P,
    T,
    Trained,
    _describe,
    bomb_png,
    create_tag,
    file_entry,
    good_jpeg,
    json_bytes,
    multipart,
    over_prediction_limit,
    over_training_limit,
    refused,
    rejected_items,
    stored,
    tiny_jpeg,
    unknown_id,
)

from tagloop.config import Settings

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
