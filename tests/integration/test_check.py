"""`tagloop check` finds planted problems: in generated images and in real photos.

Each dataset is built with a known set of problems (exact and pixel-identical copies, resized
and re-encoded copies, one image under two labels, test images copied from training images,
images filed under the wrong label, unreadable, tiny and huge files, a 25-image label) and the
findings are checked against that ground truth: every planted problem of the kinds the issue
requires is found, and what is reported about copies is the planted copies.

The generated images are scenes of coloured shapes on a background of the label's colour,
checked with the tiny test backbone (pooled colours; the colour decides the label, so a red
scene in the green folder is mislabeled). The real-photo tests use the real EfficientNet-Lite0
on photos from ../shared/datasets/clothing-extra and are skipped without them.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw
from tests.fixtures import COLOURS, TINY, jpeg_bytes, plant_bad_files
from tests.integration.sdk_support import REAL_IMAGES, requires_real_photos

from tagloop.config import Settings
from tagloop.project import Project
from tagloop.shells.cli import cli

COPY_CODES = ("duplicate", "near_duplicate", "conflicting_labels")


# --------------------------------------------------------------------------------------------
# Planting helpers


def scene(
    colour: tuple[int, int, int], seed: int, size: tuple[int, int] = (160, 120)
) -> Image.Image:
    """Random shapes on a wavy background of ``colour``: distinct, robust to resizing.

    (The flat noisy images of ``tests.conftest.colour_image`` have no structure for a
    difference hash to keep: a resized copy lands tens of bits away.)
    """
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width] / max(size)
    waves = np.zeros((height, width))
    for _ in range(3):
        fx, fy = rng.uniform(-6, 6, 2)
        waves += np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 2 * np.pi))
    background = np.array(colour, np.float32) + 15 * waves[..., None]
    img = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(7):
        w, h = rng.integers(width // 10, width // 4), rng.integers(height // 10, height // 4)
        x0, y0 = rng.integers(0, width - w), rng.integers(0, height - h)
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((int(x0), int(y0), int(x0 + w), int(y0 + h)), fill=fill)
    noise = rng.normal(0, 2, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def reencoded(path: Path, scale: float = 1.0, quality: int = 80) -> bytes:
    """A JPEG copy of the image at ``path``, resized by ``scale``."""
    with Image.open(path) as opened:
        img = opened.convert("RGB")
    if scale != 1.0:
        img = img.resize(
            (round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS
        )
    return jpeg_bytes(img, quality=quality)


def pixel_copy(path: Path) -> bytes:
    """The same pixels in a PNG with other bytes than the original."""
    with Image.open(path) as opened:
        data = encode(opened.convert("RGB"), "PNG", compress_level=0)
    assert data != path.read_bytes()
    return data


@dataclass
class Planted:
    """Where the problems went (paths as the check reports them)."""

    data: Path
    test: Path
    exact: list[tuple[str, str]] = field(default_factory=list)  # (original, copy)
    pixel: list[tuple[str, str]] = field(default_factory=list)
    resized: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    leaks: list[tuple[str, str]] = field(default_factory=list)  # (training original, test copy)
    mislabeled: dict[str, str] = field(default_factory=dict)  # path -> true label
    unreadable: list[str] = field(default_factory=list)
    too_small: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)
    fresh_test: list[str] = field(default_factory=list)

    def put(self, root: Path, label: str, name: str, data: bytes) -> str:
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / name).write_bytes(data)
        return str(root / label / name)

    def copy_pairs(self) -> list[tuple[str, str]]:
        return [*self.exact, *self.pixel, *self.resized, *self.conflicts]


# --------------------------------------------------------------------------------------------
# Reading the report


def findings(doc: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["code"] == code]


def groups(doc: dict[str, Any], *codes: str) -> list[set[str]]:
    return [set(g) for code in codes for f in findings(doc, code) for g in f.get("groups", [])]


def items(doc: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [
        dict(i) if isinstance(i, dict) else {"path": i}
        for f in findings(doc, code)
        for i in f.get("items", [])
    ]


def item_paths(doc: dict[str, Any], code: str) -> set[str]:
    return {i["path"] for i in items(doc, code)}


def missed(pairs: Iterable[tuple[str, str]], found: list[set[str]]) -> list[tuple[str, str]]:
    """The pairs no reported group holds both of."""
    return [pair for pair in pairs if not any(set(pair) <= g for g in found)]


def label_named(doc: dict[str, Any], code: str, label: str) -> bool:
    """Whether a per-label finding names ``label`` (in its details or its message)."""
    return any(
        label in json.dumps({k: v for k, v in f.items() if k != "advice"})
        for f in findings(doc, code)
    )


def check_invariants(doc: dict[str, Any]) -> None:
    """The report's shape, whatever the data."""
    assert {"n_images", "labels", "findings"} <= set(doc)
    order = ["error", "warning", "info"]
    severities = [f["severity"] for f in doc["findings"]]
    assert severities == sorted(severities, key=order.index), "errors, then warnings, then info"
    for f in doc["findings"]:
        assert {"code", "severity", "message", "advice"} <= set(f), f
        assert f["message"] and f["advice"]
        for group in f.get("groups", []):
            assert len(group) >= 2 and all(isinstance(p, str) for p in group), group
        for item in f.get("items", []):
            assert isinstance(item, str) or "path" in item, item


# --------------------------------------------------------------------------------------------
# Generated images, the tiny backbone, through the CLI

N_LARGEST, N_MIDDLE, N_SMALL = 150, 60, 25  # red, green, blue (blue: too few; 25:150 imbalance)


def plant_generated(root: Path) -> Planted:
    p = Planted(data=root / "data", test=root / "test")
    counts = {"red": N_LARGEST, "green": N_MIDDLE, "blue": N_SMALL}
    originals: dict[str, list[Path]] = {}
    for k, (label, n) in enumerate(counts.items()):
        originals[label] = []
        for i in range(n):
            name = f"img_{i}.png"
            p.put(p.data, label, name, encode(scene(COLOURS[label], 1000 * k + i), "PNG"))
            originals[label].append(p.data / label / name)
        for i in range(4):  # held-out images, not copies of anything
            img = scene(COLOURS[label], 50_000 + 1000 * k + i)
            p.fresh_test.append(p.put(p.test, label, f"fresh_{i}.png", encode(img, "PNG")))
    red, green = originals["red"], originals["green"]
    # Nothing is planted in blue: it keeps exactly N_SMALL images.
    p.exact += [(str(red[0]), p.put(p.data, "red", "a1.png", red[0].read_bytes()))]
    p.exact += [(str(green[0]), p.put(p.data, "green", "a2.png", green[0].read_bytes()))]
    p.pixel += [(str(red[1]), p.put(p.data, "red", "b1.png", pixel_copy(red[1])))]
    p.resized += [(str(red[2]), p.put(p.data, "red", "c1.jpg", reencoded(red[2], 0.75, 80)))]
    p.resized += [(str(red[3]), p.put(p.data, "red", "c2.jpg", reencoded(red[3], 0.6, 72)))]
    p.resized += [(str(green[2]), p.put(p.data, "green", "c3.jpg", reencoded(green[2], 0.7, 85)))]
    # The same image under two labels: as it is, and re-encoded.
    p.conflicts += [(str(red[4]), p.put(p.data, "green", "d1.png", red[4].read_bytes()))]
    p.conflicts += [(str(green[4]), p.put(p.data, "red", "d2.jpg", reencoded(green[4], 1.0, 88)))]
    # Test images that are copies of training images.
    p.leaks += [(str(red[5]), p.put(p.test, "red", "e1.jpg", reencoded(red[5], 1.0, 80)))]
    p.leaks += [(str(green[5]), p.put(p.test, "green", "e2.jpg", reencoded(green[5], 0.9, 85)))]
    # Red scenes filed as green: mislabeled.
    for i in range(3):
        path = p.put(p.data, "green", f"f{i}.png", encode(scene(COLOURS["red"], 70_000 + i), "PNG"))
        p.mislabeled[path] = "red"
    bad = plant_bad_files(p.data / "red")
    p.unreadable += [str(p.data / "red" / name) for name in bad if name != "huge.png"]
    tiny = scene(COLOURS["green"], 80_000, size=(20, 20))
    p.too_small.append(p.put(p.data, "green", "g1.png", encode(tiny, "PNG")))
    large = scene(COLOURS["red"], 90_000, size=(2500, 2000))
    p.too_large.append(p.put(p.data, "red", "h1.jpg", jpeg_bytes(large, quality=85)))
    return p


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory, shared_cache: Path
) -> tuple[Planted, dict[str, Any]]:
    planted = plant_generated(tmp_path_factory.mktemp("check") / "planted")
    runner = CliRunner()
    args = ["check", str(planted.data), "--test", str(planted.test), "--backbone", TINY, "--json"]
    result = runner.invoke(cli, args, env={"TAGLOOP_CACHE_DIR": str(shared_cache)})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    check_invariants(doc)
    return planted, doc


def test_counts_and_small_label(generated: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = generated
    labels = doc["labels"]
    assert labels["blue"] == N_SMALL
    assert labels["red"] >= N_LARGEST and labels["green"] >= N_MIDDLE
    assert doc["n_test_images"] == len(planted.fresh_test) + len(planted.leaks)
    assert doc["n_images"] == sum(labels.values())
    too_few = findings(doc, "too_few_images")
    assert too_few and all(f["severity"] == "warning" for f in too_few)
    assert label_named(doc, "too_few_images", "blue")
    assert not label_named(doc, "too_few_images", "red")


def test_imbalance_25_against_150(generated: tuple[Planted, dict[str, Any]]) -> None:
    _, doc = generated
    assert findings(doc, "imbalance")
    assert label_named(doc, "imbalance", "blue")


def test_exact_and_pixel_identical_copies_are_duplicates(
    generated: tuple[Planted, dict[str, Any]],
) -> None:
    planted, doc = generated
    found = groups(doc, "duplicate")
    assert missed(planted.exact + planted.pixel, found) == []
    # Every duplicate group is a planted copy (the originals are all different scenes).
    planted_sets = [set(pair) for pair in planted.copy_pairs()]
    assert all(g in planted_sets for g in found), found


def test_resized_copies_are_found(generated: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = generated
    assert missed(planted.resized, groups(doc, "near_duplicate", "duplicate")) == []
    assert missed(planted.resized, groups(doc, "near_duplicate")) == []


def test_the_same_image_under_two_labels_conflicts(
    generated: tuple[Planted, dict[str, Any]],
) -> None:
    planted, doc = generated
    found = groups(doc, "conflicting_labels")
    assert missed(planted.conflicts, found) == []
    assert all(f["severity"] == "error" for f in findings(doc, "conflicting_labels"))
    assert all(g in [set(pair) for pair in planted.conflicts] for g in found), found


def test_copies_in_the_test_set_are_leakage(generated: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = generated
    leaked = item_paths(doc, "leakage")
    assert {copy for _, copy in planted.leaks} <= leaked
    assert not leaked & set(planted.fresh_test), "held-out images are not copies"
    assert all(f["severity"] == "error" for f in findings(doc, "leakage"))


def test_unreadable_small_and_large_files(generated: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = generated
    unreadable = item_paths(doc, "unreadable")
    assert set(planted.unreadable) <= unreadable
    huge = str(planted.data / "red" / "huge.png")  # 256 MP: over the decode limit
    assert huge in unreadable | item_paths(doc, "too_large")
    assert item_paths(doc, "too_small") == set(planted.too_small)
    assert set(planted.too_large) <= item_paths(doc, "too_large")


def test_misfiled_images_are_label_issues(generated: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = generated
    issues = {i["path"]: i for i in items(doc, "label_issue")}
    # The issue asks for half. Not all: the red scenes filed as green are each other's nearest
    # neighbours, and an image is only flagged when few of its nearest neighbours share its
    # label (the three misfiled ones and the red copy in green can be too many).
    flagged = [path for path in planted.mislabeled if path in issues]
    assert len(flagged) >= 0.5 * len(planted.mislabeled), issues
    for path in flagged:
        assert issues[path]["label"] == "green"
        assert issues[path]["suggested_label"] == planted.mislabeled[path]
    for issue in issues.values():
        assert {"path", "label", "suggested_label", "score"} <= set(issue)
        assert issue["label"] != issue["suggested_label"]
    # Planted mislabels and the copies filed under the other colour are most of what is flagged.
    wrong_colour = set(planted.mislabeled) | {copy for _, copy in planted.conflicts}
    assert len(wrong_colour & set(issues)) >= 0.5 * len(issues)


def test_learning_curve_is_information(generated: tuple[Planted, dict[str, Any]]) -> None:
    _, doc = generated
    curve = findings(doc, "learning_curve")
    assert curve and all(f["severity"] == "info" for f in curve)


def test_plain_text_output_names_the_findings(
    tmp_path: Path, shared_cache: Path, generated: tuple[Planted, dict[str, Any]]
) -> None:
    planted, doc = generated
    result = CliRunner().invoke(
        cli,
        ["check", str(planted.data), "--backbone", TINY],
        env={"TAGLOOP_CACHE_DIR": str(shared_cache)},
    )
    assert result.exit_code == 0, result.output
    for code in ("duplicate", "conflicting_labels", "unreadable", "too_small", "too_few_images"):
        assert code in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------------
# Small cases through Project.check


def test_clean_distinct_images_have_no_copy_findings(settings: Settings, tmp_path: Path) -> None:
    for k, (label, colour) in enumerate(COLOURS.items()):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(12):
            scene(colour, 3000 + 100 * k + i).save(tmp_path / "data" / label / f"{i}.png")
    report = Project(settings).check(tmp_path / "data", backbone=TINY)
    doc = report.to_dict()
    check_invariants(doc)
    assert doc["labels"] == {"blue": 12, "green": 12, "red": 12}
    codes = {f["code"] for f in doc["findings"]}
    assert not codes & {*COPY_CODES, "unreadable", "too_small", "too_large", "leakage"}, codes
    assert "too_few_images" in codes and not report.has_errors


def test_a_label_under_5_images_is_an_error(settings: Settings, tmp_path: Path) -> None:
    counts = {"red": 12, "green": 12, "blue": 3}
    for k, (label, n) in enumerate(counts.items()):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(n):
            scene(COLOURS[label], 4000 + 100 * k + i).save(tmp_path / "data" / label / f"{i}.png")
    doc = Project(settings).check(tmp_path / "data", backbone=TINY).to_dict()
    errors = [f for f in findings(doc, "too_few_images") if f["severity"] == "error"]
    assert errors and "blue" in json.dumps(errors)
    assert "red" not in json.dumps([{k: v for k, v in f.items() if k != "advice"} for f in errors])


def _manifest(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["path,label,sender"] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_group_by_a_shared_value_is_leakage(settings: Settings, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rows, test_rows = [], []
    for k, (label, colour) in enumerate(COLOURS.items()):
        for i in range(10):
            scene(colour, 5000 + 100 * k + i).save(images / f"{label}_{i}.png")
            row = (f"images/{label}_{i}.png", label, f"s{k}{i % 5}")  # 5 senders per label
            if i < 8:
                rows.append(row)
            else:  # test image 8 shares its sender with training images 3; 9 has its own
                test_rows.append(row if i == 8 else (*row[:2], f"t{k}"))
    train_csv = _manifest(tmp_path / "train.csv", rows)
    test_csv = _manifest(tmp_path / "test.csv", test_rows)
    doc = Project(settings).check(train_csv, test=test_csv, group_by="sender", backbone=TINY)
    doc = doc.to_dict()
    leaked = item_paths(doc, "leakage")
    shared = {f"{tmp_path}/images/{label}_8.png" for label in COLOURS}
    assert leaked == shared
    assert {i["kind"] for i in items(doc, "leakage")} == {"same_group"}


def test_group_by_a_missing_column_is_an_error(
    tmp_path: Path, shared_cache: Path, dataset: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        ["check", str(dataset), "--group-by", "sender", "--backbone", TINY, "--json"],
        env={"TAGLOOP_CACHE_DIR": str(shared_cache)},
    )
    assert result.exit_code == 1
    assert "sender" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------------------------
# Real photos, the real backbone

REAL_COUNTS = {"blazer": 25, "hoodie": 18, "polo": 18}  # blazer: the 25-image label


def plant_real(root: Path) -> Planted:
    rng = np.random.default_rng(0)
    p = Planted(data=root / "data", test=root / "test")
    photos = {
        label: sorted((REAL_IMAGES / label).glob("*.jpg"))[: n + 5]
        for label, n in REAL_COUNTS.items()
    }
    originals: dict[str, list[Path]] = {}
    for label, n in REAL_COUNTS.items():
        originals[label] = []
        for src in photos[label][:n]:
            p.put(p.data, label, src.name, src.read_bytes())
            originals[label].append(p.data / label / src.name)
        for src in photos[label][n : n + 2]:  # held out
            p.fresh_test.append(p.put(p.test, label, src.name, src.read_bytes()))
    hoodie, polo = originals["hoodie"], originals["polo"]
    # Nothing is planted in blazer: it keeps exactly 25 images.
    p.exact += [(str(hoodie[0]), p.put(p.data, "hoodie", "copy-a.jpg", hoodie[0].read_bytes()))]
    p.exact += [(str(polo[0]), p.put(p.data, "polo", "copy-b.jpg", polo[0].read_bytes()))]
    p.pixel += [(str(polo[1]), p.put(p.data, "polo", "copy-c.png", pixel_copy(polo[1])))]
    for i, (label, src) in enumerate([("hoodie", hoodie[1]), ("polo", polo[2]), ("polo", polo[3])]):
        scale, quality = float(rng.uniform(0.6, 0.8)), int(rng.integers(70, 86))
        copy = p.put(p.data, label, f"copy-d{i}.jpg", reencoded(src, scale, quality))
        p.resized.append((str(src), copy))
    p.conflicts += [(str(hoodie[2]), p.put(p.data, "polo", "copy-e.jpg", hoodie[2].read_bytes()))]
    p.conflicts += [
        (str(polo[4]), p.put(p.data, "hoodie", "copy-f.jpg", reencoded(polo[4], 1, 85)))
    ]
    for label, src in [
        ("hoodie", hoodie[3]),
        ("polo", polo[5]),
        ("blazer", originals["blazer"][0]),
    ]:
        p.leaks.append((str(src), p.put(p.test, label, f"leak-{src.name}", reencoded(src, 1, 80))))
    for i in range(2):
        p.unreadable.append(p.put(p.data, "polo", f"bad-{i}.jpg", rng.bytes(3000 + 1000 * i)))
    spare = photos["polo"][REAL_COUNTS["polo"] + 2 :]  # in no folder yet
    with Image.open(spare[0]) as opened:
        tiny = jpeg_bytes(opened.convert("RGB").resize((20, 20)), quality=90)
    p.too_small.append(p.put(p.data, "hoodie", "tiny.jpg", tiny))
    for src in spare[1:]:  # polo shirts filed as hoodies
        p.mislabeled[p.put(p.data, "hoodie", src.name, src.read_bytes())] = "polo"
    return p


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> tuple[Planted, dict]:
    planted = plant_real(tmp_path_factory.mktemp("check-real") / "planted")
    settings = Settings(cache_dir=shared_cache, n_threads=2)
    report = Project(settings).check(planted.data, test=planted.test)
    doc = report.to_dict()
    check_invariants(doc)
    return planted, doc


@pytest.mark.slow
@requires_real_photos
def test_real_photo_copies_are_all_found(real: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = real
    assert missed(planted.exact + planted.pixel, groups(doc, "duplicate")) == []
    assert missed(planted.resized, groups(doc, "near_duplicate", "duplicate")) == []
    assert missed(planted.conflicts, groups(doc, "conflicting_labels")) == []
    # What is reported as a copy is a planted copy.
    planted_sets = [set(pair) for pair in planted.copy_pairs()]
    unplanted = [g for g in groups(doc, *COPY_CODES) if g not in planted_sets]
    assert unplanted == []


@pytest.mark.slow
@requires_real_photos
def test_real_photo_leakage(real: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = real
    leaked = item_paths(doc, "leakage")
    assert {copy for _, copy in planted.leaks} <= leaked
    assert not leaked & set(planted.fresh_test)


@pytest.mark.slow
@requires_real_photos
def test_real_photo_files_and_counts(real: tuple[Planted, dict[str, Any]]) -> None:
    planted, doc = real
    assert doc["labels"]["blazer"] == REAL_COUNTS["blazer"]
    assert label_named(doc, "too_few_images", "blazer")
    assert item_paths(doc, "unreadable") == set(planted.unreadable)
    assert item_paths(doc, "too_small") == set(planted.too_small)
    for issue in items(doc, "label_issue"):
        assert {"path", "label", "suggested_label", "score"} <= set(issue)
        assert issue["label"] != issue["suggested_label"]
        assert issue["path"].startswith(str(planted.data))


@pytest.mark.slow
@requires_real_photos
def test_real_photo_check_through_the_cli(tmp_path: Path, shared_cache: Path) -> None:
    data = tmp_path / "data"
    for label in ("blazer", "hoodie"):
        (data / label).mkdir(parents=True)
        for src in sorted((REAL_IMAGES / label).glob("*.jpg"))[:12]:
            shutil.copy(src, data / label / src.name)
    original = sorted((data / "hoodie").iterdir())[0]
    shutil.copy(original, data / "blazer" / "same.jpg")
    result = CliRunner().invoke(
        cli, ["check", str(data), "--json"], env={"TAGLOOP_CACHE_DIR": str(shared_cache)}
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    check_invariants(doc)
    pair = {str(original), str(data / "blazer" / "same.jpg")}
    assert any(pair <= g for g in groups(doc, "conflicting_labels"))
