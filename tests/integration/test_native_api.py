"""The native JSON API (``/api/v1``) end to end on the real app, store, worker and tiny backbone.

``test_full_loop`` walks the loop the web UI drives: project → tags → multipart upload → list →
train → performance and per-image results → publish → predict → review → promote → retrain →
export → delete. The other tests pin the error contract and the OpenAPI document.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tests.fixtures import COLOURS, TINY, jpeg_bytes
from tests.integration.api_support import (
    API,
    N_PER_TAG,
    PREDICT,
    TRAIN,
    create_project,
    image_bytes,
    login,
    ok,
    train,
    upload,
)

from tagloop.config import Settings
from tagloop.shells.server import create_app


def test_full_loop(client: TestClient) -> None:
    project = create_project(client)
    pid = project["id"]
    assert (project["backbone"], project["n_images"], project["n_iterations"]) == (TINY, 0, 0)
    p = f"{API}/projects/{pid}"

    backbones = ok(client.get(f"{API}/backbones", headers=TRAIN))
    assert TINY in {b["name"] for b in backbones}
    assert sum(b["is_default"] for b in backbones) == 1
    assert next(b for b in backbones if b["name"] == TINY)["input_size"] == 32

    tags = {
        name: ok(client.post(f"{p}/tags", json={"name": name}, headers=TRAIN), 201)["id"]
        for name in COLOURS
    }
    taken = client.post(f"{p}/tags", json={"name": "RED"}, headers=TRAIN)
    assert (taken.status_code, taken.json()["code"]) == (409, "tag_name_taken")

    # Upload: 3 colours x 8 images, 4 parts per request, tagged through the query string.
    for k, colour in enumerate(COLOURS):
        for half in (0, 1):
            files = [
                (f"{colour}_{i}.jpg", image_bytes(colour, seed=k * 100 + i))
                for i in range(half * 4, half * 4 + 4)
            ]
            summary = upload(client, pid, files, tag_id=tags[colour])
            assert summary["is_batch_successful"]
            assert [r["status"] for r in summary["images"]] == ["OK"] * 4
            assert [r["source"] for r in summary["images"]] == [name for name, _ in files]
            assert summary["images"][0]["image"]["tags"] == [{"id": tags[colour], "name": colour}]
    # A label error: a red image tagged green, which cross-validation should call wrong.
    mislabeled = upload(client, pid, [("odd.jpg", image_bytes("red", 950))], tag_id=tags["green"])
    mislabeled_id = mislabeled["images"][0]["image"]["id"]
    fresh = [(f"new_{c}.jpg", image_bytes(c, seed=900 + k)) for k, c in enumerate(COLOURS)]
    junk = [("again.jpg", image_bytes("red", seed=0)), ("notes.jpg", b"not an image at all")]
    mixed = upload(client, pid, junk + fresh)
    statuses = [r["status"] for r in mixed["images"]]
    assert statuses == ["OKDuplicate", "ErrorImageFormat", "OK", "OK", "OK"]
    assert not mixed["is_batch_successful"]
    assert mixed["images"][1]["image"] is None and mixed["images"][1]["reason"]
    untagged_ids = [r["image"]["id"] for r in mixed["images"][2:]]

    # Listing: paging, filters and totals.
    page = ok(client.get(f"{p}/images", params={"take": 10}, headers=TRAIN))
    assert (page["total"], len(page["images"])) == (28, 10)
    last = ok(client.get(f"{p}/images", params={"skip": 20, "take": 10}, headers=TRAIN))
    assert (last["total"], len(last["images"])) == (28, 8)
    seen = {i["id"] for i in page["images"]} | {i["id"] for i in last["images"]}
    assert len(seen) == 18
    untagged = ok(client.get(f"{p}/images", params={"tagging": "untagged"}, headers=TRAIN))
    assert untagged["total"] == 3 and {i["id"] for i in untagged["images"]} == set(untagged_ids)
    reds = ok(client.get(f"{p}/images", params={"tag_id": tags["red"]}, headers=TRAIN))
    assert reds["total"] == N_PER_TAG
    assert all(i["tags"] == [{"id": tags["red"], "name": "red"}] for i in reds["images"])
    newest = ok(client.get(f"{p}/images", params={"take": 256}, headers=TRAIN))["images"]
    oldest = ok(client.get(f"{p}/images", params={"order": "oldest", "take": 256}, headers=TRAIN))
    assert [i["id"] for i in oldest["images"]] == [i["id"] for i in reversed(newest)]
    thumb = client.get(newest[0]["thumbnail_url"], headers=TRAIN)
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"

    counts = ok(client.get(p, headers=TRAIN))
    names = ("n_images", "n_tagged", "n_untagged", "n_tags")
    assert [counts[k] for k in names] == [28, 25, 3, 3]

    # Tag, untag, metadata.
    pair = {"image_ids": untagged_ids[:1], "tag_ids": [tags["red"]]}
    linked = ok(client.post(f"{p}/images/tags", json=pair, headers=TRAIN))
    assert linked["created"] == [{"image_id": untagged_ids[0], "tag_id": tags["red"]}]
    assert ok(client.get(p, headers=TRAIN))["n_untagged"] == 2
    ok(client.post(f"{p}/images/untag", json=pair, headers=TRAIN), 204)
    assert ok(client.get(p, headers=TRAIN))["n_untagged"] == 3
    meta = client.put(f"{p}/images/{untagged_ids[0]}/metadata", json={"camera": "a"}, headers=TRAIN)
    assert ok(meta) == {"image_id": untagged_ids[0], "metadata": {"camera": "a"}}
    meta = client.put(f"{p}/images/{untagged_ids[0]}/metadata", json={"shoot": "2"}, headers=TRAIN)
    assert ok(meta)["metadata"] == {"camera": "a", "shoot": "2"}

    # Train and inspect the first iteration.
    first = train(client, pid)
    assert first["number"] == 1 and {t["name"] for t in first["tags"]} == set(COLOURS)
    assert [i["id"] for i in ok(client.get(f"{p}/iterations", headers=TRAIN))] == [first["id"]]
    it = f"{p}/iterations/{first['id']}"
    again = client.post(f"{p}/train", headers=TRAIN)
    assert (again.status_code, again.json()["code"]) == (409, "training_not_needed")

    everything = ok(client.get(f"{it}/performance", params={"threshold": 0.0}, headers=TRAIN))
    usual = ok(client.get(f"{it}/performance", headers=TRAIN))
    assert (everything["threshold"], usual["threshold"]) == (0.0, 0.5)
    # Multiclass: one tag per image, the most probable; at threshold 0 every image gets it.
    top = everything["overall"]
    assert top["coverage"] == 1.0 and top["precision"] == top["recall"] == top["accuracy"]
    assert {t["name"] for t in usual["per_tag"]} == set(COLOURS)
    report = usual["report"]
    assert report["n_images"] == 25 and report["accuracy"] == usual["overall"]["accuracy"]
    assert report["threshold"] == 0.5
    assert set(report["per_label"]) == set(COLOURS)
    assert sorted(report["confusion_matrix"]["labels"]) == sorted(COLOURS)
    cm = report["confusion_matrix"]
    assert sum(map(sum, cm["matrix"])) + sum(cm["no_label"]) == 25
    for tag in usual["per_tag"]:
        assert tag["true_positives"] + tag["false_negatives"] == tag["support"]
        assert (
            sum(
                tag[k]
                for k in ("true_positives", "false_positives", "false_negatives", "true_negatives")
            )
            == 25
        )
    # The per-image results at a threshold agree with the performance at that threshold.
    for threshold in (0.5, 0.9):
        perf = ok(client.get(f"{it}/performance", params={"threshold": threshold}, headers=TRAIN))
        at = ok(
            client.get(f"{it}/results", params={"threshold": threshold, "take": 256}, headers=TRAIN)
        )
        n_correct = sum(r["correct"] for r in at["results"])
        assert n_correct / 25 == pytest.approx(perf["overall"]["accuracy"], abs=1e-6)
        assert all(len(r["predicted_tags"]) <= 1 for r in at["results"])
        none = ok(
            client.get(
                f"{it}/results",
                params={"threshold": threshold, "predicted_tag_id": "none", "take": 256},
                headers=TRAIN,
            )
        )
        assert none["total"] == sum(perf["report"]["confusion_matrix"]["no_label"])
        assert none["total"] / 25 == pytest.approx(1 - perf["overall"]["coverage"], abs=1e-6)

    results = ok(client.get(f"{it}/results", params={"take": 256}, headers=TRAIN))
    assert results["total"] == 25 and len(results["results"]) == 25
    for r in results["results"]:
        truth, guess = {t["id"] for t in r["true_tags"]}, {t["id"] for t in r["predicted_tags"]}
        assert r["correct"] == (truth == guess)
        assert r["predictions"][0]["tag_id"] in guess
        assert r["thumbnail_url"].endswith(f"/images/{r['image_id']}/thumbnail")
    wrong = ok(client.get(f"{it}/results", params={"wrong_only": True}, headers=TRAIN))
    assert wrong["total"] == sum(not r["correct"] for r in results["results"])
    assert all(not r["correct"] for r in wrong["results"])
    odd = next(r for r in wrong["results"] if r["image_id"] == mislabeled_id)
    assert odd["true_tags"] == [{"id": tags["green"], "name": "green"}]
    assert odd["predicted_tags"] == [{"id": tags["red"], "name": "red"}]
    paged = ok(client.get(f"{it}/results", params={"skip": 20, "take": 10}, headers=TRAIN))
    assert (paged["total"], len(paged["results"])) == (25, 5)
    greens = ok(client.get(f"{it}/results", params={"tag_id": tags["green"]}, headers=TRAIN))
    assert greens["total"] == N_PER_TAG + 1

    # Publish, predict (stored), quick test (not stored).
    published = ok(client.post(f"{it}/publish", json={"name": "live"}, headers=TRAIN))
    assert published["publish_name"] == "live"
    probe = {"imageData": ("probe.jpg", image_bytes("blue", seed=777), "image/jpeg")}
    answer = ok(client.post(f"{p}/predict/live", files=probe, headers=PREDICT))
    assert answer["is_stored"] and answer["iteration_id"] == first["id"]
    assert answer["predictions"][0]["tag_name"] == "blue"
    assert abs(sum(x["probability"] for x in answer["predictions"]) - 1.0) < 1e-3
    quick = ok(client.post(f"{p}/quicktest", files=probe, headers=TRAIN))
    assert not quick["is_stored"] and quick["predictions"][0]["tag_name"] == "blue"
    unknown = client.post(f"{p}/predict/nope", files=probe, headers=PREDICT)
    assert unknown.status_code == 404 and unknown.json()["ok"] is False

    stored = ok(client.get(f"{p}/predictions", headers=TRAIN))
    assert [s["id"] for s in stored["predictions"]] == [answer["id"]]
    assert not stored["has_more"]
    suggested = ok(client.get(f"{p}/predictions", params={"order": "suggested"}, headers=TRAIN))
    assert [s["id"] for s in suggested["predictions"]] == [answer["id"]]
    assert client.get(stored["predictions"][0]["file_url"], headers=TRAIN).status_code == 200

    # Review: one list of the stored prediction and the three untagged images.
    queue = ok(client.get(f"{p}/review", headers=TRAIN))
    assert queue["iteration_id"] == first["id"] and queue["n_candidates"] == 4
    kinds = sorted((item["kind"], item["id"]) for item in queue["items"])
    assert kinds == sorted([("prediction", answer["id"])] + [("image", i) for i in untagged_ids])
    scores = [item["uncertainty"] for item in queue["items"]]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[0] == max(scores)
    assert all(len(item["predictions"]) == 3 for item in queue["items"])
    assert len(ok(client.get(f"{p}/review", params={"take": 2}, headers=TRAIN))["items"]) == 2

    # Promote the prediction: one more (tagged) image, and it leaves the stored predictions.
    promote = {"items": [{"prediction_id": answer["id"], "tag_ids": [tags["blue"]]}]}
    promoted = ok(client.post(f"{p}/predictions/promote", json=promote, headers=TRAIN))
    assert [r["status"] for r in promoted["images"]] == ["OK"]
    assert ok(client.get(p, headers=TRAIN))["n_images"] == 29
    assert ok(client.get(f"{p}/tags/{tags['blue']}", headers=TRAIN))["image_count"] == 9
    assert ok(client.get(f"{p}/predictions", headers=TRAIN))["predictions"] == []

    # Retrain on the new data, export the second iteration.
    second = train(client, pid)
    assert second["number"] == 2
    assert [i["number"] for i in ok(client.get(f"{p}/iterations", headers=TRAIN))] == [1, 2]
    export = client.get(f"{p}/iterations/{second['id']}/export", headers=TRAIN)
    files = set(zipfile.ZipFile(io.BytesIO(export.content)).namelist())
    assert export.status_code == 200 and files == {"model.onnx", "model.json"}

    # Clean up: an iteration holding a publish name cannot go; the project can.
    held = client.delete(it, headers=TRAIN)
    assert (held.status_code, held.json()["code"]) == (409, "iteration_published")
    ok(client.delete(f"{it}/publish", headers=TRAIN), 204)
    ok(client.delete(it, headers=TRAIN), 204)
    assert ok(client.get(p, headers=TRAIN))["n_iterations"] == 1
    ok(client.delete(p, headers=TRAIN), 204)
    gone = client.get(p, headers=TRAIN)
    assert (gone.status_code, gone.json()["code"]) == (404, "project_not_found")


def test_projects_and_tags_crud(client: TestClient) -> None:
    pid = create_project(client, "first")["id"]
    create_project(client, "second")
    listed = ok(client.get(f"{API}/projects", headers=TRAIN))
    assert [x["name"] for x in listed] == ["first", "second"]

    patch = {"name": "renamed", "classification_type": "Multilabel"}
    changed = ok(client.patch(f"{API}/projects/{pid}", json=patch, headers=TRAIN))
    assert (changed["name"], changed["classification_type"]) == ("renamed", "Multilabel")
    assert changed["backbone"] == TINY

    tag = ok(client.post(f"{API}/projects/{pid}/tags", json={"name": "cat"}, headers=TRAIN), 201)
    url = f"{API}/projects/{pid}/tags/{tag['id']}"
    renamed = ok(client.patch(url, json={"name": "kitten", "type": "Negative"}, headers=TRAIN))
    assert (renamed["name"], renamed["type"], renamed["image_count"]) == ("kitten", "Negative", 0)
    ok(client.delete(url, headers=TRAIN), 204)
    assert ok(client.get(f"{API}/projects/{pid}/tags", headers=TRAIN)) == []

    data = image_bytes("red", seed=1)
    image_id = upload(client, pid, [("a.jpg", data)])["images"][0]["image"]["id"]
    body = {"image_ids": [image_id, "no-such-image"]}
    deleted = ok(client.post(f"{API}/projects/{pid}/images/delete", json=body, headers=TRAIN))
    assert deleted == {"n_deleted": 1}
    assert ok(client.get(f"{API}/projects/{pid}", headers=TRAIN))["n_images"] == 0


def test_a_queued_training_reports_its_progress(api_settings: Settings) -> None:
    """Without a worker the job stays queued: the iteration says so, the list does not."""
    with TestClient(create_app(api_settings, run_worker=False)) as client:
        pid = create_project(client)["id"]
        for k, colour in enumerate(("red", "green")):
            tag_id = ok(
                client.post(f"{API}/projects/{pid}/tags", json={"name": colour}, headers=TRAIN),
                201,
            )["id"]
            files = [(f"{colour}{i}.jpg", image_bytes(colour, seed=k * 10 + i)) for i in range(5)]
            assert upload(client, pid, files, tag_id=tag_id)["is_batch_successful"]
        body = {"force": False}
        started = ok(client.post(f"{API}/projects/{pid}/train", json=body, headers=TRAIN), 202)
        url = f"{API}/projects/{pid}/iterations/{started['id']}"
        iteration = ok(client.get(url, headers=TRAIN))
        assert iteration["status"] == "Training"
        assert iteration["progress"] == {"stage": "queued", "done": 0, "total": 0, "detail": ""}
        listed = ok(client.get(f"{API}/projects/{pid}/iterations", headers=TRAIN))
        assert [i["progress"] for i in listed] == [None]
        busy = client.post(f"{API}/projects/{pid}/train", json={"force": True}, headers=TRAIN)
        assert (busy.status_code, busy.json()["code"]) == (409, "training_in_progress")
        early = client.get(f"{url}/performance", headers=TRAIN)
        assert (early.status_code, early.json()["code"]) == (409, "iteration_not_trained")


def test_keys_are_required(client: TestClient) -> None:
    pid = create_project(client)["id"]
    for headers in ({}, {"Training-Key": "wrong"}, PREDICT):
        response = client.get(f"{API}/projects/{pid}", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "ok": False,
            "error": response.json()["error"],
            "code": "unauthorized",
            "status": 401,
        }
    assert client.get(f"{API}/backbones").status_code == 401
    probe = {"imageData": ("x.jpg", image_bytes("red", 5), "image/jpeg")}
    assert client.post(f"{API}/projects/{pid}/predict/live", files=probe).status_code == 401
    quick = client.post(f"{API}/projects/{pid}/quicktest", files=probe, headers=PREDICT)
    assert quick.status_code == 401  # a prediction key opens only the predict route
    # The key is checked before the body is read: a stranger learns nothing about the body.
    stranger = {"Training-Key": "wrong", "Content-Type": "application/json"}
    for body in (b"{bad", b"[]", b'{"name": 5}', b'{"name": "x"}'):
        response = client.post(f"{API}/projects", content=body, headers=stranger)
        assert (response.status_code, response.json()["code"]) == (401, "unauthorized")
    assert len(ok(client.get(f"{API}/projects", headers=TRAIN))) == 1


def test_unknown_ids_are_404_json(client: TestClient) -> None:
    pid = create_project(client)["id"]
    missing = "00000000-0000-0000-0000-000000000000"
    cases = {
        f"{API}/projects/{missing}": "project_not_found",
        f"{API}/projects/{missing}/images": "project_not_found",
        f"{API}/projects/{pid}/tags/{missing}": "tag_not_found",
        f"{API}/projects/{pid}/iterations/{missing}": "iteration_not_found",
        f"{API}/projects/{pid}/iterations/{missing}/performance": "iteration_not_found",
        f"{API}/projects/{pid}/review": "iteration_not_found",
    }
    probe = {"imageData": ("x.jpg", image_bytes("red", 5), "image/jpeg")}
    promote = {"items": [{"prediction_id": missing}]}
    posts = [
        client.post(f"{API}/projects/{missing}/images", files=probe, headers=TRAIN),
        client.post(f"{API}/projects/{missing}/predictions/promote", json=promote, headers=TRAIN),
    ]
    assert [(r.status_code, r.json()["code"]) for r in posts] == [(404, "project_not_found")] * 2
    for url, code in cases.items():
        response = client.get(url, headers=TRAIN)
        assert response.status_code == 404, url
        body = response.json()
        assert (body["ok"], body["code"], body["status"]) == (False, code, 404), url
        assert isinstance(body["error"], str) and body["error"]


def test_bad_requests_are_400_json(client: TestClient) -> None:
    pid = create_project(client)["id"]
    json_headers = {**TRAIN, "Content-Type": "application/json"}
    bad = [
        client.post(f"{API}/projects", content=b'{"name": ', headers=json_headers),
        client.post(f"{API}/projects", json={"name": "x", "colour": "red"}, headers=TRAIN),
        client.post(
            f"{API}/projects", json={"name": "x", "classification_type": "Both"}, headers=TRAIN
        ),
        client.post(f"{API}/projects", json={"name": "x", "backbone": "nope"}, headers=TRAIN),
        client.post(f"{API}/projects", json={"name": "  "}, headers=TRAIN),
        client.post(f"{API}/projects/{pid}/tags", content=b"[1, 2", headers=json_headers),
        client.post(f"{API}/projects/{pid}/images/tags", json={"image_ids": []}, headers=TRAIN),
        client.post(f"{API}/projects/{pid}/images", content=b"", headers=TRAIN),
        client.get(f"{API}/projects/{pid}/images", params={"take": 1000}, headers=TRAIN),
        client.get(f"{API}/projects/{pid}/images", params={"tagging": "some"}, headers=TRAIN),
        client.put(f"{API}/projects/{pid}/images/x/metadata", json={"k": 1}, headers=TRAIN),
        client.post(f"{API}/projects/{pid}/train", headers=TRAIN),  # nothing to train on
    ]
    for response in bad:
        assert response.status_code == 400, (response.request.url, response.text)
        body = response.json()
        assert body["ok"] is False and body["status"] == 400 and body["code"]
    assert bad[-1].json()["code"] == "training_invalid"
    assert [x["name"] for x in ok(client.get(f"{API}/projects", headers=TRAIN))] == ["colours"]


def test_openapi_documents_the_native_api_only(client: TestClient) -> None:
    spec = ok(client.get("/openapi.json"))
    paths = spec["paths"]
    for path in (
        "/api/v1/backbones",
        "/api/v1/projects",
        "/api/v1/projects/{project_id}/tags/{tag_id}",
        "/api/v1/projects/{project_id}/images/tags",
        "/api/v1/projects/{project_id}/iterations/{iteration_id}/performance",
        "/api/v1/projects/{project_id}/iterations/{iteration_id}/results",
        "/api/v1/projects/{project_id}/predict/{published_name}",
        "/api/v1/projects/{project_id}/predictions/promote",
        "/api/v1/projects/{project_id}/review",
    ):
        assert path in paths, path
    assert not [p for p in paths if p.startswith("/customvision")]
    native = [op for path, ops in paths.items() if path.startswith(API) for op in ops.values()]
    assert len(native) > 35
    assert all("422" not in op["responses"] and "4XX" in op["responses"] for op in native)
    assert all(op.get("description") for op in native if op["tags"] != ["media"])
    assert {"TrainingKey", "PredictionKey"} <= set(spec["components"]["securitySchemes"])
    project = spec["components"]["schemas"]["ProjectOut"]["properties"]
    assert {"n_images", "n_tagged", "n_untagged", "n_tags", "n_iterations"} <= set(project)
    assert (project["created"]["type"], project["created"]["format"]) == ("string", "date-time")


def test_a_photo_unlike_the_training_ones_is_unknown_and_reviewed_first(
    client: TestClient,
) -> None:
    """Trained on red, green and blue photos, the model answers a black-and-white checkerboard
    with some tag, but says it is unknown; the answer is stored so, and ranks first for review."""
    pid = create_project(client, "novelty")["id"]
    p = f"{API}/projects/{pid}"
    tag_ids, image_ids = {}, []
    for colour in COLOURS:
        tag = ok(client.post(f"{p}/tags", json={"name": colour}, headers=TRAIN), 201)
        tag_ids[colour] = tag["id"]
        files = [(f"{colour}{i}.jpg", image_bytes(colour, seed=i)) for i in range(N_PER_TAG)]
        summary = upload(client, pid, files, tag["id"])
        image_ids += [r["image"]["id"] for r in summary["images"]]
    iteration = train(client, pid)
    publish = f"{p}/iterations/{iteration['id']}/publish"
    ok(client.post(publish, json={"name": "live"}, headers=TRAIN))

    def predict(data: bytes) -> Any:
        files = {"imageData": ("probe.jpg", data, "image/jpeg")}
        return ok(client.post(f"{p}/predict/live", files=files, headers=PREDICT))

    known = predict(image_bytes("blue", seed=777))
    assert known["unknown"] is False and 0.0 <= known["novelty"] < 0.5
    board = np.kron(np.indices((8, 8)).sum(axis=0) % 2, np.ones((8, 8))) * 255
    checkerboard = jpeg_bytes(Image.fromarray(np.repeat(board[..., None], 3, 2).astype(np.uint8)))
    strange = predict(checkerboard)
    assert strange["unknown"] is True and strange["novelty"] > known["novelty"]
    assert len(strange["predictions"]) == 3  # the probabilities are still there

    stored = ok(client.get(f"{p}/predictions", headers=TRAIN))["predictions"]
    assert {s["id"]: s["unknown"] for s in stored} == {known["id"]: False, strange["id"]: True}
    queue = ok(client.get(f"{p}/review", headers=TRAIN))["items"]
    assert queue[0]["id"] == strange["id"] and queue[0]["unknown"] is True
    suggested = ok(client.get(f"{p}/predictions", params={"order": "suggested"}, headers=TRAIN))
    assert suggested["predictions"][0]["id"] == strange["id"]

    # Heat-maps of a training image, a stored prediction and an upload: PNG overlays.
    for response in (
        client.get(f"{p}/images/{image_ids[0]}/heatmap", headers=TRAIN),
        client.get(f"{p}/predictions/{known['id']}/heatmap", headers=TRAIN),
        client.post(
            f"{p}/quicktest/heatmap",
            params={"tag_id": tag_ids["green"]},
            files={"imageData": ("p.jpg", checkerboard, "image/jpeg")},
            headers=TRAIN,
        ),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert 0.0 <= float(response.headers["x-probability"]) <= 1.0
    assert response.headers["x-tag-name"] == "green"
    first = client.get(f"{p}/images/{image_ids[0]}/heatmap", headers=TRAIN)
    assert first.headers["x-tag-name"] == "red"  # the first image is red: its top tag
    nope = client.get(f"{p}/images/{image_ids[0]}/heatmap?tag_id=nope", headers=TRAIN)
    assert (nope.status_code, nope.json()["code"]) == (404, "tag_not_found")
    locked = client.get(f"{p}/images/{image_ids[0]}/heatmap", headers=PREDICT)
    assert locked.status_code in (401, 404) and locked.json()["ok"] is False

    # The Predictions page marks it unknown, first, with no tag chosen for it.
    login(client)
    page = client.get(f"/projects/{pid}/predictions").text
    first_item = page.index('class="tile review-item"')
    assert page.index(f'data-id="{strange["id"]}"') == page.index("data-id=", first_item)
    assert f'data-id="{strange["id"]}" data-unknown="true"' in page
    assert f'data-id="{known["id"]}" data-unknown="false"' in page
    assert "Unlike the training photos" in page


def test_the_custom_vision_routes_have_an_openapi_document_of_their_own(
    client: TestClient,
) -> None:
    spec = ok(client.get("/customvision/openapi.json"))
    paths = spec["paths"]
    assert all(p.startswith("/customvision/") for p in paths)
    for path in (
        "/customvision/v3.4-preview/training/projects",
        "/customvision/v3.4-preview/training/projects/{project_id}/train",
        "/customvision/v3.4-preview/training/projects/{project_id}/images/files",
        "/customvision/v3.1/prediction/{project_id}/classify/iterations/{published_name}/image",
    ):
        assert path in paths, sorted(paths)
    operations = [op for ops in paths.values() for op in ops.values()]
    assert len(operations) > 40
    page = client.get("/customvision/docs")
    assert page.status_code == 200 and "/customvision/openapi.json" in page.text
    assert "/static/swagger/swagger-ui-bundle.js" in page.text  # served locally, no CDN
