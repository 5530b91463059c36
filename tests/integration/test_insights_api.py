"""A project's data check over the native API: the findings of ``tagloop check`` with image ids
as paths, kept until the project's data changes."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from tests.fixtures import jpeg_bytes
from tests.integration.api_support import API, N_PER_TAG, TRAIN, create_project, ok, upload


def pattern(seed: int, tint: tuple[int, int, int]) -> Image.Image:
    """A 128x128 smooth random field, tinted: distinct images get distinct hashes, and a
    re-encoded copy keeps its hash (dHash is stable on gradients, not on flat areas)."""
    rng = np.random.default_rng(seed)
    field = Image.fromarray(rng.integers(0, 256, size=(6, 6), dtype=np.uint8))
    smooth = np.asarray(field.resize((128, 128), Image.Resampling.BICUBIC), dtype=np.float64)
    pixels = smooth[..., None] / 255.0 * np.array(tint) + 20
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


TINTS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def test_the_check_of_a_project_names_its_images(client: TestClient) -> None:
    pid = create_project(client, "checked")["id"]
    tags = {}
    for n, colour in enumerate(("red", "blue")):
        tag = ok(
            client.post(f"{API}/projects/{pid}/tags", json={"name": colour}, headers=TRAIN), 201
        )
        tags[colour] = tag["id"]
        files = [
            (f"{colour}{i}.jpg", jpeg_bytes(pattern(100 * n + i, TINTS[colour])))
            for i in range(N_PER_TAG)
        ]
        upload(client, pid, files, tag["id"])
    # A re-encoded copy of a red image, tagged blue: the same picture under two labels.
    original = pattern(0, TINTS["red"])
    added = upload(client, pid, [("copy.jpg", jpeg_bytes(original, quality=60))], tags["blue"])
    copy_id = added["images"][0]["image"]["id"]

    report = ok(client.get(f"{API}/projects/{pid}/insights", headers=TRAIN))
    assert report["n_images"] == 2 * N_PER_TAG + 1
    assert report["labels"] == {"blue": N_PER_TAG + 1, "red": N_PER_TAG}
    by_code = {f["code"]: f for f in report["findings"]}
    assert by_code["too_few_images"]["severity"] == "warning"
    conflict = by_code["conflicting_labels"]
    assert conflict["severity"] == "error"
    assert any(copy_id in group for group in conflict["groups"])
    assert all(f["advice"] for f in report["findings"])
    assert "items" not in by_code["too_few_images"]  # the CLI's JSON: no empty details
    severities = [f["severity"] for f in report["findings"]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)

    # Fixing the label changes the report (nothing stale is served).
    ok(
        client.post(
            f"{API}/projects/{pid}/images/delete", json={"image_ids": [copy_id]}, headers=TRAIN
        )
    )
    again = ok(client.get(f"{API}/projects/{pid}/insights", headers=TRAIN))
    assert "conflicting_labels" not in {f["code"] for f in again["findings"]}


def test_an_empty_project_has_nothing_to_check(client: TestClient) -> None:
    pid = create_project(client, "empty")["id"]
    report = ok(client.get(f"{API}/projects/{pid}/insights", headers=TRAIN))
    assert report == {"n_images": 0, "labels": {}, "findings": []}


def test_the_check_needs_a_training_key(client: TestClient) -> None:
    pid = create_project(client, "locked")["id"]
    assert client.get(f"{API}/projects/{pid}/insights").status_code == 401
    assert client.get(f"{API}/projects/nope/insights", headers=TRAIN).status_code == 404


def test_simultaneous_checks_of_the_same_data_compute_once(
    client: TestClient, monkeypatch: Any
) -> None:
    import threading

    from tagloop.workspace import insights

    pid = create_project(client, "busy")["id"]
    calls: list[int] = []
    release = threading.Event()
    real = insights.check_dataset

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(insights, "check_dataset", slow_check)
    results: list[int] = []

    def ask() -> None:
        results.append(client.get(f"{API}/projects/{pid}/insights", headers=TRAIN).status_code)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    while not calls:  # the first request is computing; the others queue behind it
        threading.Event().wait(0.01)
    threading.Event().wait(0.2)
    release.set()
    for thread in threads:
        thread.join(20)
    assert results == [200, 200, 200]
    assert len(calls) == 1
