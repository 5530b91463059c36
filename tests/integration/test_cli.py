"""The CLI contract of DESIGN.md, through click's runner and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.fixtures import TINY, plant_bad_files, write_dataset

from tagloop.shells.cli import cli


@pytest.fixture
def runner(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TAGLOOP_CACHE_DIR", str(shared_cache))
    return CliRunner()


@pytest.fixture
def model(runner: CliRunner, dataset: Path, tmp_path: Path) -> Path:
    out = tmp_path / "model"
    result = runner.invoke(cli, ["train", str(dataset), "--out", str(out), "--backbone", TINY])
    assert result.exit_code == 0, result.output
    return out


def test_train_json_has_the_contract_keys(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    plant_bad_files(dataset / "blue")
    test_dir = write_dataset(tmp_path / "t", n_per_label=3, seed=3)
    result = runner.invoke(
        cli,
        [
            "train",
            str(dataset),
            "--test",
            str(test_dir),
            "--out",
            str(tmp_path / "m"),
            "--backbone",
            TINY,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"labels", "n_images", "skipped", "backbone", "seconds", "evaluation", "test"} <= set(
        doc
    )
    assert doc["n_images"] == 24 and len(doc["skipped"]) == 5
    assert all(set(s) == {"path", "reason"} for s in doc["skipped"])
    report = doc["evaluation"]
    assert {"n_images", "accuracy", "macro_f1", "per_label", "confusion_matrix"} <= set(report)
    assert doc["test"]["n_images"] == 9


def test_predict_reports_a_corrupt_file_and_exits_1(
    runner: CliRunner, model: Path, dataset: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    good = dataset / "red" / "img_1.png"
    result = runner.invoke(cli, ["predict", str(model), str(bad), str(good), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc[0]["path"] == str(bad) and "error" in doc[0]
    assert doc[1]["predictions"][0]["label"] == "red"
    assert "Traceback" not in result.output


def test_predict_top_k_and_plain_text(runner: CliRunner, model: Path, dataset: Path) -> None:
    good = dataset / "blue" / "img_2.png"
    result = runner.invoke(cli, ["predict", str(model), str(good), "--top", "1", "--json"])
    assert result.exit_code == 0
    assert [p["label"] for p in json.loads(result.stdout)[0]["predictions"]] == ["blue"]
    text = runner.invoke(cli, ["predict", str(model), str(good)])
    assert text.exit_code == 0 and text.stdout.startswith(f"{good}: blue")


def test_evaluate_prints_a_report(runner: CliRunner, model: Path, dataset: Path) -> None:
    result = runner.invoke(cli, ["evaluate", str(model), str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_images"] == 24


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist"),
        ("one-label", "at least 2 labels"),
        ("unreadable", "no readable labeled images"),
        ("not-a-model", "not a tagloop model"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(
    shared_cache: Path, tmp_path: Path, case: str, message: str
) -> None:
    data = write_dataset(tmp_path / "d", n_per_label=5)
    if case == "one-label":
        for name in ("green", "blue"):
            for f in (data / name).iterdir():
                f.unlink()
            (data / name).rmdir()
    if case == "unreadable":
        for f in data.rglob("*.png"):
            f.write_bytes(b"nope")
    args = {
        "missing": ["train", str(tmp_path / "nowhere")],
        "one-label": ["train", str(data), "--backbone", TINY],
        "unreadable": ["train", str(data), "--backbone", TINY],
        "not-a-model": ["predict", str(data), str(data / "red" / "img_0.png")],
    }[case]
    env = {**os.environ, "TAGLOOP_CACHE_DIR": str(shared_cache)}
    code = (
        "import sys, tests.conftest; from tagloop.shells.cli import main; "
        "sys.argv[0] = 'tagloop'; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
