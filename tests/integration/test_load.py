"""The audit's slow-host attack at its own scale, on a real `tagloop serve`: 45 concurrent
one-URL imports from a host that takes 2 s to answer each, from three project keys. URL fetches
run in their own 8 slots and hold no worker thread while they wait, so the service stays
responsive: `/health` and the project list answer within 2 s meanwhile (behind the fetches it
would be 10 s or more), and every import completes (slow, part of `make test`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from tests.fixtures import COLOURS, colour_image, jpeg_bytes
from tests.integration.sdk_support import running_server

pytestmark = pytest.mark.slow
N_REQUESTS = 45
HOST_DELAY_S = 2.0


@contextmanager
def _slow_host() -> Iterator[str]:
    photo = jpeg_bytes(colour_image(COLOURS["red"], seed=1))

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(HOST_DELAY_S)
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(len(photo)))
                self.end_headers()
                self.wfile.write(photo)
            except OSError:
                pass

    host = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{host.server_address[1]}"
    finally:
        host.shutdown()


def test_slow_url_hosts_do_not_freeze_the_service(tmp_path: Path, shared_cache: Path) -> None:
    env = {"TAGLOOP_ALLOW_PRIVATE_URLS": "true"}
    with _slow_host() as host, running_server(tmp_path / "data", shared_cache, env=env) as server:
        api = f"{server.endpoint}/api/v1"
        admin = {"Training-Key": server.training_key}
        projects = []
        for n in range(3):  # 15 requests per key: under the 16 a key may have in flight
            pid = httpx.post(f"{api}/projects", json={"name": f"p{n}"}, headers=admin).json()["id"]
            keys = httpx.get(f"{api}/projects/{pid}/keys", headers=admin).json()
            projects.append((pid, {"Training-Key": keys["training_key"]}))
        answers: list[int] = []

        def import_one(k: int) -> None:
            pid, key = projects[k % 3]
            response = httpx.post(
                f"{server.endpoint}/customvision/v3.3/training/projects/{pid}/images/urls",
                json={"images": [{"url": f"{host}/{k}.jpg"}]},
                headers=key,
                timeout=120,
            )
            answers.append(response.status_code)

        workers = [threading.Thread(target=import_one, args=(k,)) for k in range(N_REQUESTS)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)  # every import is waiting on the host or for a fetch slot
        for path in ("/health", "/api/v1/projects"):
            started = time.monotonic()
            response = httpx.get(f"{server.endpoint}{path}", headers=admin, timeout=30)
            assert response.status_code == 200
            assert time.monotonic() - started < 2.0, path  # blocked: 10 s or more
        for worker in workers:
            worker.join(120)
        assert answers == [200] * N_REQUESTS
        total = sum(
            httpx.get(f"{api}/projects/{pid}", headers=admin).json()["n_images"]
            for pid, _ in projects
        )
        assert total == 3  # one photo, deduplicated per project
