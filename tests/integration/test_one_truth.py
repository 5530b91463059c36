"""One evaluation at a threshold behind every face, one tag per multiclass image, and tag
changes that stay inside their project (real app, real SQLite, the tiny backbone).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fixtures import COLOURS, PREDICTION_KEY, TINY, TRAINING_KEY, colour_image, jpeg_bytes
from tests.integration.api_support import API, N_PER_TAG, TRAIN, login, ok, train, upload

CV = "/customvision/v3.3/training"


def colour_project(
    client: TestClient, name: str, mislabel: bool = True
) -> tuple[str, dict[str, str]]:
    """A trained multiclass project of the three colours; one green image filed under red."""
    body = {"name": name, "classification_type": "Multiclass", "backbone": TINY}
    pid = ok(client.post(f"{API}/projects", json=body, headers=TRAIN), 201)["id"]
    tags = {}
    for k, colour in enumerate(COLOURS):
        tag = ok(
            client.post(f"{API}/projects/{pid}/tags", json={"name": colour}, headers=TRAIN), 201
        )
        tags[colour] = tag["id"]
        files = [
            (f"{colour}{i}.jpg", jpeg_bytes(colour_image(COLOURS[colour], seed=100 * k + i)))
            for i in range(N_PER_TAG)
        ]
        upload(client, pid, files, tag_id=tag["id"])
    if mislabel:
        odd = [("odd.jpg", jpeg_bytes(colour_image(COLOURS["green"], seed=999)))]
        upload(client, pid, odd, tag_id=tags["red"])
    return pid, tags


def test_every_face_shows_one_evaluation_at_each_threshold(client: TestClient) -> None:
    pid, tags = colour_project(client, "faces")
    iteration = train(client, pid)
    login(client)
    it = f"{API}/projects/{pid}/iterations/{iteration['id']}"
    for threshold in (0.0, 0.5, 0.8, 0.97):
        native = ok(client.get(f"{it}/performance", params={"threshold": threshold}, headers=TRAIN))
        cv = ok(
            client.get(
                f"{CV}/projects/{pid}/iterations/{iteration['id']}/performance",
                params={"threshold": threshold},
                headers=TRAIN,
            )
        )
        overall = native["overall"]
        assert (cv["precision"], cv["recall"]) == (overall["precision"], overall["recall"])
        by_id = {t["id"]: t for t in native["per_tag"]}
        for tag in cv["perTagPerformance"]:
            mine = by_id[tag["id"]]
            assert (tag["precision"], tag["recall"]) == (mine["precision"], mine["recall"])
        results = ok(
            client.get(f"{it}/results", params={"threshold": threshold, "take": 256}, headers=TRAIN)
        )["results"]
        n = len(results)
        assert sum(r["correct"] for r in results) / n == pytest.approx(overall["accuracy"])
        assert sum(bool(r["predicted_tags"]) for r in results) / n == pytest.approx(
            overall["coverage"]
        )
        # The matrix counts the same per-image answers.
        cm = native["report"]["confusion_matrix"]
        names = cm["labels"]
        counted = [[0] * (len(names) + 1) for _ in names]
        for r in results:
            row = names.index(r["true_tags"][0]["name"])
            given = r["predicted_tags"]
            counted[row][names.index(given[0]["name"]) if given else len(names)] += 1
        assert counted == [
            [*row, none] for row, none in zip(cm["matrix"], cm["no_label"], strict=True)
        ]
        # The web page: the same accuracy and the red outlines on the same images.
        page = client.get(
            f"/projects/{pid}/performance",
            params={"iteration": iteration["id"], "threshold": threshold},
            headers={"Accept": "text/html"},
        )
        assert page.status_code == 200, page.text
        accuracy = re.search(r'data-metric="accuracy">([^<]+)<', page.text)
        assert accuracy is not None
        assert accuracy.group(1) == f"{100 * overall['accuracy']:.1f}%"
        n_wrong = sum(not r["correct"] for r in results)
        assert page.text.count('class="tile wrong"') == n_wrong
    # At a threshold no image reaches, every image has no tag, and the page says so.
    none = ok(client.get(f"{it}/performance", params={"threshold": 1.0}, headers=TRAIN))
    assert none["overall"]["coverage"] == 0.0 and none["overall"]["accuracy"] == 0.0
    assert sum(none["report"]["confusion_matrix"]["no_label"]) == none["report"]["n_images"]


def test_a_multiclass_image_has_one_tag(client: TestClient) -> None:
    pid, tags = colour_project(client, "one tag", mislabel=False)
    p = f"{API}/projects/{pid}"
    image = ok(client.get(f"{p}/images", params={"tag_id": tags["red"], "take": 1}, headers=TRAIN))
    image_id = image["images"][0]["id"]
    second = client.post(
        f"{p}/images/tags", json={"image_ids": [image_id], "tag_ids": [tags["blue"]]}, headers=TRAIN
    )
    assert second.status_code == 400, second.text
    assert second.json()["code"] == "one_tag_per_image"
    assert "one tag" in second.json()["error"]
    replaced = client.post(
        f"{p}/images/tags",
        json={"image_ids": [image_id], "tag_ids": [tags["blue"]], "replace": True},
        headers=TRAIN,
    )
    assert replaced.status_code == 200, replaced.text
    after = ok(
        client.get(f"{p}/images", params={"tag_id": tags["blue"], "take": 256}, headers=TRAIN)
    )
    mine = next(i for i in after["images"] if i["id"] == image_id)
    assert [t["id"] for t in mine["tags"]] == [tags["blue"]]
    # An upload with two tags is refused for that image, with the reason.
    parts = [
        ("file0", ("two.jpg", jpeg_bytes(colour_image(COLOURS["red"], seed=4242)), "image/jpeg"))
    ]
    both = ok(
        client.post(
            f"{p}/images",
            files=parts,
            params={"tag_ids": f"{tags['red']},{tags['blue']}"},
            headers=TRAIN,
        )
    )
    assert both["images"][0]["status"] == "ErrorTagLimitExceed"
    assert "one tag" in both["images"][0]["reason"]
    # The Custom Vision route answers its own error shape for the same rule.
    cv = client.post(
        f"{CV}/projects/{pid}/images/tags",
        json={"tags": [{"imageId": image_id, "tagId": tags["green"]}]},
        headers=TRAIN,
    )
    assert cv.status_code == 400 and cv.json()["code"] == "BadRequest"


def _keys(client: TestClient, pid: str) -> dict[str, str]:
    doc: dict[str, Any] = ok(client.get(f"{API}/projects/{pid}/keys", headers=TRAIN))
    return {"Training-Key": doc["training_key"]}


def test_untagging_never_reaches_another_projects_images(client: TestClient) -> None:
    """With project B's own key and project C's image ids, C's tags stay (native and CV)."""
    b, _ = colour_project(client, "B", mislabel=False)
    c, c_tags = colour_project(client, "C", mislabel=False)
    own_key = _keys(client, b)
    c_images = ok(client.get(f"{API}/projects/{c}/images", params={"take": 256}, headers=TRAIN))
    ids = [i["id"] for i in c_images["images"]]
    body = {"image_ids": ids[:10], "tag_ids": list(c_tags.values())}
    ok(client.post(f"{API}/projects/{b}/images/untag", json=body, headers=own_key), 204)
    response = client.delete(
        f"{CV}/projects/{b}/images/tags",
        params={"imageIds": ",".join(ids[:10]), "tagIds": ",".join(c_tags.values())},
        headers=own_key,
    )
    assert response.status_code in (200, 204), response.text
    after = ok(client.get(f"{API}/projects/{c}/images", params={"take": 256}, headers=TRAIN))
    assert all(len(i["tags"]) == 1 for i in after["images"])
    assert ok(client.get(f"{API}/projects/{c}", headers=TRAIN))["n_untagged"] == 0


def test_prediction_keys_do_not_open_training_images(client: TestClient) -> None:
    """Prediction keys (the server's and a project's own) open prediction routes only."""
    pid, _ = colour_project(client, "keys", mislabel=False)
    image_id = ok(client.get(f"{API}/projects/{pid}/images", headers=TRAIN))["images"][0]["id"]
    doc = ok(client.get(f"{API}/projects/{pid}/keys", headers=TRAIN))
    for key in (PREDICTION_KEY, doc["prediction_key"]):
        for what in ("file", "thumbnail"):
            url = f"{API}/projects/{pid}/images/{image_id}/{what}"
            refused = client.get(url, headers={"Prediction-Key": key})
            assert refused.status_code == 401, (what, refused.text)
            assert refused.json()["code"] == "unauthorized"
    for key in (TRAINING_KEY, doc["training_key"]):
        url = f"{API}/projects/{pid}/images/{image_id}/thumbnail"
        assert client.get(url, headers={"Training-Key": key}).status_code == 200
