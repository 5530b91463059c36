"""Cancelling a training run through ``POST .../iterations/{id}/cancel``, on the real app.

A queued job is cancelled without a worker, then survives a restart without running. A running
job is held at the pipeline seam (``jobs.train_and_package``) by events, so the cancel lands at
a known point with no sleeps: mid-training (the next progress report stops it) and while
packaging (after the last report; the model is dropped). Training again afterwards works.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fixtures import PREDICTION_KEY, TRAINING_KEY
from tests.integration.api_support import (
    API,
    create_project,
    image_bytes,
    ok,
    upload,
    wait_for_training,
)

from tagloop import pipeline
from tagloop.config import Settings
from tagloop.shells.server import create_app
from tagloop.store.packages import MODEL_FILE
from tagloop.workspace import jobs
from tagloop.workspace.context import Workspace
from tagloop.workspace.training import CANCELLED

TRAIN = {"Training-Key": TRAINING_KEY}
WAIT_S = 60.0  # only a failing test waits this long


def tagged_project(client: TestClient) -> str:
    """A project ready to train: 2 tags x 6 images."""
    pid = str(create_project(client)["id"])
    for k, colour in enumerate(("red", "green")):
        tag = ok(
            client.post(f"{API}/projects/{pid}/tags", json={"name": colour}, headers=TRAIN), 201
        )
        files = [(f"{colour}{i}.jpg", image_bytes(colour, seed=k * 10 + i)) for i in range(6)]
        assert upload(client, pid, files, tag_id=tag["id"])["is_batch_successful"]
    return pid


def add_image(client: TestClient, pid: str) -> None:
    """One more red image: the next training's model differs from the last one's."""
    tags = ok(client.get(f"{API}/projects/{pid}/tags", headers=TRAIN))
    red = next(t["id"] for t in tags if t["name"] == "red")
    upload(client, pid, [("red-extra.jpg", image_bytes("red", seed=99))], tag_id=red)


def start_training(client: TestClient, pid: str) -> tuple[str, Any]:
    started = ok(client.post(f"{API}/projects/{pid}/train", headers=TRAIN), 202)
    assert started["status"] == "Training"
    return f"{API}/projects/{pid}/iterations/{started['id']}", started


def cancel(client: TestClient, url: str) -> Any:
    cancelled = ok(client.post(f"{url}/cancel", headers=TRAIN))
    assert (cancelled["status"], cancelled["error"]) == ("Failed", CANCELLED)
    assert cancelled["progress"] is None
    return cancelled


def workspace(client: TestClient) -> Workspace:
    ws = client.app.state.workspace  # type: ignore[attr-defined]
    assert isinstance(ws, Workspace)
    return ws


def test_a_queued_training_is_cancelled_and_never_runs(api_settings: Settings) -> None:
    with TestClient(create_app(api_settings, run_worker=False)) as client:
        pid = tagged_project(client)
        url, started = start_training(client, pid)
        cancelled = cancel(client, url)
        assert cancelled["id"] == started["id"]
        assert ok(client.get(url, headers=TRAIN)) == cancelled
        again = client.post(f"{url}/cancel", headers=TRAIN)
        assert (again.status_code, again.json()["code"]) == (409, "iteration_not_training")
        assert "not training" in again.json()["error"]
        ws = workspace(client)
        jobs.recover_jobs(ws)
        assert jobs.run_next_job(ws) is False  # nothing queued, even after a recovery

    # A restart (now with a worker) leaves it cancelled; the project trains again.
    with TestClient(create_app(api_settings)) as client:
        assert ok(client.get(url, headers=TRAIN)) == cancelled
        url2, retry = start_training(client, pid)
        assert retry["number"] == 2
        assert wait_for_training(client, pid, retry["id"])["status"] == "Completed"
        assert ok(client.get(url, headers=TRAIN)) == cancelled


class HeldPipeline:
    """Stands in for ``train_and_package`` at the worker's seam. The first call holds at
    ``where`` until released; later calls run the real pipeline.
    """

    def __init__(self, where: str) -> None:
        self.where = where  # "training": between progress reports | "packaging": after the last
        self.held = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.out_dirs: list[Path] = []
        self.cancelled_at: list[str] = []
        self.model_sha: str | None = None

    def __call__(self, settings: Settings, items: Any, **kwargs: Any) -> pipeline.TrainingRun:
        self.calls += 1
        self.out_dirs.append(kwargs["out_dir"])
        if self.calls > 1:
            return pipeline.train_and_package(settings, items, **kwargs)
        (kwargs["out_dir"].parent / "partial.bin").write_bytes(b"x")  # in the job's temp folder
        if self.where == "packaging":
            run = pipeline.train_and_package(settings, items, **kwargs)
            self.model_sha = hashlib.sha256((run.model_dir / MODEL_FILE).read_bytes()).hexdigest()
            self._hold()
            return run
        progress = kwargs["progress"]
        progress("embed", 0, len(items))
        self._hold()
        try:
            progress("embed", 1, len(items))
        except jobs.TrainingCancelled:
            self.cancelled_at.append("embed")
            raise
        raise AssertionError("the cancelled job was not stopped at its next progress report")

    def _hold(self) -> None:
        self.held.set()
        assert self.release.wait(WAIT_S), "the test never released the pipeline"


@pytest.fixture(params=["training", "packaging"])
def held(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldPipeline]:
    fake = HeldPipeline(request.param)
    monkeypatch.setattr(jobs, "train_and_package", fake)
    yield fake
    fake.release.set()  # never leave the worker thread waiting


def test_a_running_training_stops_and_writes_nothing(
    client: TestClient, held: HeldPipeline
) -> None:
    pid = tagged_project(client)
    url, started = start_training(client, pid)
    assert held.held.wait(WAIT_S), "the worker never started the job"
    running = ok(client.get(url, headers=TRAIN))
    assert running["status"] == "Training" and running["progress"] is not None
    if held.where == "training":
        assert running["progress"]["stage"] == "embed"

    cancelled = cancel(client, url)
    held.release.set()
    # The worker runs one job at a time: once the next one completes, the first has unwound.
    add_image(client, pid)
    url2, retry = start_training(client, pid)
    assert wait_for_training(client, pid, retry["id"])["status"] == "Completed"

    assert ok(client.get(url, headers=TRAIN)) == cancelled
    assert held.cancelled_at == (["embed"] if held.where == "training" else [])
    assert not held.out_dirs[0].parent.exists()  # the job's temporary folder is gone
    early = client.get(f"{url}/performance", headers=TRAIN)
    assert (early.status_code, early.json()["code"]) == (409, "iteration_not_trained")
    ws = workspace(client)
    if held.model_sha is not None:  # the model trained before the cancel is not kept
        assert not ws.blobs.exists(held.model_sha)
    listed = ok(client.get(f"{API}/projects/{pid}/iterations", headers=TRAIN))
    assert [(i["id"], i["status"]) for i in listed] == [
        (started["id"], "Failed"),
        (retry["id"], "Completed"),
    ]


def test_only_a_training_iteration_can_be_cancelled(client: TestClient) -> None:
    pid = tagged_project(client)
    url, started = start_training(client, pid)
    done = wait_for_training(client, pid, started["id"])
    refused = client.post(f"{url}/cancel", headers=TRAIN)
    body = refused.json()
    assert (refused.status_code, body["code"], body["status"]) == (
        409,
        "iteration_not_training",
        409,
    )
    assert "Completed" in body["error"]
    assert ok(client.get(url, headers=TRAIN)) == done  # untouched

    missing = "00000000-0000-0000-0000-000000000000"
    for path, code in [
        (f"{API}/projects/{pid}/iterations/{missing}/cancel", "iteration_not_found"),
        (f"{API}/projects/{missing}/iterations/{started['id']}/cancel", "project_not_found"),
    ]:
        response = client.post(path, headers=TRAIN)
        assert (response.status_code, response.json()["code"]) == (404, code)
    prediction_only = client.post(f"{url}/cancel", headers={"Prediction-Key": PREDICTION_KEY})
    assert prediction_only.status_code == 401
