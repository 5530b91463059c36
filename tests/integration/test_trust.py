"""Heat-maps and the shortcut check with the real backbone on the sample photos (slow, part of
`make test`): a planted stamp that alone decides a tag is where the model looks, the check
reports it, and the same photos without it give no such finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from tests.fixtures import SAMPLE_DATA, stamp_photo, write_stamped_split

from tagloop.config import Settings
from tagloop.embed.preprocess import PreprocessConfig, decode_for_model
from tagloop.ingest.decode import read_image_bytes
from tagloop.project import Project
from tagloop.train.service import TrainSpec

pytestmark = pytest.mark.slow
LABELS = ("blazer", "body", "hoodie")
N_PER_LABEL = 32


@pytest.fixture(scope="module")
def stamped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stamped_split(tmp_path_factory.mktemp("stamped") / "data", LABELS, N_PER_LABEL)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean") / "data"
    for label in LABELS:
        (root / label).mkdir(parents=True)
        for photo in sorted((SAMPLE_DATA / "images" / label).glob("*.jpg"))[:N_PER_LABEL]:
            (root / label / photo.name).write_bytes(photo.read_bytes())
    return root


@pytest.fixture(scope="module")
def stamped_model(
    stamped: Path, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("stamped-model") / "model"
    Project(Settings(cache_dir=shared_cache)).train(stamped, out_dir=out, spec=TrainSpec())
    return out


def test_the_shortcut_check_finds_a_stamp_that_decides_a_tag(
    stamped: Path, shared_cache: Path
) -> None:
    report = Project(Settings(cache_dir=shared_cache)).check(stamped)
    found = [f for f in report.findings if f.code == "shortcut"]
    assert [f.extra["tag"] for f in found] == ["a"], [f.to_dict() for f in report.findings]
    box = found[0].extra["box"]
    assert box["left"] >= 0.5 and box["bottom"] <= 0.5  # the top right, where the stamp is
    assert found[0].extra["transplant_effect"] >= 0.5
    assert "top right" in found[0].message
    assert all(Path(item["path"]).parent.name == "a" for item in found[0].items)


def test_no_shortcut_finding_on_the_same_photos_without_the_stamp(
    clean: Path, shared_cache: Path
) -> None:
    report = Project(Settings(cache_dir=shared_cache)).check(clean)
    assert [f.to_dict() for f in report.findings if f.code == "shortcut"] == []


def test_the_heat_map_of_a_stamped_photo_peaks_on_the_stamp(
    stamped_model: Path, shared_cache: Path, tmp_path: Path
) -> None:
    """A photo of tag b, stamped now: the model's evidence for 'a' is the stamp."""
    photo = sorted((SAMPLE_DATA / "images" / "hoodie").glob("*.jpg"))[-1]
    probe = tmp_path / "probe.jpg"
    stamp_photo(Image.open(photo)).save(probe, "JPEG", quality=92)
    found = Project(Settings(cache_dir=shared_cache)).explain(stamped_model, probe, label="a")
    x, y = found.peak
    assert x > 0.6 and y < 0.4, (x, y)

    env = {**os.environ, "TAGLOOP_CACHE_DIR": str(shared_cache)}
    out = tmp_path / "heat.png"
    proc = subprocess.run(
        [sys.executable, "-m", "tagloop.shells.cli_main", "explain", str(stamped_model),
         str(probe), "--tag", "a", "--out", str(out), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["label"] == "a" and doc["peak"]["x"] > 0.6 and doc["peak"]["y"] < 0.4
    with Image.open(out) as overlay:
        assert overlay.format == "PNG" and overlay.size == (256, 256)
    bad = subprocess.run(
        [sys.executable, "-m", "tagloop.shells.cli_main", "explain", str(stamped_model),
         str(probe), "--tag", "nope", "--out", str(tmp_path / "x.png")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 1 and "not one of the model's labels" in bad.stderr


def test_the_onnx_heat_maps_add_up_to_its_probabilities(stamped_model: Path) -> None:
    """The graph's second output is the exact split of its logits: summed over positions
    (plus the bias, which a softmax of differences cancels) it gives the probabilities."""
    meta = json.loads((stamped_model / "model.json").read_text())
    cfg = PreprocessConfig.from_dict(meta["preprocessing"])
    photos = sorted((SAMPLE_DATA / "images" / "body").glob("*.jpg"))[:4]
    pixels = np.stack(
        [decode_for_model(read_image_bytes(p), cfg, max_pixels=10**8)[0] for p in photos]
    )
    session = ort.InferenceSession(
        str(stamped_model / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    proba, heat = session.run(["probabilities", "heatmaps"], {"image": pixels})
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(stamped_model / "model.onnx")).graph
    bias = next(numpy_helper.to_array(t) for t in graph.initializer if t.name == "head_bias")
    logits = heat.sum(axis=(2, 3)) + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    assert heat.shape[:2] == (4, 2) and heat.shape[2] == heat.shape[3] == 8
