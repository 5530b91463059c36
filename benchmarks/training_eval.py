"""Model quality and cost: the plain script, quick training before and after, advanced training.

On the CC0 sample photos (../shared/datasets/clothing-extra; the 7 real garment labels, not the
catch-alls), each configuration runs as `tagloop train --json` in its own process, so wall time
and peak memory (the child's max RSS) are its own:

- grouped CV: all photos of the 7 labels, 5 folds grouped by ``sender_id`` (the out-of-fold
  report `tagloop train` prints);
- shifted: train on ``kids == False``, test on ``kids == True`` (labels with 5+ training photos).

"quick before" is quick training on the backbone that was the default before issue 11
(EfficientNet-Lite0 at 256 px); "quick after" is today's default. Each runs cold (an empty cache:
backbone export and every embedding) and warm (everything cached). Advanced training runs warm,
at each budget. The plain-script baseline is what a competent user writes instead: Lite0 pooled
features (tagloop's cached ones) + scikit-learn LogisticRegression(C=0.3) on standardized
features, on the same grouped folds and the same shifted split.

    .venv/bin/python benchmarks/training_eval.py                    # budgets 2m, 5m, 10m
    .venv/bin/python benchmarks/training_eval.py --budgets 2m       # one budget
    .venv/bin/python benchmarks/training_eval.py --budgets none     # quick training only
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from report import REPO, environment, show, title, write_results
from tagloop.embed.backbones import DEFAULT_BACKBONE

SOURCE = REPO.parent / "shared" / "datasets" / "clothing-extra"
CATCH_ALLS = {"not-sure", "other", "skip"}
RESULTS = REPO / ".bench" / "training_eval.json"
BEFORE_BACKBONE = "efficientnet-lite0"  # the default before issue 11
# Issue 11's targets, in points of accuracy over quick-before.
TARGETS = {"quick_after_cv": 1.5, "advanced_10m_cv": 4.0, "advanced_10m_shifted": 6.0}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budgets", default="2m,5m,10m", help="advanced budgets, comma-separated, or none"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (SOURCE / "metadata.csv").is_file():
        print(f"the sample photos are missing: {SOURCE}", file=sys.stderr)
        return 1
    budgets = [] if args.budgets == "none" else args.budgets.split(",")
    results: dict[str, Any] = {"environment": environment(), "runs": {}}
    runs = results["runs"]
    with tempfile.TemporaryDirectory(prefix="tagloop-train-eval-") as tmp:
        root = Path(tmp)
        full, train, test = _manifests(root)
        for key, backbone in (("quick_before", BEFORE_BACKBONE), ("quick_after", DEFAULT_BACKBONE)):
            title(f"{key.replace('_', ' ')}: quick training on {backbone}")
            cache = root / f"cache-{key}"
            extra = ["--backbone", backbone]
            runs[key] = {
                "backbone": backbone,
                "cold": _run(full, cache, extra, "grouped CV, cold (empty cache, backbone export)"),
                "warm": _run(full, cache, extra, "grouped CV, warm"),
                "shifted": _run(train, cache, [*extra, "--test", str(test)], "shifted"),
            }
        title("plain script: Lite0 features + LogisticRegression(C=0.3)")
        runs["plain_script"] = _plain_script(full, train, test, root / "cache-quick_before")
        for budget in budgets:
            title(f"advanced on {DEFAULT_BACKBONE}, budget {budget}")
            extra = ["--advanced", "--budget", budget]
            cache = root / "cache-quick_after"
            runs[f"advanced_{budget}"] = {
                "cv": _run(full, cache, extra, "grouped CV"),
                "shifted": _run(train, cache, [*extra, "--test", str(test)], "shifted"),
            }
    results["targets"] = _summary(runs)
    write_results(args.out, results)
    return 0


def _manifests(root: Path) -> tuple[Path, Path, Path]:
    with (SOURCE / "metadata.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] not in CATCH_ALLS]
    for r in rows:
        r["path"] = str(SOURCE / r["path"])
    train_rows = [r for r in rows if r["kids"] != "True"]
    counts = Counter(r["label"] for r in train_rows)
    train_rows = [r for r in train_rows if counts[r["label"]] >= 5]
    test_rows = [r for r in rows if r["kids"] == "True" and counts[r["label"]] >= 5]
    paths = []
    for name, chosen in (("full", rows), ("train", train_rows), ("test", test_rows)):
        path = root / f"{name}.csv"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["path", "label", "sender_id", "kids"])
            writer.writeheader()
            writer.writerows(chosen)
        paths.append(path)
        show(f"{name} photos", str(len(chosen)))
    return paths[0], paths[1], paths[2]


def _run(data: Path, cache: Path, extra: list[str], what: str) -> dict[str, Any]:
    out = data.parent / "model"
    command = [
        str(REPO / ".venv" / "bin" / "tagloop"),
        "-q",
        "train",
        str(data),
        "--group-by",
        "sender_id",
        "--out",
        str(out),
        "--json",
        *extra,
    ]
    env = {**os.environ, "TAGLOOP_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stdout_file, tempfile.TemporaryFile() as stderr_file:
        proc = subprocess.Popen(command, stdout=stdout_file, stderr=stderr_file, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak memory
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        stdout_file.seek(0)
        stderr_file.seek(0)
        stdout, stderr = stdout_file.read(), stderr_file.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr.decode()[-2000:]}")
    doc = json.loads(stdout)
    meta = json.loads((out / "model.json").read_text())
    advanced = doc.get("advanced") or {}
    result = {
        "wall_seconds": round(seconds, 1),
        "peak_rss_mb": _peak_rss_mb(usage),
        "training_type": doc["training_type"],
        "cv_accuracy": doc["evaluation"]["accuracy"],
        "cv_macro_f1": doc["evaluation"]["macro_f1"],
        "test_accuracy": doc["test"]["accuracy"] if doc.get("test") else None,
        "test_macro_f1": doc["test"]["macro_f1"] if doc.get("test") else None,
        "view_cache_bytes": (advanced.get("view_cache") or {}).get("bytes"),
        "fallback": advanced.get("fallback"),
        "plan": advanced.get("plan"),
        "best_epochs": [m["best_epoch"] for m in advanced.get("models", [])],
        "export_max_abs_diff": meta["export_check"]["max_abs_diff"],
    }
    shown = f"CV acc {result['cv_accuracy']:.3f} / macro-F1 {result['cv_macro_f1']:.3f}"
    if result["test_accuracy"] is not None:
        shown = f"test acc {result['test_accuracy']:.3f} / macro-F1 {result['test_macro_f1']:.3f}"
    cache_mb = (result["view_cache_bytes"] or 0) / 1e6
    show(
        what,
        f"{shown}; {seconds:.0f} s; peak {result['peak_rss_mb']} MB"
        + (f"; view cache {cache_mb:.0f} MB" if cache_mb else "")
        + (f"; kept quick: {result['fallback']}" if result["fallback"] else ""),
    )
    return result


def _peak_rss_mb(usage: Any) -> float:
    return float(round(usage.ru_maxrss / 1024))  # Linux: KiB


def _plain_script(full: Path, train: Path, test: Path, cache: Path) -> dict[str, Any]:
    """LogisticRegression on standardized Lite0 features, on tagloop's folds and split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tagloop.config import load_settings
    from tagloop.ingest.sources import build_source
    from tagloop.pipeline import embed, open_backbone, open_cache

    settings = load_settings(cache_dir=cache)
    backbone = open_backbone(settings, "efficientnet-lite0")

    def features(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        store = open_cache(settings)
        try:
            data = embed(settings, [i for i in build_source(path) if i.labels], backbone, store)
        finally:
            store.close()
        labels = np.array([i.labels[0] for i in data.items])
        groups = np.array([i.metadata["sender_id"] for i in data.items])
        return data.features, labels, groups

    def model() -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))

    X, y, groups = features(full)  # noqa: N806
    predicted = np.empty_like(y)
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0).split(X, y, groups)
    for fit, held in folds:
        predicted[held] = model().fit(X[fit], y[fit]).predict(X[held])
    from sklearn.metrics import accuracy_score, f1_score

    X_train, y_train, _ = features(train)  # noqa: N806
    X_test, y_test, _ = features(test)  # noqa: N806
    shifted = model().fit(X_train, y_train).predict(X_test)
    out = {
        "cv_accuracy": float(accuracy_score(y, predicted)),
        "cv_macro_f1": float(f1_score(y, predicted, average="macro")),
        "test_accuracy": float(accuracy_score(y_test, shifted)),
        "test_macro_f1": float(f1_score(y_test, shifted, average="macro")),
    }
    show("grouped CV", f"acc {out['cv_accuracy']:.3f} / macro-F1 {out['cv_macro_f1']:.3f}")
    show("shifted", f"acc {out['test_accuracy']:.3f} / macro-F1 {out['test_macro_f1']:.3f}")
    return out


def _summary(runs: dict[str, Any]) -> dict[str, Any]:
    """Each configuration against quick-before and the plain script; issue 11's targets."""
    title("summary (accuracy points against quick-before / the plain script; + is better)")
    before, plain = runs["quick_before"], runs["plain_script"]
    rows = [(k, runs[k]["warm"], runs[k]["shifted"]) for k in ("quick_before", "quick_after")]
    rows += [(k, v["cv"], v["shifted"]) for k, v in runs.items() if k.startswith("advanced")]
    gains: dict[str, tuple[float, float]] = {}
    for name, cv, shifted in rows:
        cv_gain = 100 * (cv["cv_accuracy"] - before["warm"]["cv_accuracy"])
        shifted_gain = 100 * (shifted["test_accuracy"] - before["shifted"]["test_accuracy"])
        gains[name] = (cv_gain, shifted_gain)
        show(
            name,
            f"CV acc {cv['cv_accuracy']:.3f} ({cv_gain:+.1f} / "
            f"{100 * (cv['cv_accuracy'] - plain['cv_accuracy']):+.1f}), macro-F1 "
            f"{cv['cv_macro_f1']:.3f} ({100 * (cv['cv_macro_f1'] - plain['cv_macro_f1']):+.1f}"
            f" vs plain); shifted acc {shifted['test_accuracy']:.3f} ({shifted_gain:+.1f} / "
            f"{100 * (shifted['test_accuracy'] - plain['test_accuracy']):+.1f}); "
            f"{cv['wall_seconds']:.0f} s",
        )
    cold_ratio = runs["quick_after"]["cold"]["wall_seconds"] / before["cold"]["wall_seconds"]
    warm_ratio = runs["quick_after"]["warm"]["wall_seconds"] / before["warm"]["wall_seconds"]
    show("quick after / before, wall time", f"cold {cold_ratio:.2f}x, warm {warm_ratio:.2f}x")
    checks = {"quick_after_cv": gains["quick_after"][0], "cold_ratio": cold_ratio}
    if "advanced_10m" in gains:
        checks["advanced_10m_cv"], checks["advanced_10m_shifted"] = gains["advanced_10m"]
    title("issue 11's targets")
    for key, target in TARGETS.items():
        if key in checks:
            verdict = "met" if checks[key] >= target else "NOT met"
            show(key, f"{checks[key]:+.1f} points (target +{target:.1f}): {verdict}")
    show(
        "cold_ratio",
        f"{cold_ratio:.2f}x (target at most 1.5x): " + ("met" if cold_ratio <= 1.5 else "NOT met"),
    )
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
