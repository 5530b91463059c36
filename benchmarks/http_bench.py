"""HTTP prediction benchmark: `tagloop serve` answering Custom Vision ``classify`` calls.

Starts a real `tagloop serve` process on a temporary data dir, builds a project on the default
backbone (EfficientNet-Lite0, the General domain) through the Custom Vision training routes
(3 tags x 10 images, train, publish), then measures

* single-image latency of ``POST .../classify/iterations/{name}/image/nostore`` from one
  sequential keep-alive client (p50 / p90 / p99),
* throughput and latency with 8 and with 16 concurrent clients (threads, each with its own
  keep-alive connection) over a fixed duration,
* the stored route ``.../image`` sequentially (it also writes the image and a prediction row).

Custom Vision allows 10-20 prediction calls per second per resource; this shows how far one
tagloop process goes. Clients and server share the machine's CPUs, so the figures are a floor.
Prints a table and writes ``.bench/http.json``.

    .venv/bin/python benchmarks/http_bench.py            # 200 sequential calls, 10 s per level
    .venv/bin/python benchmarks/http_bench.py --quick    # 50 sequential calls, 4 s per level
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageOps

from report import environment, expect_status, relative, show, title, write_results
from tagloop.embed.backbones import DEFAULT_BACKBONE

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / ".bench"
RESULTS = BENCH_DIR / "http.json"
PHOTOS = REPO.parent / "shared" / "datasets" / "clothing-extra" / "images"
LABELS = ("blazer", "polo", "body")
N_PER_LABEL = 10
IMAGE_SIZE = (640, 480)
T = "/customvision/v3.4-preview/training"
P = "/customvision/v3.1/prediction"
GENERAL_DOMAIN = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"  # Custom Vision "General": the default
PUBLISH_NAME = "benchModel"
RESOURCE_ID = "/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/accounts/z"
JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}
BOUNDARY = secrets.token_hex(16)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark prediction over HTTP.")
    parser.add_argument("--quick", action="store_true", help="fewer calls, shorter runs")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--port", type=int, help="port for the server (default: a free one)")
    args = parser.parse_args(argv)
    n_sequential = 50 if args.quick else 200
    n_stored = 20 if args.quick else 50
    duration = 4.0 if args.quick else 10.0
    results: dict[str, Any] = {"environment": _environment(args.quick)}

    with tempfile.TemporaryDirectory(prefix="tagloop-http-bench-") as tmp:
        title("server")
        server = Server.start(Path(tmp), args.port or _free_port())
        try:
            results["setup"] = _setup(server)
            image = results["setup"].pop("image")
            body = _multipart(image)
            url = f"{P}/{results['setup']['project_id']}/classify/iterations/{PUBLISH_NAME}/image"
            results["request"] = {
                "route": f"{P}/{{projectId}}/classify/iterations/{{publishName}}/image/nostore",
                "image": f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} JPEG",
                "image_bytes": len(image),
                "body_bytes": len(body),
            }

            title(f"sequential, one keep-alive client ({n_sequential} calls after 10 warm-up)")
            sequential = _sequential(server, url + "/nostore", body, n_sequential, warm_up=10)
            results["sequential_nostore"] = sequential
            _show_latency("nostore", sequential)

            results["concurrent_nostore"] = {}
            for clients in (8, 16):
                title(f"{clients} concurrent clients, {duration:.0f} s")
                run = _concurrent(server, url + "/nostore", body, clients, duration)
                results["concurrent_nostore"][str(clients)] = run
                _row("throughput", f"{run['requests_per_second']:.1f} requests/s")
                _show_latency("latency", run)

            title(f"stored route /image, sequential ({n_stored} calls after 3 warm-up)")
            stored = _sequential(server, url, body, n_stored, warm_up=3)
            results["sequential_stored"] = stored
            _show_latency("stored", stored)
        except BaseException:
            print(f"\nserver log (tail):\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            results["server_exit_code"] = server.stop()

    _summary(results)
    write_results(args.out, results)
    return 0


# --------------------------------------------------------------------------------------------
# The server process


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    endpoint: str
    log_path: Path
    training_key: str
    prediction_key: str
    start_seconds: float = 0.0

    @classmethod
    def start(cls, root: Path, port: int) -> Server:
        data_dir, log_path = root / "data", root / "server.log"
        training_key, prediction_key = secrets.token_hex(16), secrets.token_hex(16)
        env = {
            **os.environ,  # TAGLOOP_CACHE_DIR stays as it is: the exported backbone is reused
            "TAGLOOP_TRAINING_KEY": training_key,
            "TAGLOOP_PREDICTION_KEY": prediction_key,
            # The benchmark measures the server's capacity, not the per-key limits.
            "TAGLOOP_REQUESTS_PER_MINUTE_PER_KEY": "100000000",
            "TAGLOOP_MAX_CONCURRENT_REQUESTS_PER_KEY": "1000",
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            sys.executable,
            "-m",
            "tagloop.shells.cli_main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ]
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = cls(process, f"http://127.0.0.1:{port}", log_path, training_key, prediction_key)
        server._wait_healthy(timeout=120.0)
        server.start_seconds = time.perf_counter() - started
        _row("`tagloop serve` healthy after", f"{server.start_seconds:.1f} s ({server.endpoint})")
        return server

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SystemExit(
                        f"`tagloop serve` exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.endpoint}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"`tagloop serve` not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def client(self, role: str, timeout: float = 120.0) -> httpx.Client:
        key = self.training_key if role == "training" else self.prediction_key
        header = "Training-Key" if role == "training" else "Prediction-Key"
        return httpx.Client(
            base_url=self.endpoint,
            headers={header: key, "Accept": "application/json"},
            timeout=timeout,
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "<no server log>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Project setup through the Custom Vision training routes


def _setup(server: Server) -> dict[str, Any]:
    images, held_out, source = _training_images()
    title(f"project: {len(LABELS)} tags x {N_PER_LABEL} images ({source})")
    out: dict[str, Any] = {"server_start_seconds": server.start_seconds, "images_from": source}
    with server.client("training") as api:
        response = expect_status(
            api.post(f"{T}/projects", params={"name": "http-bench"}, headers=JSON_TYPE)
        )
        project = response.json()
        if project["settings"]["domainId"] != GENERAL_DOMAIN:
            raise SystemExit(f"the default domain is not General: {project['settings']}")
        pid = project["id"]
        tags = {
            label: expect_status(api.post(f"{T}/projects/{pid}/tags?name={label}")).json()["id"]
            for label in LABELS
        }
        entries = [
            {
                "name": f"{label}-{i}.jpg",
                "contents": base64.b64encode(data).decode("ascii"),
                "tagIds": [tags[label]],
            }
            for label in LABELS
            for i, data in enumerate(images[label])
        ]
        started = time.perf_counter()
        summary = expect_status(
            api.post(
                f"{T}/projects/{pid}/images/files",
                content=json.dumps({"images": entries}).encode(),
                headers=JSON_TYPE,
            )
        ).json()
        if not summary["isBatchSuccessful"]:
            raise SystemExit(f"upload failed: {[i['status'] for i in summary['images']]}")
        out["upload_seconds"] = time.perf_counter() - started
        _row(f"upload {len(entries)} images (images/files)", f"{out['upload_seconds']:.2f} s")

        started = time.perf_counter()
        iteration = expect_status(api.post(f"{T}/projects/{pid}/train", headers=JSON_TYPE)).json()
        while iteration["status"] == "Training":
            time.sleep(0.5)
            iteration = expect_status(
                api.get(f"{T}/projects/{pid}/iterations/{iteration['id']}")
            ).json()
            if time.perf_counter() - started > 900:
                raise SystemExit("training took more than 15 minutes")
        if iteration["status"] != "Completed":
            raise SystemExit(f"training ended {iteration['status']}: {iteration}")
        out["train_seconds"] = time.perf_counter() - started
        _row("train (Training -> Completed)", f"{out['train_seconds']:.1f} s")
        expect_status(
            api.post(
                f"{T}/projects/{pid}/iterations/{iteration['id']}/publish",
                params={"publishName": PUBLISH_NAME, "predictionId": RESOURCE_ID},
            )
        )
    out.update(project_id=pid, iteration_id=iteration["id"], image=held_out)
    return out


def _training_images() -> tuple[dict[str, list[bytes]], bytes, str]:
    """10 JPEGs per label and one held-out 640x480 JPEG to classify."""
    if all(len(list((PHOTOS / label).glob("*.jpg"))) > N_PER_LABEL for label in LABELS):
        files = {label: sorted((PHOTOS / label).glob("*.jpg")) for label in LABELS}
        images = {label: [p.read_bytes() for p in files[label][:N_PER_LABEL]] for label in LABELS}
        with Image.open(files[LABELS[0]][N_PER_LABEL]) as photo:
            held_out = ImageOps.fit(photo.convert("RGB"), IMAGE_SIZE, Image.Resampling.LANCZOS)
        return images, _jpeg(held_out), f"real photos from {relative(PHOTOS)}"
    rng = np.random.default_rng(0)
    colours = {"blazer": (40, 40, 60), "polo": (200, 60, 60), "body": (220, 220, 200)}

    def synthetic(colour: tuple[int, int, int]) -> Image.Image:
        pixels = np.array(colour, dtype=np.float32) + rng.normal(0, 30, (*IMAGE_SIZE[::-1], 3))
        y, x = rng.integers(0, IMAGE_SIZE[1] // 2), rng.integers(0, IMAGE_SIZE[0] // 2)
        pixels[y : y + IMAGE_SIZE[1] // 3, x : x + IMAGE_SIZE[0] // 3] *= 0.6
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    images = {
        label: [_jpeg(synthetic(colours[label])) for _ in range(N_PER_LABEL)] for label in LABELS
    }
    return images, _jpeg(synthetic(colours[LABELS[0]])), "generated 640x480 JPEGs"


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _multipart(image: bytes) -> bytes:
    """The body the SDK sends for classify_image: one ``imageData`` part, raw bytes."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="imageData"\r\n\r\n'
    return head.encode() + image + f"\r\n--{BOUNDARY}--\r\n".encode()


# --------------------------------------------------------------------------------------------
# Measurements


MULTIPART_TYPE = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _predict_once(client: httpx.Client, url: str, body: bytes) -> float:
    started = time.perf_counter()
    response = client.post(url, content=body, headers=MULTIPART_TYPE)
    seconds = time.perf_counter() - started
    if response.status_code != 200 or not response.json().get("predictions"):
        raise RuntimeError(f"prediction answered {response.status_code}: {response.text[:300]}")
    return seconds


def _sequential(server: Server, url: str, body: bytes, n: int, *, warm_up: int) -> dict[str, Any]:
    with server.client("prediction") as client:
        for _ in range(warm_up):
            _predict_once(client, url, body)
        started = time.perf_counter()
        latencies = [_predict_once(client, url, body) for _ in range(n)]
        elapsed = time.perf_counter() - started
    return {
        "n": n,
        "warm_up": warm_up,
        "seconds": elapsed,
        "requests_per_second": n / elapsed,
        **_percentiles(latencies),
    }


def _concurrent(
    server: Server, url: str, body: bytes, clients: int, duration: float
) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    ready = threading.Barrier(clients + 1)
    stop_at = [0.0]
    finished_at = [0.0] * clients

    def work(index: int) -> None:
        with server.client("prediction") as client:
            try:
                _predict_once(client, url, body)  # open the keep-alive connection
            except Exception as exc:  # reported below; the barrier must still be reached
                errors.append(repr(exc))
            ready.wait()
            mine = latencies[index]
            try:
                while time.perf_counter() < stop_at[0]:
                    mine.append(_predict_once(client, url, body))
            except Exception as exc:
                errors.append(repr(exc))
            finished_at[index] = time.perf_counter()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + 3600  # set for real once every client is connected
    ready.wait()
    started = time.perf_counter()
    stop_at[0] = started + duration
    for thread in threads:
        thread.join(duration + 120)
    if errors:
        raise SystemExit(f"{len(errors)} failed requests with {clients} clients: {errors[:3]}")
    elapsed = max(finished_at) - started
    every = [seconds for mine in latencies for seconds in mine]
    return {
        "clients": clients,
        "duration_seconds": elapsed,
        "requests": len(every),
        "requests_per_second": len(every) / elapsed,
        "per_client_requests": [len(mine) for mine in latencies],
        **_percentiles(every),
    }


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
    }


# --------------------------------------------------------------------------------------------
# Output


def _summary(results: dict[str, Any]) -> None:
    title("summary (client-side wall time per request, ms)")
    rows = [("sequential /image/nostore", results["sequential_nostore"])]
    rows += [
        (f"{n} clients /image/nostore", run) for n, run in results["concurrent_nostore"].items()
    ]
    rows.append(("sequential /image (stored)", results["sequential_stored"]))
    print(f"  {'':<30} {'req/s':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'n':>7}")
    for name, run in rows:
        n = run.get("requests", run.get("n"))
        print(
            f"  {name:<30} {run['requests_per_second']:>8.1f} {run['p50_ms']:>8.1f} "
            f"{run['p90_ms']:>8.1f} {run['p99_ms']:>8.1f} {n:>7}"
        )
    cpus = results["environment"]["cpu_count"]
    print(f"  (server and clients share {cpus} CPUs; Custom Vision allows 10-20 req/s)")


def _environment(quick: bool) -> dict[str, Any]:
    return {
        **environment(),
        "backbone": DEFAULT_BACKBONE,
        "domain_id": GENERAL_DOMAIN,
        "quick": quick,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _show_latency(label: str, run: dict[str, Any]) -> None:
    _row(
        label,
        f"p50 {run['p50_ms']:.1f} ms, p90 {run['p90_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms "
        f"({run.get('requests', run.get('n'))} calls, {run['requests_per_second']:.1f}/s)",
    )


def _row(label: str, value: str) -> None:
    show(label, value, width=44)


if __name__ == "__main__":
    sys.exit(main())
