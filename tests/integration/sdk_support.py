"""Helpers for driving `tagloop serve` with the official Custom Vision SDK (3.1.1).

``running_server`` starts the real server in a subprocess on a free port, waits for ``/health``
and stops it with SIGTERM (or lets a test SIGKILL it). It can be started again on the same data
directory, which is how the restart tests check persistence. Everything else here is thin glue
over the SDK so that the tests read like a Custom Vision user's script.
"""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction import models as prediction_models
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training import models as training_models
from msrest.authentication import ApiKeyCredentials
from msrest.exceptions import HttpOperationError

TRAINING_KEY = "tk-server-wide-0123456789abcdef"
PREDICTION_KEY = "pk-server-wide-0123456789abcdef"
GENERAL_DOMAIN = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
PUBLISH_NAME = "classifyModel"
PREDICTION_RESOURCE_ID = (
    "/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/accounts/z"
)
TRAINING_PREFIX = "/customvision/v3.4-preview/training"
PREDICTION_PREFIX = "/customvision/v3.1/prediction"
# The same folder as tests.conftest.SAMPLE_DATA (not imported, so that plain `pytest` works too).
SAMPLE_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "clothing-extra"
REAL_IMAGES = SAMPLE_DATA / "images"
ITERATION_STATES = {"Training", "Completed", "Failed"}  # spec §7.4: no other states

# Tests that need the real sample photos fail with a clear message when they are missing (the
# `sample_photos` fixture in tests/conftest.py); CI always has them, and nothing skips silently.
requires_real_photos = pytest.mark.usefixtures("sample_photos")

TrainingError = training_models.CustomVisionErrorException
PredictionError = prediction_models.CustomVisionErrorException


# --------------------------------------------------------------------------------------------
# The server process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `tagloop serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    training_key: str
    prediction_key: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no server log>"
        return text[-n_chars:]

    def trainer(self, key: str | None = None) -> CustomVisionTrainingClient:
        return training_client(self.endpoint, self.training_key if key is None else key)

    def predictor(self, key: str | None = None) -> CustomVisionPredictionClient:
        return prediction_client(self.endpoint, self.prediction_key if key is None else key)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; fails the test if the server does not exit in ``timeout`` s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
                pytest.fail(f"server ignored SIGTERM for {timeout:.0f} s; log:\n{self.log_tail()}")
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (simulates a crash or power loss)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def server_command(port: int, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tagloop.shells.cli_main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]


@contextmanager
def running_server(
    data_dir: Path,
    cache_dir: Path,
    *,
    training_key: str = TRAINING_KEY,
    prediction_key: str = PREDICTION_KEY,
    ready_timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Start `tagloop serve` on ``data_dir``; yield once ``/health`` answers 200; stop on exit.

    May be entered again with the same ``data_dir`` (a new process, a new port). The server's
    stdout and stderr go to a log file next to ``data_dir`` for diagnostics.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir.parent / f"{data_dir.name}-server-{port}.log"
    env = {
        **os.environ,
        "TAGLOOP_TRAINING_KEY": training_key,
        "TAGLOOP_PREDICTION_KEY": prediction_key,
        "TAGLOOP_CACHE_DIR": str(cache_dir),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = server_command(port, data_dir)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, port, data_dir, log_path, training_key, prediction_key)
    try:
        _wait_until_healthy(server, ready_timeout)
        yield server
    finally:
        if process.poll() is None:
            server.stop()


def _wait_until_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(
                    f"`tagloop serve` exited with {server.process.returncode} before it was "
                    f"ready; log:\n{server.log_tail()}"
                )
            try:
                response = client.get(f"{server.endpoint}/health")
            except httpx.HTTPError as exc:
                last_error = repr(exc)
            else:
                if response.status_code == 200:
                    return
                last_error = f"/health answered {response.status_code}: {response.text[:200]}"
            time.sleep(0.2)
    server.kill()
    pytest.fail(
        f"`tagloop serve` not healthy after {timeout:.0f} s ({last_error}); "
        f"log:\n{server.log_tail()}"
    )


# --------------------------------------------------------------------------------------------
# SDK clients and the native key route


def training_client(endpoint: str, key: str) -> CustomVisionTrainingClient:
    # The quickstart's spelling of the header.
    return CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": key}))


def prediction_client(endpoint: str, key: str) -> CustomVisionPredictionClient:
    return CustomVisionPredictionClient(
        endpoint, ApiKeyCredentials(in_headers={"Prediction-key": key})
    )


@dataclass(frozen=True)
class ProjectKeys:
    training_key: str
    prediction_key: str


def project_keys(server: Server, project_id: str) -> ProjectKeys:
    """Per-project keys from the native API (needs the server-wide training key)."""
    response = httpx.get(
        f"{server.endpoint}/api/v1/projects/{project_id}/keys",
        headers={"Training-Key": server.training_key},
        timeout=30,
    )
    assert response.status_code == 200, (response.status_code, response.text)
    doc = response.json()
    keys = ProjectKeys(doc["training_key"], doc["prediction_key"])
    assert isinstance(keys.training_key, str) and keys.training_key
    assert isinstance(keys.prediction_key, str) and keys.prediction_key
    assert keys.training_key != server.training_key
    assert keys.prediction_key != server.prediction_key
    return keys


def expect_error(
    call: Callable[[], Any],
    status: int,
    code: str | None = None,
    exc_type: type[HttpOperationError] = TrainingError,
    what: str = "the call",
) -> HttpOperationError:
    """``call()`` must raise the SDK's CustomVisionErrorException with ``status`` (and ``code``)."""
    try:
        result = call()
    except HttpOperationError as caught:
        exc = caught
    else:
        pytest.fail(f"{what}: expected HTTP {status}, but it succeeded and returned {result!r}")
    assert isinstance(exc, exc_type), f"{what}: expected {exc_type.__name__}, got {exc!r}"
    response = exc.response
    assert response is not None and response.status_code == status, (
        f"{what}: expected HTTP {status}, got {response.status_code}: {response.text[:300]}"
    )
    if code is not None:
        assert getattr(exc.error, "code", None) == code, (
            f"{what}: expected code {code!r}, got body {response.text[:300]}"
        )
        assert exc.error.message, f"{what}: error bodies need a non-empty message"
    return exc


# --------------------------------------------------------------------------------------------
# Photos


@dataclass
class LabelPhotos:
    label: str
    train: list[Path] = field(default_factory=list)
    held_out: list[Path] = field(default_factory=list)


def pick_photos(
    labels: Sequence[str], n_train: int, n_held_out: int, seed: int = 0
) -> dict[str, LabelPhotos]:
    """A fixed, seeded, disjoint train / held-out split of the real photos of ``labels``."""
    rng = random.Random(seed)
    picked: dict[str, LabelPhotos] = {}
    for label in labels:
        photos = sorted((REAL_IMAGES / label).glob("*.jpg"))
        assert len(photos) >= n_train + n_held_out, (
            f"{label}: {len(photos)} photos < {n_train} + {n_held_out}"
        )
        rng.shuffle(photos)
        picked[label] = LabelPhotos(label, photos[:n_train], photos[n_train : n_train + n_held_out])
    return picked


# --------------------------------------------------------------------------------------------
# SDK flows


def upload_files(
    trainer: CustomVisionTrainingClient,
    project_id: str,
    entries: Sequence[training_models.ImageFileCreateEntry],
) -> list[training_models.ImageCreateResult]:
    """``create_images_from_files`` in batches of at most 64; every batch must succeed."""
    results: list[training_models.ImageCreateResult] = []
    for start in range(0, len(entries), 64):
        chunk = list(entries[start : start + 64])
        summary = trainer.create_images_from_files(
            project_id, training_models.ImageFileCreateBatch(images=chunk)
        )
        assert summary is not None, "create_images_from_files answered an empty body"
        statuses = [image.status for image in summary.images]
        assert summary.is_batch_successful is True, statuses
        assert statuses == ["OK"] * len(chunk), statuses
        assert [image.source_url for image in summary.images] == [e.name for e in chunk]
        results.extend(summary.images)
    return results


def wait_for_iteration(
    trainer: CustomVisionTrainingClient,
    project_id: str,
    iteration_id: str,
    timeout: float = 300.0,
    server: Server | None = None,
) -> training_models.Iteration:
    """Poll ``get_iteration`` until it leaves "Training"; fail on "Failed" or a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        iteration = trainer.get_iteration(project_id, iteration_id)
        assert iteration.status in ITERATION_STATES, iteration.status
        if iteration.status == "Completed":
            return iteration
        log = server.log_tail() if server is not None else ""
        if iteration.status == "Failed":
            pytest.fail(f"training failed: {iteration.training_error_details!r}\n{log}")
        if time.monotonic() > deadline:
            pytest.fail(f"training still {iteration.status!r} after {timeout:.0f} s\n{log}")
        time.sleep(0.5)


def probabilities(prediction: Any) -> dict[str, float]:
    """``{tagName: probability}`` of an ImagePrediction / stored prediction."""
    return {p.tag_name: float(p.probability) for p in prediction.predictions}


def check_image_prediction(
    prediction: Any, project_id: str, iteration_id: str, tag_names: set[str]
) -> None:
    """The shape every classification answer must have (spec §4, §6, §7.2)."""
    assert prediction is not None
    assert prediction.id
    assert prediction.project == project_id
    assert prediction.iteration == iteration_id
    assert prediction.created is not None
    names = [p.tag_name for p in prediction.predictions]
    assert sorted(names) == sorted(tag_names), names
    probs = [float(p.probability) for p in prediction.predictions]
    assert all(0.0 <= p <= 1.0 for p in probs), probs
    assert probs == sorted(probs, reverse=True), f"not sorted high to low: {probs}"
    assert abs(sum(probs) - 1.0) <= 1e-3, f"multiclass probabilities sum to {sum(probs)}"
    assert all(p.tag_id for p in prediction.predictions)


def enlarged_jpeg(path: Path, min_bytes: int = 1_100_000, max_bytes: int = 4_000_000) -> bytes:
    """The photo upscaled (same content) until its JPEG is over ``min_bytes``.

    None of the sample photos is over 1 MB, but uploads over 1 MB take a different path in
    multipart parsers (spec §1.3), so the tests make some. Prediction accepts up to 4 MB.
    """
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    scale = 2.0
    while True:
        size = (round(rgb.width * scale), round(rgb.height * scale))
        buffer = io.BytesIO()
        rgb.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=100, subsampling=0)
        data = buffer.getvalue()
        if len(data) > min_bytes:
            assert len(data) <= max_bytes, (path, scale, len(data))
            return data
        scale += 0.5


def image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size
