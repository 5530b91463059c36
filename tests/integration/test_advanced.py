"""Advanced training with the real EfficientNet-Lite0 on real sample photos.

The budget is honoured, the reported numbers never come from images that chose a model's
hyperparameters or stopping epoch, the exported fine-tuned graph matches torch, a budget too
small falls back to quick training and says so, bad budgets are refused, and a running advanced
training can be cancelled through the API.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from tests.fixtures import SAMPLE_DATA, TRAINING_KEY
from tests.integration.sdk_support import requires_real_photos

from tagloop.config import Settings
from tagloop.embed.backbones import DEFAULT_BACKBONE, create_backbone
from tagloop.embed.preprocess import decode_for_model
from tagloop.embed.trunk import default_cut, load_network, tail_module
from tagloop.export.finetuned import build_finetuned_graph, packaged_module, torch_outputs
from tagloop.export.onnx import PARITY_ATOL, check_parity
from tagloop.ingest.decode import read_image_bytes
from tagloop.pipeline.advanced import EXPORT_RESERVE_SECONDS
from tagloop.project import Project
from tagloop.shells.cli import cli
from tagloop.shells.server import create_app
from tagloop.train import advanced
from tagloop.train.finetune import TunedModel
from tagloop.train.service import TrainSpec

pytestmark = [pytest.mark.slow, requires_real_photos]
LABELS = ("blazer", "polo", "undershirt")
BUDGET_S = 40.0
TRAIN = {"Training-Key": TRAINING_KEY}
API = "/api/v1"


def real_manifest(folder: Path, per_label: int = 20) -> Path:
    """``per_label`` real photos of each of LABELS, with their sender_id, as a CSV manifest."""
    with (SAMPLE_DATA / "metadata.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    chosen = [r for label in LABELS for r in [x for x in rows if x["label"] == label][:per_label]]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "photos.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "sender_id"])
        for r in chosen:
            writer.writerow([SAMPLE_DATA / r["path"], r["label"], r["sender_id"]])
    return path


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_manifest(tmp_path_factory.mktemp("advanced"))


def test_budget_honoured_and_reported_images_never_chose_their_model(
    settings: Settings, manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on the real fine-tuning: every image a fold model predicts for the report was in
    neither that model's training nor its validation (selection) images."""
    tuned: list[tuple[set[int], set[int]]] = []  # (fit, val) of each fine-tuning run
    predicted: list[tuple[int, set[int]]] = []  # (runs so far, images predicted)
    real_fine_tune, real_predict = advanced.fine_tune, advanced.predict_proba

    def spy_fine_tune(model: Any, views: Any, Y: Any, fit: Any, val: Any, **kw: Any) -> Any:  # noqa: N803
        tuned.append((set(fit.tolist()), set(val.tolist())))
        return real_fine_tune(model, views, Y, fit, val, **kw)

    def spy_predict(model: Any, views: Any, idx: Any, **kw: Any) -> Any:
        predicted.append((len(tuned), set(idx.tolist())))
        return real_predict(model, views, idx, **kw)

    monkeypatch.setattr(advanced, "fine_tune", spy_fine_tune)
    monkeypatch.setattr(advanced, "predict_proba", spy_predict)
    spec = TrainSpec(group_by="sender_id", mode="advanced", budget_seconds=BUDGET_S)
    started = time.perf_counter()
    result = Project(settings).train(manifest, out_dir=tmp_path / "model", spec=spec)
    seconds = time.perf_counter() - started

    details = dict(result.advanced or {})
    # The end of the budget is kept for the fine-tuned model's export; a run that keeps the
    # quick model has nothing to export and ends that much earlier.
    unused = EXPORT_RESERVE_SECONDS if result.training_type == "quick" else 0.0
    assert 0.85 * BUDGET_S - unused <= seconds <= 1.15 * BUDGET_S, f"took {seconds:.1f} s"
    assert "plan" in details, details.get("fallback")
    n_folds = details["plan"]["n_folds"]
    assert len(predicted) == n_folds  # one held-out prediction per outer fold
    seen: set[int] = set()
    start = 0
    for runs_so_far, held_out in predicted:
        for fit, val in tuned[start:runs_so_far]:  # the runs that chose this fold's model
            assert not held_out & fit, "a reported image trained the model that predicted it"
            assert not held_out & val, "a reported image chose the model that predicted it"
        start = runs_so_far
        assert not held_out & seen
        seen |= held_out
    assert seen == set(range(result.n_images))  # every reported image predicted once
    meta = json.loads((result.model_dir / "model.json").read_text())
    recorded = meta["training"]["advanced"]
    assert recorded["budget_seconds"] == BUDGET_S
    assert set(recorded["searched"]) == set(advanced.SEARCH_SPACE)
    assert len(recorded["models"]) == n_folds + 1
    assert all(m["trials"] and "chosen" in m for m in recorded["models"])
    assert meta["training_type"] == result.training_type
    if result.training_type == "quick":  # fine-tuning did not beat the quick head: it says so
        assert "quick model" in recorded["fallback"]
    assert meta["export_check"]["max_abs_diff"] <= PARITY_ATOL


@pytest.mark.parametrize("name", ["efficientnet-lite0", DEFAULT_BACKBONE])
def test_exported_fine_tuned_graph_matches_torch(settings: Settings, name: str) -> None:
    """The one ONNX graph (trunk once, frozen tail for features, tuned tail for probabilities)
    against torch on real photos; its features are the plain backbone's (average pooling for
    Lite0, generalized-mean for the default)."""
    backbone = create_backbone(name, cache_dir=settings.cache_dir, n_threads=2)
    net = load_network(backbone.spec)
    cut = default_cut(net)
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(0, 0.05, (3, 1280)), rng.normal(0, 0.1, 3)
    tuned = TunedModel(tail_module(net, cut, gem_p=backbone.spec.gem_p), weight, bias)
    import torch

    with torch.no_grad():  # a tail that differs from the frozen one, as after training
        for p in tuned.tail.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    module = packaged_module(backbone.spec, net, cut, tuned, multilabel=False)
    graph = build_finetuned_graph(
        module, image_size=backbone.spec.preprocess.image_size, multilabel=False, labels=LABELS
    )
    photos = sorted((SAMPLE_DATA / "images" / "polo").glob("*.jpg"))[:6]
    cfg = backbone.spec.preprocess
    pixels = np.stack(
        [decode_for_model(read_image_bytes(p), cfg, max_pixels=10**8)[0] for p in photos]
    )
    expected = torch_outputs(module, pixels)
    assert max(check_parity(graph, pixels, expected).values()) <= PARITY_ATOL
    import onnxruntime as ort

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    features = session.run(["features"], {"image": pixels})[0]
    assert np.abs(features - backbone.embed(pixels)).max() <= 1e-3


def test_a_budget_too_small_falls_back_to_quick_and_says_so(
    settings: Settings, manifest: Path, tmp_path: Path
) -> None:
    spec = TrainSpec(group_by="sender_id", mode="advanced", budget_seconds=2)
    result = Project(settings).train(manifest, out_dir=tmp_path / "model", spec=spec)
    assert result.training_type == "quick"
    assert "too small" in (result.advanced or {})["fallback"]
    meta = json.loads((result.model_dir / "model.json").read_text())
    assert meta["training_type"] == "quick"
    assert "too small" in meta["training"]["advanced"]["fallback"]


@pytest.mark.parametrize("budget", ["0", "-5", "abc", "25h", "0s", "nan"])
def test_bad_budgets_exit_2_with_a_message(budget: str, manifest: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["train", str(manifest), "--advanced", "--budget", budget, "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "budget" in result.output.lower()
    assert not (tmp_path / "model.json").exists()


def test_budget_without_advanced_is_a_usage_error(manifest: Path) -> None:
    result = CliRunner().invoke(cli, ["train", str(manifest), "--budget", "10m"])
    assert result.exit_code == 2 and "--advanced" in result.output


def test_cancel_a_running_advanced_training(api_settings: Settings) -> None:
    """Cancelled while fine-tuning: the iteration ends Failed within seconds, no model kept."""
    with TestClient(create_app(api_settings)) as client:
        body = {"name": "garments", "classification_type": "Multiclass"}
        pid = client.post(f"{API}/projects", json=body, headers=TRAIN).json()["id"]
        with (SAMPLE_DATA / "metadata.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        for label in ("blazer", "polo"):
            tag = client.post(f"{API}/projects/{pid}/tags", json={"name": label}, headers=TRAIN)
            files = [
                (f"file{i}", (Path(r["path"]).name, (SAMPLE_DATA / r["path"]).read_bytes()))
                for i, r in enumerate([r for r in rows if r["label"] == label][:15])
            ]
            response = client.post(
                f"{API}/projects/{pid}/images",
                files=files,
                params={"tag_ids": tag.json()["id"]},
                headers=TRAIN,
            )
            assert response.status_code == 200, response.text
        started = client.post(
            f"{API}/projects/{pid}/train",
            json={"training_type": "advanced", "budget_seconds": 300},
            headers=TRAIN,
        )
        assert started.status_code == 202, started.text
        iteration = started.json()
        assert (iteration["training_type"], iteration["budget_seconds"]) == ("advanced", 300)
        url = f"{API}/projects/{pid}/iterations/{iteration['id']}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            current = client.get(url, headers=TRAIN).json()
            assert current["status"] == "Training", current["error"]
            if (current["progress"] or {}).get("stage") == "fine-tune":
                break
            time.sleep(0.2)
        else:
            raise AssertionError("advanced training never reached fine-tuning")
        assert current["progress"]["detail"]
        cancelled_at = time.monotonic()
        response = client.post(f"{url}/cancel", headers=TRAIN)
        assert response.status_code == 200, response.text
        while time.monotonic() < cancelled_at + 30:
            current = client.get(url, headers=TRAIN).json()
            if current["status"] != "Training":
                break
            time.sleep(0.2)
        assert current["status"] == "Failed" and current["error"] == "Cancelled by the user."
        assert current["model_training_type"] is None
        jobs_idle = time.monotonic() + 30
        while time.monotonic() < jobs_idle:  # the worker unwound: a new training can start
            again = client.post(f"{API}/projects/{pid}/train", headers=TRAIN)
            if again.status_code == 202:
                break
            time.sleep(0.5)
        assert again.status_code == 202, again.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"training_type": "advanced", "budget_seconds": 0}, "budget_invalid"),
        ({"training_type": "advanced", "budget_seconds": -1}, "budget_invalid"),
        ({"training_type": "advanced", "budget_seconds": 10**9}, "budget_invalid"),
        ({"training_type": "quick", "budget_seconds": 60}, "budget_invalid"),
    ],
)
def test_native_train_refuses_bad_budgets(
    client: TestClient, body: dict[str, Any], code: str
) -> None:
    pid = client.post(
        f"{API}/projects", json={"name": "p", "classification_type": "Multiclass"}, headers=TRAIN
    ).json()["id"]
    response = client.post(f"{API}/projects/{pid}/train", json=body, headers=TRAIN)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert client.get(f"{API}/projects/{pid}/iterations", headers=TRAIN).json() == []
