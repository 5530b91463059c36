"""Web page benchmark: the training-images page and the predictions page of a large project.

Builds the real app in-process (``TestClient(create_app(settings))``, with its worker thread) on
a temporary data dir and a temporary cache, so nothing of the machine's own tagloop state is
used or changed. Through the native API it creates a project on the default backbone
(see ``tagloop backbones``) with 4 tags and 2,000 generated 96x96 JPEGs (400 per tag, 400 untagged,
uploaded 64 per request), trains it, and stores 200 predictions (``quicktest?store=true``).
It then logs in through ``POST /login`` (the cookie a browser gets) and times page loads:

* ``GET /projects/{pid}/images`` — all images page 1, a deep page (30), one tag, untagged;
* ``GET /projects/{pid}/predictions`` — the review queue (stored predictions and untagged
  images, scored by the latest trained iteration, ranked by how much a label would help);
* the predictions page again, first load after a restart: the app is shut down and built
  again on the same data dir; its new workspace starts with an empty score cache, as a new
  process does.

The worker scores the review candidates right after training and again at start; the
benchmark waits for that (and prints how long it took) before timing the predictions page.

Each page is timed cold (its first request) and warm (median and p90 of 20 more). The figure
is the in-process request time: from the client's call to the full response body, through
the ASGI app, with no socket and no ``Server-Timing`` header involved — the server's own time
plus the small overhead of TestClient (about a millisecond). The target is 300 ms per page.
Prints a table and writes ``.bench/web.json``.

    .venv/bin/python benchmarks/web_bench.py            # 2,000 images
    .venv/bin/python benchmarks/web_bench.py --quick    # 400 images, 10 warm repeats
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from report import environment, expect_status, show, title, write_results
from tagloop.config import Settings
from tagloop.embed.backbones import DEFAULT_BACKBONE
from tagloop.shells.server import create_app

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / ".bench"
RESULTS = BENCH_DIR / "web.json"
TARGET_MS = 300.0
N_TAGS = 4
UPLOAD_BATCH = 64
IMAGE_SIDE = 96
PAGE_SIZE = 60  # tagloop.shells.web.projects.PAGE_SIZE
QUEUE_SIZE = 48  # tagloop.shells.web.review.QUEUE_SIZE
DEEP_PAGE = 30
API = "/api/v1"
COLOURS = ((200, 50, 50), (50, 170, 60), (50, 70, 200), (210, 190, 60))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the web pages of a large project.")
    parser.add_argument("--quick", action="store_true", help="400 images, 10 warm repeats")
    parser.add_argument("--n", type=int, help="images in the project (default 2000, quick 400)")
    parser.add_argument("--repeats", type=int, help="warm requests per page (default 20)")
    parser.add_argument("--predictions", type=int, help="stored predictions (default n / 10)")
    parser.add_argument(
        "--cache-dir", type=Path, help="reuse this cache (exported backbone); default: a temp one"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    n_images = args.n or (400 if args.quick else 2000)
    repeats = args.repeats or (10 if args.quick else 20)
    n_predictions = args.predictions if args.predictions is not None else n_images // 10
    n_untagged = n_images // 5
    started = time.perf_counter()
    results: dict[str, Any] = {"environment": _environment(args.quick, n_images, repeats)}

    with tempfile.TemporaryDirectory(prefix="tagloop-web-bench-") as tmp:
        key = secrets.token_hex(16)
        settings = Settings(
            cache_dir=args.cache_dir or Path(tmp) / "cache",
            data_dir=Path(tmp) / "data",
            training_key=key,
            prediction_key=secrets.token_hex(16),
        )
        results["environment"]["threads"] = settings.resolved_threads()
        with _test_client(settings) as client:
            client.headers["Training-Key"] = key
            setup = _setup(client, n_images, n_untagged, n_predictions)
            results["setup"] = setup
            pid, tags = setup["project_id"], setup["tag_ids"]
            del client.headers["Training-Key"]  # the pages are read as a browser does
            _login(client, key)
            n_candidates = setup["n_untagged"] + setup["n_predictions"]
            waited = _wait_scored(client, setup["iteration_id"], n_candidates)
            setup["worker_scoring_wait_seconds"] = waited
            _row("wait for the worker's scoring after training", f"{waited:.1f} s")

            title(f"pages (cold: first request; warm: {repeats} more)")
            n_queue = min(QUEUE_SIZE, setup["n_untagged"] + setup["n_predictions"])
            pages = {  # name: (path, images the page shows)
                "images, all, page 1": (f"/projects/{pid}/images", _shown(n_images, 1)),
                f"images, all, page {DEEP_PAGE}": (
                    f"/projects/{pid}/images?page={DEEP_PAGE}",
                    _shown(n_images, DEEP_PAGE),
                ),
                "images, one tag": (
                    f"/projects/{pid}/images?tag={tags[0]}",
                    _shown(setup["n_tagged"] // N_TAGS, 1),
                ),
                "images, untagged": (
                    f"/projects/{pid}/images?tag=untagged",
                    _shown(setup["n_untagged"], 1),
                ),
                "predictions": (f"/projects/{pid}/predictions", n_queue),
            }
            measured = {
                name: _measure(client, name, path, thumbnails, repeats)
                for name, (path, thumbnails) in pages.items()
            }
            measured["predictions"]["note"] = (
                f"the worker scored the {setup['n_untagged']} untagged images right after "
                "training (the stored predictions were cached when they were made); the page "
                "only ranks"
            )

        title("restart: a new app on the same data dir (an empty score cache)")
        with _test_client(settings) as client:
            _login(client, key)
            waited = _wait_scored(client, setup["iteration_id"], n_candidates)
            results["setup"]["restart_scoring_wait_seconds"] = waited
            _row("wait for the worker's scoring at start", f"{waited:.1f} s")
            name = "predictions, after restart"
            measured[name] = _measure(
                client, name, f"/projects/{pid}/predictions", n_queue, repeats
            )
            measured[name]["note"] = (
                f"at start the worker scores all {setup['n_untagged']} untagged images and "
                f"{setup['n_predictions']} stored predictions again (waited for above); the "
                "first page load then only ranks"
            )

    results["pages"] = measured
    results["target_ms"] = TARGET_MS
    results["environment"]["load_average_at_end"] = list(os.getloadavg())
    results["total_seconds"] = time.perf_counter() - started
    _summary(results)
    write_results(args.out, results, f" (whole benchmark: {results['total_seconds']:.0f} s)")
    return 0


# --------------------------------------------------------------------------------------------
# Project setup through the native API


def _setup(
    client: TestClient, n_images: int, n_untagged: int, n_predictions: int
) -> dict[str, Any]:
    n_tagged = n_images - n_untagged
    per_tag = n_tagged // N_TAGS
    title(
        f"project: {N_TAGS} tags x {per_tag} images + {n_untagged} untagged, "
        f"{IMAGE_SIDE}x{IMAGE_SIDE} JPEGs"
    )
    out: dict[str, Any] = {}
    seconds, project = _timed(
        lambda: expect_status(
            client.post(f"{API}/projects", json={"name": "web-bench"}), 201
        ).json()
    )
    pid = project["id"]
    _row("create project", f"{seconds:.1f} s")
    tag_ids = [
        expect_status(
            client.post(f"{API}/projects/{pid}/tags", json={"name": f"tag-{k}"}), 201
        ).json()["id"]
        for k in range(N_TAGS)
    ]

    rng = np.random.default_rng(0)
    seconds, images = _timed(
        lambda: (
            [[_image(rng, k) for _ in range(per_tag)] for k in range(N_TAGS)],
            [_image(rng, int(rng.integers(N_TAGS))) for _ in range(n_images - per_tag * N_TAGS)],
            [_image(rng, int(rng.integers(N_TAGS))) for _ in range(n_predictions)],
        )
    )
    tagged, untagged, held_out = images
    every = [data for group in tagged for data in group] + untagged + held_out
    if len(set(every)) != len(every):
        raise SystemExit("generated images are not all distinct")
    _row(
        f"generate {len(every)} JPEGs",
        f"{seconds:.1f} s ({np.mean([len(d) for d in every]) / 1024:.1f} KiB each)",
    )

    started = time.perf_counter()
    n_sent = 0
    for batch, tag_id in [(group, tag_ids[k]) for k, group in enumerate(tagged)] + [
        (untagged, None)
    ]:
        for start in range(0, len(batch), UPLOAD_BATCH):
            chunk = batch[start : start + UPLOAD_BATCH]
            files = [
                ("file", (f"img-{n_sent + i}.jpg", data, "image/jpeg"))
                for i, data in enumerate(chunk)
            ]
            params = {"tag_ids": tag_id} if tag_id else {}
            answer = expect_status(
                client.post(f"{API}/projects/{pid}/images", params=params, files=files)
            )
            statuses = {item["status"] for item in answer.json()["images"]}
            if statuses != {"OK"}:
                raise SystemExit(f"upload answered statuses {statuses}")
            n_sent += len(chunk)
        _row(f"uploaded {n_sent} images", f"{time.perf_counter() - started:.1f} s so far")
    out["upload_seconds"] = time.perf_counter() - started
    counts = expect_status(client.get(f"{API}/projects/{pid}")).json()
    if (counts["n_images"], counts["n_untagged"]) != (n_sent, len(untagged)):
        raise SystemExit(f"the project counts {counts}, not {n_sent} images")

    started = time.perf_counter()
    iteration = expect_status(client.post(f"{API}/projects/{pid}/train"), 202).json()
    last = ""
    while iteration["status"] == "Training":
        time.sleep(1.0)
        iteration = expect_status(
            client.get(f"{API}/projects/{pid}/iterations/{iteration['id']}")
        ).json()
        progress = iteration.get("progress") or {}
        line = f"{progress.get('stage', '?')} {progress.get('done', 0)}/{progress.get('total', 0)}"
        if line != last:
            _row(f"training, {time.perf_counter() - started:5.0f} s", line)
            last = line
        if time.perf_counter() - started > 1800:
            raise SystemExit("training took more than 30 minutes")
    if iteration["status"] != "Completed":
        raise SystemExit(f"training ended {iteration['status']}: {iteration.get('error')}")
    out["train_seconds"] = time.perf_counter() - started
    _row("train (Training -> Completed)", f"{out['train_seconds']:.1f} s")

    started = time.perf_counter()
    for data in held_out:
        files = {"imageData": ("held-out.jpg", data, "image/jpeg")}
        expect_status(
            client.post(f"{API}/projects/{pid}/quicktest", params={"store": "true"}, files=files)
        )
    out["store_predictions_seconds"] = time.perf_counter() - started
    _row(
        f"store {len(held_out)} predictions (quicktest)",
        f"{out['store_predictions_seconds']:.1f} s",
    )

    out.update(
        project_id=pid,
        tag_ids=tag_ids,
        iteration_id=iteration["id"],
        n_images=n_images,
        n_tagged=per_tag * N_TAGS,
        n_untagged=len(untagged),
        n_predictions=len(held_out),
        image=f"{IMAGE_SIDE}x{IMAGE_SIDE} JPEG",
    )
    return out


def _image(rng: np.random.Generator, tag: int) -> bytes:
    """A noisy colour pattern: the tag's colour, stripes at a random angle and a dark square."""
    side = IMAGE_SIDE
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    angle, frequency = rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)
    stripes = np.sin((x * np.cos(angle) + y * np.sin(angle)) * frequency)[..., None]
    pixels = np.array(COLOURS[tag], np.float32) * (0.75 + 0.25 * stripes)
    pixels += rng.normal(0, 20, (side, side, 3))
    top, left = rng.integers(0, side // 2, 2)
    pixels[top : top + side // 3, left : left + side // 3] *= 0.5
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _wait_scored(client: TestClient, iteration_id: str, n: int, timeout: float = 600.0) -> float:
    """Seconds until the worker has scored ``n`` review candidates with the iteration."""
    scores = client.app.state.workspace.scores  # type: ignore[attr-defined]
    started = time.perf_counter()
    done = 0
    while time.perf_counter() - started < timeout:
        done = sum(1 for key in scores.keys() if key[0] == iteration_id)
        if done >= n:
            return time.perf_counter() - started
        time.sleep(0.1)
    raise SystemExit(f"the worker scored {done} of {n} review candidates in {timeout:.0f} s")


def _test_client(settings: Settings) -> TestClient:
    """The app in-process; entering the client runs its lifespan (workspace, worker thread)."""
    with warnings.catch_warnings():  # starlette's note that it would rather have httpx2
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    return TestClient(create_app(settings))


def _login(client: TestClient, key: str) -> None:
    answer = client.post("/login", data={"key": key, "next": "/"}, follow_redirects=False)
    if answer.status_code != 303 or "tagloop_key" not in client.cookies:
        raise SystemExit(f"POST /login answered {answer.status_code}: {answer.text[:300]}")


# --------------------------------------------------------------------------------------------
# Measurements


def _shown(total: int, page: int) -> int:
    """Images on ``page`` of a listing of ``total`` (a page past the end shows the last)."""
    n_pages = max(1, -(-total // PAGE_SIZE))
    return min(PAGE_SIZE, total - (min(page, n_pages) - 1) * PAGE_SIZE)


def _get_page(client: TestClient, path: str, thumbnails: int) -> float:
    started = time.perf_counter()
    response = client.get(path, follow_redirects=False)
    seconds = time.perf_counter() - started
    if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    shown = response.text.count("/thumbnail")
    if shown != thumbnails:
        raise SystemExit(f"GET {path} shows {shown} images, not {thumbnails}")
    return seconds


def _measure(
    client: TestClient, name: str, path: str, thumbnails: int, repeats: int
) -> dict[str, Any]:
    cold = _get_page(client, path, thumbnails) * 1000.0
    warm = np.asarray([_get_page(client, path, thumbnails) for _ in range(repeats)]) * 1000.0
    out: dict[str, Any] = {
        "path": path,
        "cold_ms": cold,
        "warm_p50_ms": float(np.percentile(warm, 50)),
        "warm_p90_ms": float(np.percentile(warm, 90)),
        "warm_max_ms": float(warm.max()),
        "warm_mean_ms": float(statistics.fmean(warm)),
        "repeats": repeats,
        "images_shown": thumbnails,
    }
    out["cold_ok"] = cold < TARGET_MS
    out["warm_ok"] = out["warm_p90_ms"] < TARGET_MS
    _row(
        name,
        f"cold {cold:.0f} ms, warm p50 {out['warm_p50_ms']:.1f} ms, "
        f"p90 {out['warm_p90_ms']:.1f} ms",
    )
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


# --------------------------------------------------------------------------------------------
# Output


def _summary(results: dict[str, Any]) -> None:
    setup = results["setup"]
    title(
        f"summary: in-process request time, ms ({setup['n_images']} images, "
        f"{setup['n_untagged']} untagged, {setup['n_predictions']} stored predictions; "
        f"target {TARGET_MS:.0f} ms)"
    )
    print(f"  {'page':<30} {'cold':>8} {'':<5} {'warm p50':>8} {'p90':>8} {'':<5}")
    for name, run in results["pages"].items():
        print(
            f"  {name:<30} {run['cold_ms']:>8.1f} {_mark(run['cold_ok']):<5} "
            f"{run['warm_p50_ms']:>8.1f} {run['warm_p90_ms']:>8.1f} {_mark(run['warm_ok']):<5}"
        )
    env = results["environment"]
    print(
        f"  (cold: the first request; warm: {env['repeats']} more, pass when p90 is under the "
        f"target; {env['cpu_count']} CPUs, 1-minute load {env['load_average_at_start'][0]:.1f} "
        f"at the start, {env['load_average_at_end'][0]:.1f} at the end)"
    )


def _mark(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _environment(quick: bool, n_images: int, repeats: int) -> dict[str, Any]:
    return {
        **environment(),
        "load_average_at_start": list(os.getloadavg()),
        "backbone": DEFAULT_BACKBONE,
        "n_images": n_images,
        "repeats": repeats,
        "quick": quick,
        "timing": "in-process request time (TestClient, no socket)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _row(label: str, value: str) -> None:
    show(label, value, width=46)


if __name__ == "__main__":
    sys.exit(main())
