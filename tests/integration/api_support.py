"""Helpers for the tests that drive the real app through its native API and pages: requests
with the test keys, uploads of synthetic colour images, training and waiting for it, and the
page login (imported by the API, page, cancel and insights tests; the fixtures are in
``tests/conftest.py``).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from tests.fixtures import COLOURS, PREDICTION_KEY, TINY, TRAINING_KEY, colour_image, jpeg_bytes

API = "/api/v1"
TRAIN = {"Training-Key": TRAINING_KEY}
PREDICT = {"Prediction-Key": PREDICTION_KEY}
N_PER_TAG = 8
TRAINING_TIMEOUT_S = 60.0


def image_bytes(colour: str, seed: int) -> bytes:
    return jpeg_bytes(colour_image(COLOURS[colour], seed=seed))


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def create_project(client: TestClient, name: str = "colours") -> Any:
    body = {"name": name, "classification_type": "Multiclass", "backbone": TINY}
    return ok(client.post(f"{API}/projects", json=body, headers=TRAIN), 201)


def upload(
    client: TestClient, project_id: str, files: list[tuple[str, bytes]], tag_id: str | None = None
) -> Any:
    """One multipart request; each part gets its own field name (the API takes any)."""
    parts = [(f"file{i}", (name, data, "image/jpeg")) for i, (name, data) in enumerate(files)]
    params = {"tag_ids": tag_id} if tag_id else None
    response = client.post(
        f"{API}/projects/{project_id}/images", files=parts, params=params, headers=TRAIN
    )
    return ok(response)


def wait_for_training(client: TestClient, project_id: str, iteration_id: str) -> Any:
    url = f"{API}/projects/{project_id}/iterations/{iteration_id}"
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    while time.monotonic() < deadline:
        iteration = ok(client.get(url, headers=TRAIN))
        if iteration["status"] != "Training":
            assert iteration["status"] == "Completed", iteration["error"]
            assert iteration["progress"] is None
            return iteration
        time.sleep(0.2)
    raise AssertionError(f"iteration {iteration_id} still training after {TRAINING_TIMEOUT_S} s")


def train(client: TestClient, project_id: str) -> Any:
    started = ok(client.post(f"{API}/projects/{project_id}/train", headers=TRAIN), 202)
    assert started["status"] == "Training"
    return wait_for_training(client, project_id, started["id"])


def login(client: TestClient, key: str = TRAINING_KEY) -> None:
    response = client.post("/login", data={"key": key, "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
