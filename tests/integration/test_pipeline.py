"""The whole loop on the tiny backbone: real export, ONNX Runtime, cache, package, predictor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from tests.fixtures import TINY, plant_bad_files, write_dataset

from tagloop.config import Settings
from tagloop.errors import (
    Conflict,
    ExportMismatch,
    LabelSetMismatch,
    NoReadableImages,
    TooFewImages,
    TooFewLabels,
)
from tagloop.export.onnx import check_parity
from tagloop.project import Project
from tagloop.train.service import TrainSpec

SPEC = TrainSpec(backbone=TINY)


def test_train_skips_bad_files_writes_a_checked_package_and_predicts(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    planted = plant_bad_files(dataset / "red")
    test_dir = write_dataset(tmp_path / "test", n_per_label=4, seed=1)
    out = tmp_path / "model"
    result = Project(settings).train(dataset, test=test_dir, out_dir=out, spec=SPEC)

    assert result.labels == ("blue", "green", "red") and result.n_images == 24
    skipped = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(skipped) == set(planted)
    assert "empty" in skipped["empty.jpg"] and "truncated" in skipped["truncated.jpg"]
    assert "over the limit" in skipped["huge.png"]
    assert result.evaluation.accuracy >= 0.9 and result.evaluation.n_images == 24
    assert result.test is not None and result.test.accuracy >= 0.9
    assert result.test.n_images == 12

    meta = json.loads((out / "model.json").read_text())
    assert meta["labels"] == ["blue", "green", "red"]
    assert meta["classification_type"] == "multiclass"
    assert meta["preprocessing"]["image_size"] == 32
    assert meta["training"]["spec"]["backbone"] == TINY
    assert meta["export_check"]["max_abs_diff"] <= 1e-4
    assert meta["metrics"]["accuracy"] == result.evaluation.accuracy
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == ["probabilities", "features", "heatmaps", "novelty"]

    good = test_dir / "green" / "img_0.png"
    preds = Project(settings).predict(out, [dataset / "red" / "random.jpg", good], top_k=2)
    assert preds[0].error is not None and "not an image" in preds[0].error
    assert preds[1].error is None and len(preds[1].predictions) == 2
    assert preds[1].predictions[0].label == "green"
    assert preds[1].predictions[0].probability >= preds[1].predictions[1].probability


def test_second_run_recomputes_no_embedding(settings: Settings, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d", seed=5)
    project = Project(settings)
    first = project.train(data, out_dir=tmp_path / "m1", spec=SPEC)
    second = project.train(data, out_dir=tmp_path / "m2", spec=SPEC)
    assert first.n_embedded == 24 and second.n_embedded == 0
    assert second.evaluation == first.evaluation


def test_evaluate_scores_the_package_and_reports_unknown_labels(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    project = Project(settings)
    project.train(dataset, out_dir=tmp_path / "m", spec=SPEC)
    other = write_dataset(tmp_path / "e", n_per_label=3, seed=9)
    shutil.copytree(other / "red", other / "purple")
    result = project.evaluate(tmp_path / "m", other)
    assert result.report.n_images == 9 and result.report.accuracy >= 0.9
    assert len([s for s in result.skipped if "not one of the model's labels" in s.reason]) == 3
    only_new = tmp_path / "new"
    shutil.copytree(other / "purple", only_new / "purple")
    with pytest.raises(LabelSetMismatch):
        project.evaluate(tmp_path / "m", only_new)


def test_csv_multilabel_with_groups(settings: Settings, dataset: Path, tmp_path: Path) -> None:
    rows = ["path,label,person"]
    for i, png in enumerate(sorted(dataset.rglob("*.png"))):
        labels = png.parent.name + (";warm" if png.parent.name == "red" else "")
        rows.append(f"{png.relative_to(dataset)},{labels},p{i % 6}")
    (dataset / "m.csv").write_text("\n".join(rows) + "\n")
    result = Project(settings).train(
        dataset / "m.csv",
        out_dir=tmp_path / "m",
        spec=TrainSpec(backbone=TINY, multilabel=True, group_by="person"),
    )
    assert result.labels == ("blue", "green", "red", "warm")
    assert result.evaluation.is_multilabel and result.evaluation.threshold is not None
    assert "grouped by person" in result.evaluation.method
    assert result.evaluation.per_label["warm"].recall >= 0.9
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["classification_type"] == "multilabel" and meta["threshold"] is not None


def test_refuses_data_that_cannot_train(settings: Settings, tmp_path: Path) -> None:
    project = Project(settings)
    one = write_dataset(tmp_path / "one")
    shutil.rmtree(one / "green")
    shutil.rmtree(one / "blue")
    with pytest.raises(TooFewLabels, match="at least 2 labels"):
        project.train(one, out_dir=tmp_path / "m", spec=SPEC)
    few = write_dataset(tmp_path / "few", n_per_label=8)
    for extra in sorted((few / "blue").iterdir())[3:]:
        extra.unlink()
    with pytest.raises(TooFewImages, match=r"blue \(3\)"):
        project.train(few, out_dir=tmp_path / "m", spec=SPEC)
    assert not (tmp_path / "m").exists()


def test_a_test_set_without_usable_images_is_a_clear_error(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    test_dir = tmp_path / "test" / "purple"
    test_dir.mkdir(parents=True)
    (test_dir / "x.png").write_bytes(b"not an image")
    with pytest.raises(NoReadableImages, match="no readable test images"):
        Project(settings).train(dataset, test=test_dir.parent, out_dir=tmp_path / "m", spec=SPEC)


def test_parity_check_refuses_a_model_that_disagrees(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    Project(settings).train(dataset, out_dir=tmp_path / "m", spec=SPEC)
    model_bytes = (tmp_path / "m" / "model.onnx").read_bytes()
    pixels = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ExportMismatch, match="probabilities differ.*not written"):
        check_parity(model_bytes, pixels, {"probabilities": np.full((2, 3), 1 / 3) + 0.01})


def test_a_model_packaged_before_novelty_and_heat_maps_still_predicts(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    """Packages from before issue 14 have neither output nor `novelty` in model.json: their
    answers are all "known" (novelty None), and asking for a heat-map says to retrain."""
    out = tmp_path / "m"
    Project(settings).train(dataset, out_dir=out, spec=SPEC)
    model = onnx.load(str(out / "model.onnx"))
    kept = [o for o in model.graph.output if o.name in ("probabilities", "features")]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    onnx.save(model, str(out / "model.onnx"))
    meta = json.loads((out / "model.json").read_text())
    del meta["novelty"]
    (out / "model.json").write_text(json.dumps(meta))

    photo = next((dataset / "red").glob("*.png"))
    [answer] = Project(settings).predict(out, [photo])
    assert answer.error is None and answer.predictions[0].label == "red"
    assert (answer.unknown, answer.novelty) == (False, None)
    with pytest.raises(Conflict, match="train it again") as caught:
        Project(settings).explain(out, photo)
    assert caught.value.reason == "model_lacks_heatmaps"
