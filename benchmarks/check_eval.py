"""Data-check evaluation: `tagloop check` on real photos with planted problems.

Builds a labeled folder from the CC0 photos in ../shared/datasets/clothing-extra (five labels,
one of them cut to 25 images) and plants, with a fixed seed, the problems the data check is
meant to find, recording where each one went:

* exact byte copies and pixel-identical copies (decoded and saved again as PNG) in the same
  label folder (``duplicate``),
* resized (60-80% of each side) copies re-encoded as JPEG at quality 70-85 (``near_duplicate``),
* photos copied into a second label folder, as they are or re-encoded (``conflicting_labels``),
* a test folder of held-out photos plus re-encoded copies of training photos (``leakage``),
* 8% of two labels' photos moved into another label's folder (``label_issue``),
* a 25-image label against the largest (``too_few_images``, ``imbalance``), files of random
  bytes named .jpg (``unreadable``), 20x20 images (``too_small``) and a 2500x2000 one
  (``too_large``).

Each planted copy is made from its own photo, no photo is used twice, and every file gets a
random uuid name, so nothing but the pixels gives a plant away. Then it runs
``tagloop check DATA --test TEST --json`` in a fresh process with an empty cache
(TAGLOOP_CACHE_DIR in a temporary folder: the backbone export is part of the cold time), and
once more with that cache warm, and scores each detector:

* recall: the planted problems it reports. A copy counts as found when it and its original are
  in one reported group (for leakage: when the test copy is among the items);
* precision: of what it reports (groups, or items), the part that is planted. A group is
  planted when all its paths are one original and its copy. The photos are real, so some
  unplanted reports may be genuine (two shots of one garment, a photo that was mislabeled at
  the source); the JSON lists every unplanted report for a person to look at.

Prints a table and writes ``.bench/check_eval.json``.

    .venv/bin/python benchmarks/check_eval.py                 # about 475 files
    .venv/bin/python benchmarks/check_eval.py --quick         # about 240 files
    .venv/bin/python benchmarks/check_eval.py --keep /tmp/planted   # keep the dataset
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from report import environment, show, title, write_results
from tagloop.embed.backbones import DEFAULT_BACKBONE

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / ".bench"
RESULTS = BENCH_DIR / "check_eval.json"
SOURCE = REPO.parent / "shared" / "datasets" / "clothing-extra"
SEED = 0
SMALL_LABEL = "body"  # cut to SMALL_COUNT images; nothing is planted in it
SMALL_COUNT = 25
MOVE_FRACTION = 0.08
MOVES = (("polo", "blazer"), ("hoodie", "undershirt"))  # (from, into)
TOO_FEW = 50  # the issue's thresholds
IMBALANCE = 0.5
CHECK_TIMEOUT = 900.0
COPY_CODES = ("duplicate", "near_duplicate", "conflicting_labels")


@dataclass(frozen=True)
class Plan:
    """How many of each thing to plant."""

    train: dict[str, int]  # label -> original training photos
    test_per_label: int  # held-out photos per label in the test folder
    exact: int
    pixel: int
    resized: int
    conflict_exact: int
    conflict_reencoded: int
    leak: int
    unreadable: int = 3
    tiny: int = 2
    large: int = 1


FULL = Plan(
    train={"polo": 114, "blazer": 95, "hoodie": 75, "undershirt": 75, SMALL_LABEL: SMALL_COUNT},
    test_per_label=6,
    exact=10,
    pixel=10,
    resized=20,
    conflict_exact=3,
    conflict_reencoded=2,
    leak=10,
)
QUICK = Plan(
    train={"polo": 60, "blazer": 50, "hoodie": 50, "undershirt": 50, SMALL_LABEL: SMALL_COUNT},
    test_per_label=3,
    exact=5,
    pixel=5,
    resized=10,
    conflict_exact=2,
    conflict_reencoded=1,
    leak=5,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score `tagloop check` on planted problems.")
    parser.add_argument("--quick", action="store_true", help="about half the photos")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--keep", type=Path, help="build the planted data here and keep it")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the planting")
    parser.add_argument("--no-warm", action="store_true", help="skip the second (warm) run")
    args = parser.parse_args(argv)
    if not (SOURCE / "images").is_dir():
        raise SystemExit(f"real photos not found at {SOURCE / 'images'}")
    plan = QUICK if args.quick else FULL

    with tempfile.TemporaryDirectory(prefix="tagloop-check-eval-") as tmp:
        root = args.keep.resolve() if args.keep else Path(tmp) / "planted"
        if root.exists():
            if not (root / "truth.json").is_file():
                raise SystemExit(f"{root} exists and is not a planted dataset; pick another")
            shutil.rmtree(root)
        title(f"planting (seed {args.seed}) in {root}")
        truth = plant(root, plan, args.seed)
        (root / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        _show_plan(truth)

        cache = Path(tmp) / "cache"
        title("`tagloop check DATA --test TEST --json`, cold (empty cache)")
        doc, cold = run_check(truth["data"], truth["test"], cache)
        _row("cold run", f"{cold:.1f} s for {truth['n_files']} files")
        warm = None
        if not args.no_warm:
            _, warm = run_check(truth["data"], truth["test"], cache)
            _row("warm run (same cache)", f"{warm:.1f} s")
        (root / "check.json").write_text(json.dumps(doc, indent=2) + "\n")

    scores = evaluate(doc, truth)
    results: dict[str, Any] = {
        "environment": _environment(args.quick, args.seed),
        "command": f"tagloop check {truth['data']} --test {truth['test']} --json",
        "n_files": truth["n_files"],
        "n_images_reported": doc.get("n_images"),
        "n_test_images_reported": doc.get("n_test_images"),
        "labels_reported": doc.get("labels"),
        "cold_seconds": round(cold, 2),
        "warm_seconds": None if warm is None else round(warm, 2),
        "planted": _planted_counts(truth),
        "detectors": scores["detectors"],
        "acceptance": scores["acceptance"],
        "unplanted_reports": scores["unplanted"],
        "kept": str(root) if args.keep else None,
    }
    _summary(results)
    write_results(args.out, results)
    return 0


# --------------------------------------------------------------------------------------------
# Planting


@dataclass
class Planter:
    """Writes files under ``data``/``test`` and records the ground truth."""

    data: Path
    test: Path
    rng: np.random.Generator
    truth: dict[str, Any] = field(default_factory=dict)

    def name(self, suffix: str = ".jpg") -> str:
        return f"{uuid.UUID(bytes=self.rng.bytes(16), version=4)}{suffix}"

    def put(self, folder: Path, label: str, data: bytes, suffix: str = ".jpg") -> str:
        (folder / label).mkdir(parents=True, exist_ok=True)
        path = folder / label / self.name(suffix)
        path.write_bytes(data)
        return str(path)

    def quality(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))


def plant(root: Path, plan: Plan, seed: int) -> dict[str, Any]:
    """Build ``root/data`` and ``root/test``; return the ground truth (absolute paths)."""
    rng = np.random.default_rng(seed)
    pools = _pools(rng)
    for label, n in plan.train.items():
        need = n + plan.test_per_label
        if len(pools[label]) < need:
            raise SystemExit(f"{label}: {len(pools[label])} photos, {need} needed")
    p = Planter(root / "data", root / "test", rng)
    originals: dict[str, list[str]] = {}  # label -> training originals (paths under data)
    for label, n in plan.train.items():
        originals[label] = [p.put(p.data, label, src.read_bytes()) for src in pools[label][:n]]
    test_fresh = [
        p.put(p.test, label, src.read_bytes())
        for label in plan.train
        for src in pools[label][plan.train[label] : plan.train[label] + plan.test_per_label]
    ]
    spare = [
        src
        for label in plan.train
        for src in pools[label][plan.train[label] + plan.test_per_label :]
    ]

    # Each plant takes its own originals, never from the small label (its count must stay).
    free = {label: list(paths) for label, paths in originals.items() if label != SMALL_LABEL}
    plantable = sorted(free)

    def take(label: str | None = None) -> tuple[str, str]:
        label = label or plantable[int(rng.integers(len(plantable)))]
        paths = free[label]
        return label, paths.pop(int(rng.integers(len(paths))))

    families: list[dict[str, Any]] = []

    def family(kind: str, variant: str, original: str, copy: str, **extra: Any) -> None:
        families.append(
            {"kind": kind, "variant": variant, "original": original, "copy": copy, **extra}
        )

    mislabeled = []
    for source_label, into in MOVES:
        for _ in range(round(MOVE_FRACTION * plan.train[source_label])):
            _, path = take(source_label)
            moved = p.data / into / Path(path).name
            Path(path).rename(moved)
            originals[source_label].remove(path)
            mislabeled.append({"path": str(moved), "label": into, "true_label": source_label})

    for _ in range(plan.exact):
        label, path = take()
        family("exact", "byte copy", path, p.put(p.data, label, Path(path).read_bytes()))
    for _ in range(plan.pixel):
        label, path = take()
        family("pixel", "decoded, saved as PNG", path, p.put(p.data, label, _png(path), ".png"))
    for _ in range(plan.resized):
        label, path = take()
        scale, q = float(rng.uniform(0.6, 0.8)), p.quality(70, 85)
        copy = p.put(p.data, label, _resized(path, scale, q))
        family("resized", f"{scale:.0%} size, JPEG q{q}", path, copy)
    for i in range(plan.conflict_exact + plan.conflict_reencoded):
        label, path = take()
        other = [x for x in plantable if x != label][int(rng.integers(len(plantable) - 1))]
        if i < plan.conflict_exact:
            data, variant = Path(path).read_bytes(), "byte copy"
        else:
            q = p.quality(80, 90)
            data, variant = _resized(path, 1.0, q), f"re-encoded JPEG q{q}"
        family("conflict", variant, path, p.put(p.data, other, data), labels=[label, other])
    for _ in range(plan.leak):
        label, path = take()
        q = p.quality(75, 90)
        family("leak", f"re-encoded JPEG q{q}", path, p.put(p.test, label, _resized(path, 1.0, q)))

    bad_labels = list(plantable)
    unreadable = [
        p.put(p.data, bad_labels[i % len(bad_labels)], rng.bytes(int(rng.integers(2000, 20000))))
        for i in range(plan.unreadable)
    ]
    tiny = [
        p.put(p.data, bad_labels[(i + 1) % len(bad_labels)], _fit(spare.pop(), (20, 20), 90))
        for i in range(plan.tiny)
    ]
    large = [
        p.put(p.data, bad_labels[(i + 2) % len(bad_labels)], _fit(spare.pop(), (2500, 2000), 85))
        for i in range(plan.large)
    ]

    counts = {label: len(list((p.data / label).iterdir())) for label in plan.train}
    for path in unreadable:
        counts[Path(path).parent.name] -= 1
    n_files = sum(1 for f in root.rglob("*") if f.is_file())
    return {
        "seed": seed,
        "data": str(p.data),
        "test": str(p.test),
        "n_files": n_files,
        "train_counts": counts,  # readable images per label folder
        "test_fresh": test_fresh,
        "families": families,
        "mislabeled": mislabeled,
        "unreadable": unreadable,
        "too_small": tiny,
        "too_large": large,
        "expected_too_few": sorted(label for label, n in counts.items() if n < TOO_FEW),
        "expected_imbalance": min(counts.values()) / max(counts.values()) < IMBALANCE,
    }


def _pools(rng: np.random.Generator) -> dict[str, list[Path]]:
    """Each label's photos (per metadata.csv and on disk), shuffled with ``rng``."""
    by_label: dict[str, list[Path]] = {}
    with open(SOURCE / "metadata.csv", newline="") as f:
        for row in csv.DictReader(f):
            path = SOURCE / row["path"]
            if path.is_file() and path.parent.name == row["label"]:
                by_label.setdefault(row["label"], []).append(path)
    out = {}
    for label in sorted(by_label):
        paths = sorted(by_label[label])
        out[label] = [paths[i] for i in rng.permutation(len(paths))]
    return out


def _open(path: str | Path) -> Image.Image:
    with Image.open(path) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


def _encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png(path: str) -> bytes:
    return _encode(_open(path), "PNG")


def _resized(path: str, scale: float, quality: int) -> bytes:
    img = _open(path)
    if scale != 1.0:
        size = (round(img.width * scale), round(img.height * scale))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return _encode(img, "JPEG", quality=quality)


def _fit(path: Path, size: tuple[int, int], quality: int) -> bytes:
    img = ImageOps.fit(_open(path), size, Image.Resampling.LANCZOS)
    return _encode(img, "JPEG", quality=quality)


# --------------------------------------------------------------------------------------------
# Running the check


def run_check(data: str, test: str, cache: Path) -> tuple[dict[str, Any], float]:
    """``tagloop check DATA --test TEST --json`` in a fresh process; (document, seconds)."""
    env = {**os.environ, "TAGLOOP_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "tagloop.shells.cli_main"]
    command += ["check", data, "--test", test, "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=CHECK_TIMEOUT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"`tagloop check` exited with {done.returncode} after {seconds:.1f} s\n"
            f"stderr (tail):\n{done.stderr[-4000:]}\nstdout (tail):\n{done.stdout[-2000:]}"
        )
    try:
        return json.loads(done.stdout), seconds
    except json.JSONDecodeError as exc:
        raise SystemExit(
            f"`tagloop check --json` printed no JSON ({exc}):\n{done.stdout[:2000]}"
        ) from None


# --------------------------------------------------------------------------------------------
# Scoring


def _norm(path: str) -> str:
    return os.path.normpath(path)


def _item_path(item: Any) -> str:
    return _norm(item["path"] if isinstance(item, dict) else str(item))


def findings_of(doc: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in doc.get("findings", []) if f.get("code") == code]


def reported_groups(doc: dict[str, Any], code: str) -> list[frozenset[str]]:
    return [
        frozenset(_norm(p) for p in group)
        for f in findings_of(doc, code)
        for group in f.get("groups", [])
    ]


def reported_items(doc: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """Items of ``code`` as dicts with a normalized ``path``."""
    out = []
    for f in findings_of(doc, code):
        for item in f.get("items", []):
            entry = dict(item) if isinstance(item, dict) else {}
            entry["path"] = _item_path(item)
            out.append(entry)
    return out


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _family_found(fam: dict[str, Any], groups: Iterable[frozenset[str]]) -> bool:
    pair = {_norm(fam["original"]), _norm(fam["copy"])}
    return any(pair <= group for group in groups)


def evaluate(doc: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    families = truth["families"]
    family_sets = [frozenset({_norm(f["original"]), _norm(f["copy"])}) for f in families]
    groups = {code: reported_groups(doc, code) for code in COPY_CODES}
    any_groups = [g for code in COPY_CODES for g in groups[code]]
    detectors: dict[str, Any] = {}
    unplanted: dict[str, Any] = {}

    def group_detector(code: str, kinds: Sequence[str]) -> None:
        planted = [f for f in families if f["kind"] in kinds]
        missed = [f for f in planted if not _family_found(f, groups[code])]
        true_groups = [g for g in groups[code] if g in family_sets]
        detectors[code] = {
            "planted": len(planted),
            "found": len(planted) - len(missed),
            "recall": _ratio(len(planted) - len(missed), len(planted)),
            "reported": len(groups[code]),
            "reported_planted": len(true_groups),
            "precision": _ratio(len(true_groups), len(groups[code])),
            "unit": "groups",
            "missed": missed,
        }
        unplanted[code] = [sorted(g) for g in groups[code] if g not in family_sets]

    group_detector("duplicate", ("exact", "pixel"))
    group_detector("near_duplicate", ("resized",))
    group_detector("conflicting_labels", ("conflict",))

    def item_detector(code: str, planted_paths: Sequence[str], **extra: Any) -> list[Any]:
        planted = {_norm(p) for p in planted_paths}
        items = reported_items(doc, code)
        paths = {i["path"] for i in items}
        hits = [i for i in items if i["path"] in planted]
        detectors[code] = {
            "planted": len(planted),
            "found": len(planted & paths),
            "recall": _ratio(len(planted & paths), len(planted)),
            "reported": len(items),
            "reported_planted": len(hits),
            "precision": _ratio(len(hits), len(items)),
            "unit": "items",
            "missed": sorted(planted - paths),
            **extra,
        }
        unplanted[code] = [i for i in items if i["path"] not in planted]
        return hits

    leaks = [f for f in families if f["kind"] == "leak"]
    item_detector("leakage", [f["copy"] for f in leaks])
    detectors["leakage"]["missed"] = [f for f in leaks if _norm(f["copy"]) not in _leak_paths(doc)]

    mislabeled = {_norm(m["path"]): m for m in truth["mislabeled"]}
    hits = item_detector("label_issue", list(mislabeled))
    right = [h for h in hits if h.get("suggested_label") == mislabeled[h["path"]]["true_label"]]
    detectors["label_issue"]["suggested_true_label"] = len(right)
    detectors["label_issue"]["missed"] = [
        m for path, m in mislabeled.items() if path not in {h["path"] for h in hits}
    ]
    detectors["label_issue"]["unplanted_breakdown"] = _label_issue_breakdown(
        unplanted["label_issue"], truth
    )
    # A conflicting copy sits under a label its original does not have: flagging it is right.
    wrong_copies = {_norm(f["copy"]) for f in families if f["kind"] == "conflict"}
    n_copies = sum(i["path"] in wrong_copies for i in unplanted["label_issue"])
    detectors["label_issue"]["flagged_conflict_copies"] = n_copies
    detectors["label_issue"]["precision_with_conflict_copies"] = _ratio(
        len(hits) + n_copies, detectors["label_issue"]["reported"]
    )
    item_detector("unreadable", truth["unreadable"])
    item_detector("too_small", truth["too_small"])
    item_detector("too_large", truth["too_large"])
    outliers = reported_items(doc, "outlier")
    detectors["outlier"] = {
        "planted": 0,
        "reported": len(outliers),
        "unit": "items",
        "of_which": _label_issue_breakdown(outliers, truth),
    }
    unplanted["outlier"] = outliers

    detectors["too_few_images"] = _label_finding(doc, "too_few_images", truth)
    detectors["imbalance"] = {
        "expected": truth["expected_imbalance"],
        "reported": bool(findings_of(doc, "imbalance")),
        "severity": [f["severity"] for f in findings_of(doc, "imbalance")],
        "names_small_label": any(
            SMALL_LABEL in json.dumps(f) for f in findings_of(doc, "imbalance")
        ),
    }
    detectors["learning_curve"] = {
        "reported": bool(findings_of(doc, "learning_curve")),
        "severity": [f["severity"] for f in findings_of(doc, "learning_curve")],
    }
    other = sorted({f.get("code") for f in doc.get("findings", [])} - set(detectors))
    detectors["other_codes"] = other

    by_kind = {
        kind: sum(_family_found(f, any_groups) for f in families if f["kind"] == kind)
        for kind in ("exact", "pixel", "resized", "conflict")
    }
    n_kind = {kind: sum(f["kind"] == kind for f in families) for kind in by_kind}
    d = detectors
    acceptance = {
        "exact duplicates all found": _rule(
            d["duplicate"]["found"] == d["duplicate"]["planted"],
            f"{d['duplicate']['found']}/{d['duplicate']['planted']} as duplicate "
            f"(byte {_count_found(families, 'exact', groups['duplicate'])}/{n_kind['exact']}, "
            f"pixel {_count_found(families, 'pixel', groups['duplicate'])}/{n_kind['pixel']})",
        ),
        "resized + re-encoded copies >= 80% found": _rule(
            by_kind["resized"] >= 0.8 * n_kind["resized"],
            f"{by_kind['resized']}/{n_kind['resized']} in a duplicate or near_duplicate group "
            f"({d['near_duplicate']['found']} as near_duplicate)",
        ),
        "same image under two labels all found": _rule(
            d["conflicting_labels"]["found"] == d["conflicting_labels"]["planted"],
            f"{d['conflicting_labels']['found']}/{d['conflicting_labels']['planted']} "
            "as conflicting_labels",
        ),
        "re-encoded test copies all found as leakage": _rule(
            d["leakage"]["found"] == d["leakage"]["planted"],
            f"{d['leakage']['found']}/{d['leakage']['planted']}",
        ),
        "moved images >= 50% flagged as label_issue": _rule(
            (d["label_issue"]["recall"] or 0) >= 0.5,
            f"{d['label_issue']['found']}/{d['label_issue']['planted']}",
        ),
        "label_issue items >= 30% planted": _rule(
            (d["label_issue"]["precision"] or 0) >= 0.3,
            f"{d['label_issue']['reported_planted']}/{d['label_issue']['reported']}",
        ),
        f"{SMALL_COUNT}-image label is too_few_images": _rule(
            SMALL_LABEL in d["too_few_images"]["labels_named"],
            f"named: {d['too_few_images']['labels_named']}",
        ),
        "imbalance reported": _rule(
            d["imbalance"]["reported"] and d["imbalance"]["names_small_label"],
            f"reported {d['imbalance']['reported']}, names {SMALL_LABEL}: "
            f"{d['imbalance']['names_small_label']}",
        ),
        "random bytes are unreadable": _rule(
            d["unreadable"]["found"] == d["unreadable"]["planted"],
            f"{d['unreadable']['found']}/{d['unreadable']['planted']}",
        ),
        "20x20 images are too_small": _rule(
            d["too_small"]["found"] == d["too_small"]["planted"],
            f"{d['too_small']['found']}/{d['too_small']['planted']}",
        ),
    }
    return {"detectors": detectors, "acceptance": acceptance, "unplanted": unplanted}


def _count_found(families: list[dict[str, Any]], kind: str, groups: list[frozenset[str]]) -> int:
    return sum(_family_found(f, groups) for f in families if f["kind"] == kind)


def _leak_paths(doc: dict[str, Any]) -> set[str]:
    return {i["path"] for i in reported_items(doc, "leakage")}


def _rule(passed: bool, detail: str) -> dict[str, Any]:
    return {"pass": bool(passed), "detail": detail}


def _label_issue_breakdown(items: list[dict[str, Any]], truth: dict[str, Any]) -> dict[str, int]:
    """What reported items are: which plant, or an unplanted real photo."""
    kinds: dict[str, str] = {
        _norm(m["path"]): "moved (planted mislabel)" for m in truth["mislabeled"]
    }
    for f in truth["families"]:
        kinds.setdefault(_norm(f["copy"]), f"{f['kind']} copy")
        kinds.setdefault(_norm(f["original"]), f"original of a {f['kind']} copy")
    for key in ("too_small", "too_large"):
        for path in truth[key]:
            kinds[_norm(path)] = key
    out: dict[str, int] = {}
    for item in items:
        kind = kinds.get(item["path"], "unplanted photo")
        out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items()))


def _label_finding(doc: dict[str, Any], code: str, truth: dict[str, Any]) -> dict[str, Any]:
    """Which labels a per-label finding names (in items, a ``labels`` field or its message)."""
    named: set[str] = set()
    for f in findings_of(doc, code):
        for item in f.get("items", []):
            if isinstance(item, dict):
                named.update(str(item[k]) for k in ("label", "name") if k in item)
            else:
                named.add(str(item))
        extra = f.get("labels")
        if isinstance(extra, dict):
            named.update(extra)
        elif isinstance(extra, list):
            named.update(str(x) if not isinstance(x, dict) else str(x.get("label")) for x in extra)
        if not named:
            named.update(label for label in truth["train_counts"] if label in f.get("message", ""))
    counts = truth["train_counts"]
    return {
        "expected": truth["expected_too_few"],
        "labels_named": sorted(named & set(counts)),
        "severity": [f["severity"] for f in findings_of(doc, code)],
    }


# --------------------------------------------------------------------------------------------
# Output


def _planted_counts(truth: dict[str, Any]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for f in truth["families"]:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    return {
        "files": truth["n_files"],
        "train_counts": truth["train_counts"],
        "test_files": len(truth["test_fresh"]) + kinds.get("leak", 0),
        "copies": kinds,
        "mislabeled": len(truth["mislabeled"]),
        "unreadable": len(truth["unreadable"]),
        "too_small": len(truth["too_small"]),
        "too_large": len(truth["too_large"]),
    }


def _show_plan(truth: dict[str, Any]) -> None:
    planted = _planted_counts(truth)
    _row("files", f"{planted['files']} ({planted['test_files']} in the test folder)")
    _row("readable training images per label", json.dumps(truth["train_counts"]))
    _row("planted copies", json.dumps(planted["copies"]))
    moves = ", ".join(f"{a} -> {b}" for a, b in MOVES)
    _row("moved to a wrong label", f"{planted['mislabeled']} ({moves})")
    _row(
        "unreadable / too small / too large",
        f"{planted['unreadable']} / {planted['too_small']} / {planted['too_large']}",
    )


def _summary(results: dict[str, Any]) -> None:
    title("detectors (recall = planted found; precision = reported that are planted)")
    print(f"  {'code':<20} {'recall':>14} {'precision':>14}  notes")
    for code, d in results["detectors"].items():
        if "recall" in d:
            recall = f"{d['found']}/{d['planted']} {_pct(d['recall'])}"
            precision = f"{d['reported_planted']}/{d['reported']} {_pct(d['precision'])}"
            note = d["unit"]
            if code == "label_issue":
                note = (
                    f"items; {d['suggested_true_label']} with the true label suggested; "
                    f"precision {_pct(d['precision_with_conflict_copies'])} counting the "
                    f"{d['flagged_conflict_copies']} conflicting copies flagged"
                )
            print(f"  {code:<20} {recall:>14} {precision:>14}  {note}")
    d = results["detectors"]
    print(f"  {'outlier':<20} {'-':>14} {'-':>14}  {d['outlier']['reported']} items reported")
    tf = d["too_few_images"]
    print(
        f"  {'too_few_images':<20} {'':>14} {'':>14}  named {tf['labels_named']} {tf['severity']}"
    )
    print(f"  {'imbalance':<20} {'':>14} {'':>14}  reported {d['imbalance']['reported']}")
    print(f"  {'learning_curve':<20} {'':>14} {'':>14}  reported {d['learning_curve']['reported']}")
    if d["label_issue"]["unplanted_breakdown"]:
        _row("label_issue items not planted", json.dumps(d["label_issue"]["unplanted_breakdown"]))
    if d["outlier"]["of_which"]:
        _row("outlier items", json.dumps(d["outlier"]["of_which"]))

    title("acceptance (the issue's rules)")
    for rule, verdict in results["acceptance"].items():
        print(f"  {'PASS' if verdict['pass'] else 'FAIL'}  {rule}: {verdict['detail']}")
    title("time")
    _row("files (all, incl. test and bad files)", str(results["n_files"]))
    _row(
        "n_images / n_test_images reported",
        f"{results['n_images_reported']} / {results['n_test_images_reported']}",
    )
    _row("cold run (empty cache, new process)", f"{results['cold_seconds']:.1f} s")
    if results["warm_seconds"] is not None:
        _row("warm run", f"{results['warm_seconds']:.1f} s")
    _row("CPUs", str(results["environment"]["cpu_count"]))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _environment(quick: bool, seed: int) -> dict[str, Any]:
    return {
        **environment(),
        "backbone": DEFAULT_BACKBONE,
        "source": str(SOURCE),
        "quick": quick,
        "seed": seed,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _row(label: str, value: str) -> None:
    show(label, value, width=44)


if __name__ == "__main__":
    sys.exit(main())
