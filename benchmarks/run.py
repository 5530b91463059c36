"""tagloop benchmarks: backbone export, embedding throughput, cold/warm training, prediction.

Runs on a generated dataset (see ``make_dataset.py``, reused between runs) with a fresh,
temporary cache, so "cold" includes everything a first run on a new machine does. Prints the
figures and writes them to ``.bench/results.json``.

    .venv/bin/python benchmarks/run.py            # 3,000 images (make bench)
    .venv/bin/python benchmarks/run.py --quick    # 600 images, fewer repeats
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from make_dataset import make_dataset
from report import environment, show, title, write_results
from tagloop.config import Settings, load_settings
from tagloop.embed.backbones import DEFAULT_BACKBONE, create_backbone
from tagloop.embed.service import embed_items
from tagloop.project import Project
from tagloop.store.cache import EmbeddingCache
from tagloop.train.service import TrainSpec
from tagloop.types import EvalReport, ImageItem

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / ".bench"
RESULTS = BENCH_DIR / "results.json"
T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark tagloop on a generated dataset.")
    parser.add_argument("--quick", action="store_true", help="600 images and fewer repeats")
    parser.add_argument("--n", type=int, help="images in the dataset (default 3000, quick 600)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    n_images = args.n or (600 if args.quick else 3000)
    repeats = 3 if args.quick else 5
    results: dict[str, Any] = {"environment": _environment(args, n_images)}

    title(f"dataset: {n_images} images, seed {args.seed}")
    started = time.perf_counter()
    data = make_dataset(BENCH_DIR / f"data-n{n_images}-s{args.seed}", n_images, args.seed)
    train_dir, test_dir = data / "train", data / "test"
    train_files, test_files = _jpegs(train_dir), _jpegs(test_dir)
    results["dataset"] = {
        "path": str(data),
        "n_train": len(train_files),
        "n_test": len(test_files),
        "seconds_to_build_or_reuse": time.perf_counter() - started,
    }
    show("train / test images", f"{len(train_files)} / {len(test_files)}")
    show("build (0 if reused)", f"{results['dataset']['seconds_to_build_or_reuse']:.1f} s")

    with tempfile.TemporaryDirectory(prefix="tagloop-bench-") as tmp:
        cache_dir = Path(tmp) / "cache"
        settings = load_settings(cache_dir=cache_dir)
        threads = settings.resolved_threads()
        results["environment"]["threads"] = threads

        title(f"backbone {args.backbone} ({threads} threads)")
        results["backbone"] = _bench_backbone(args.backbone, cache_dir, threads, repeats)

        title("embedding (embed_items: read, hash, decode, embed, cache; fresh cache)")
        n_embed = min(len(train_files), 200 if args.quick else 500)
        results["embed_items"] = _bench_embed_items(
            _spread(train_files, n_embed), args.backbone, cache_dir, threads, settings
        )

        project = Project(settings)
        model_dir = Path(tmp) / "model"
        spec = TrainSpec(backbone=args.backbone)
        title("train, cold (empty embedding cache; backbone already exported)")
        print("  (accuracy here is not meaningful: copies of photos from a messy catch-all set)")
        results["train_cold"] = _bench_train(project, train_dir, test_dir, model_dir, spec)
        title("train, warm (same call again)")
        results["train_warm"] = _bench_train(project, train_dir, test_dir, model_dir, spec)

        title("predict (packaged model)")
        results["predict"] = _bench_predict(project, model_dir, test_files, cache_dir, args.quick)

    write_results(args.out, results)
    return 0


def _bench_backbone(name: str, cache_dir: Path, threads: int, repeats: int) -> dict[str, Any]:
    first, backbone = _timed(lambda: create_backbone(name, cache_dir=cache_dir, n_threads=threads))
    again, _ = _timed(lambda: create_backbone(name, cache_dir=cache_dir, n_threads=threads))
    size = backbone.spec.preprocess.image_size
    batch = np.random.default_rng(0).integers(0, 256, (32, size, size, 3), dtype=np.uint8)
    backbone.embed(batch)  # warm-up
    times = [_timed(lambda: backbone.embed(batch))[0] for _ in range(repeats)]
    out = {
        "first_use_seconds": first,  # export to ONNX + check + session
        "load_exported_seconds": again,
        "export_seconds": max(first - again, 0.0),
        "raw_batch": [32, size, size, 3],
        "raw_batch_seconds_median": float(np.median(times)),
        "raw_images_per_second": 32 / float(np.median(times)),
    }
    show("first use (ONNX export + check + load)", f"{first:.1f} s")
    show("load when already exported", f"{again:.2f} s")
    show(
        f"raw embed, batch of 32 x {size}px",
        f"{out['raw_images_per_second']:.1f} img/s "
        f"({out['raw_batch_seconds_median'] * 1000:.0f} ms per batch, median of {repeats})",
    )
    return out


def _bench_embed_items(
    files: list[Path], name: str, cache_dir: Path, threads: int, settings: Settings
) -> dict[str, Any]:
    backbone = create_backbone(name, cache_dir=cache_dir, n_threads=threads)
    cache = EmbeddingCache(cache_dir.parent / "throughput-embeddings.sqlite")
    items = [ImageItem(path=p, display_path=str(p), labels=(p.parent.name,)) for p in files]
    try:
        seconds, embedded = _timed(
            lambda: embed_items(
                items,
                backbone=backbone,
                cache=cache,
                max_pixels=settings.max_image_pixels,
                batch_size=settings.batch_size,
                n_threads=threads,
            )
        )
    finally:
        cache.close()
    out = {
        "n_images": len(files),
        "n_computed": embedded.n_computed,
        "seconds": seconds,
        "images_per_second": embedded.n_computed / seconds,
    }
    show(f"{len(files)} images", f"{seconds:.1f} s, {out['images_per_second']:.1f} img/s")
    return out


def _bench_train(
    project: Project, train_dir: Path, test_dir: Path, model_dir: Path, spec: TrainSpec
) -> dict[str, Any]:
    seconds, result = _timed(
        lambda: project.train(train_dir, test=test_dir, out_dir=model_dir, spec=spec)
    )
    out = {
        "seconds": seconds,
        "reported_seconds": result.seconds,
        "n_images": result.n_images,
        "n_embedded": result.n_embedded,
        "cv": _scores(result.evaluation),
        "test": _scores(result.test) if result.test else None,
    }
    show(
        "wall time",
        f"{seconds:.1f} s ({result.n_images} images, "
        f"{result.n_embedded} embedded this run, rest from cache)",
    )
    show("cross-validation accuracy / macro-F1", _pair(result.evaluation))
    if result.test:
        show(
            f"held-out test ({result.test.n_images} images) accuracy / macro-F1", _pair(result.test)
        )
    return out


def _bench_predict(
    project: Project, model_dir: Path, files: list[Path], cache_dir: Path, quick: bool
) -> dict[str, Any]:
    load_seconds, predictor = _timed(lambda: project.load_predictor(model_dir))
    show("load predictor", f"{load_seconds * 1000:.0f} ms")
    n_calls = 20 if quick else 50
    singles = [files[i % len(files)] for i in range(n_calls)]
    for path in singles[:3]:
        predictor.predict_files([path], top_k=3)  # warm-up
    latencies = [_timed(lambda p=p: predictor.predict_files([p], top_k=3))[0] for p in singles]
    p50, p95 = (float(np.percentile(latencies, q)) * 1000 for q in (50, 95))
    show(f"one image, predict_files (warm, {n_calls} calls)", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")

    batch = [files[i % len(files)] for i in range(64)]
    predictor.predict_files(batch, top_k=3)  # warm-up
    batch_times = [_timed(lambda: predictor.predict_files(batch, top_k=3))[0] for _ in range(3)]
    batch_seconds = float(np.median(batch_times))
    show(
        "64 images, predict_files",
        f"{batch_seconds:.2f} s, {64 / batch_seconds:.1f} img/s (median of 3)",
    )

    cli = _bench_cli(model_dir, files[0], cache_dir, runs=2 if quick else 3)
    return {
        "load_seconds": load_seconds,
        "single_calls": n_calls,
        "single_p50_ms": p50,
        "single_p95_ms": p95,
        "batch_size": 64,
        "batch_seconds_median": batch_seconds,
        "batch_images_per_second": 64 / batch_seconds,
        "cli": cli,
    }


def _bench_cli(model_dir: Path, image: Path, cache_dir: Path, runs: int) -> dict[str, Any]:
    """``tagloop predict MODEL IMAGE`` in a new process: start-up, imports, load, one image."""
    exe = shutil.which("tagloop", path=str(Path(sys.executable).parent)) or "tagloop"
    env = {**os.environ, "TAGLOOP_CACHE_DIR": str(cache_dir)}
    command = [exe, "-q", "predict", str(model_dir), str(image), "--top", "1"]
    times = []
    for _ in range(runs):
        seconds, done = _timed(
            lambda: subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
        times.append(seconds)
    out = {"runs": runs, "seconds": times, "seconds_median": float(np.median(times))}
    show(
        f"CLI `tagloop predict` one image ({runs} runs)",
        f"median {out['seconds_median']:.2f} s (" + ", ".join(f"{t:.2f}" for t in times) + ")",
    )
    return out


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _jpegs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.jpg"))


def _spread(files: list[Path], n: int) -> list[Path]:
    """``n`` files taken evenly from the (label-sorted) list, so every label is represented."""
    picks = np.linspace(0, len(files) - 1, n).astype(int)
    return [files[i] for i in picks]


def _scores(report: EvalReport) -> dict[str, Any]:
    return {"n_images": report.n_images, "accuracy": report.accuracy, "macro_f1": report.macro_f1}


def _pair(report: EvalReport) -> str:
    return f"{report.accuracy:.3f} / {report.macro_f1:.3f}"


def _environment(args: argparse.Namespace, n_images: int) -> dict[str, Any]:
    return {
        **environment(),
        "backbone": args.backbone,
        "n_images": n_images,
        "seed": args.seed,
        "quick": args.quick,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


if __name__ == "__main__":
    sys.exit(main())
