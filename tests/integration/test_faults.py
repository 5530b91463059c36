"""Fault suite: `tagloop serve` killed with SIGKILL during training, an upload, a URL import and
a publish, 10 times each, and started again on the same data dir each time (slow, part of
`make test`). After every restart: no iteration stays Training, every image the server said it
added is there with its file, nothing is duplicated, SQLite's integrity check passes; at the
end no file is left that no row refers to."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fixtures import COLOURS, colour_image, jpeg_bytes
from tests.integration.sdk_support import Server, requires_real_photos, running_server

from tagloop.config import Settings
from tagloop.workspace.context import open_workspace
from tagloop.workspace.projects import collect_orphan_blobs

pytestmark = [pytest.mark.slow, requires_real_photos]
ROUNDS = 10
ENV = {"TAGLOOP_ALLOW_PRIVATE_URLS": "true", "TAGLOOP_ORPHAN_MIN_AGE_SECONDS": "0"}


def _image(seed: int) -> bytes:
    return jpeg_bytes(colour_image(list(COLOURS.values())[seed % 3], seed=seed, size=(120, 90)))


@contextmanager
def _slow_image_host() -> Iterator[str]:
    """A local host that answers each /<seed>.jpg after 0.3 s."""

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(0.3)
            data = _image(int(self.path.strip("/").split(".")[0]))
            try:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the server was killed while it fetched
                pass

    host = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{host.server_address[1]}"
    finally:
        host.shutdown()


class _Client:
    def __init__(self, server: Server) -> None:
        self.api = f"{server.endpoint}/api/v1"
        self.cv = f"{server.endpoint}/customvision/v3.3/training"
        self.key = {"Training-Key": server.training_key}

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.api}{path}", headers=self.key, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


def _in_background(call: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Start ``call`` in a thread; the list gets its answer if one comes before the kill."""
    answers: list[httpx.Response] = []

    def run() -> None:
        try:
            answers.append(call())
        except httpx.HTTPError:
            pass  # the server was killed under it

    threading.Thread(target=run, daemon=True).start()
    return answers


def _check(server: Server, pid: str, promised: set[str]) -> None:
    """The invariants after a restart."""
    client = _Client(server)
    deadline = time.monotonic() + 120
    while any(i["status"] == "Training" for i in client.get(f"/projects/{pid}/iterations")):
        assert time.monotonic() < deadline, f"an iteration stays Training\n{server.log_tail()}"
        time.sleep(0.5)
    images = client.get(f"/projects/{pid}/images?take=256")["images"]
    ids = {image["id"] for image in images}
    assert promised <= ids, promised - ids  # everything answered OK is there
    for image in images:
        response = httpx.get(
            f"{client.api}/projects/{pid}/images/{image['id']}/file", headers=client.key
        )
        assert response.status_code == 200, image
    database = server.data_dir / "tagloop.sqlite"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        dupes = conn.execute(
            "SELECT COUNT(*) FROM (SELECT sha256 FROM images GROUP BY project_id, sha256 "
            "HAVING COUNT(*) > 1)"
        ).fetchone()
        assert dupes == (0,)


def _operation(
    operation: str, client: _Client, pid: str, *, iteration_id: str, host: str, seed: int, n: int
) -> tuple[Callable[[], httpx.Response], float]:
    """The request to kill the server under, and how long after it starts to kill."""
    rng = random.Random(seed)
    if operation == "train":
        url = f"{client.api}/projects/{pid}/train"
        return lambda: httpx.post(url, json={"force": True}, headers=client.key, timeout=30), (
            rng.uniform(0.2, 2.5)
        )
    if operation == "upload":
        files = [("f", (f"u{seed + i}.jpg", _image(seed + i), "image/jpeg")) for i in range(6)]
        url = f"{client.api}/projects/{pid}/images"
        return lambda: httpx.post(url, files=files, headers=client.key, timeout=30), (
            rng.uniform(0.0, 0.3)
        )
    if operation == "url import":
        body = {"images": [{"url": f"{host}/{seed + i}.jpg"} for i in range(4)]}
        url = f"{client.cv}/projects/{pid}/images/urls"
        return lambda: httpx.post(url, json=body, headers=client.key, timeout=30), (
            rng.uniform(0.1, 1.2)
        )
    url = f"{client.api}/projects/{pid}/iterations/{iteration_id}/publish"
    body = {"name": f"live-{n}"}
    return lambda: httpx.post(url, json=body, headers=client.key, timeout=30), (
        rng.uniform(0.0, 0.05)
    )


def test_kill_nine_during_work_loses_nothing(
    tmp_path: Path, shared_cache: Path, request: pytest.FixtureRequest
) -> None:
    from tests.integration.sdk_support import REAL_IMAGES

    data_dir = tmp_path / "data"
    promised: set[str] = set()
    stack = ExitStack()
    host = stack.enter_context(_slow_image_host())  # serves the URL imports of every round
    request.addfinalizer(stack.close)
    with running_server(data_dir, shared_cache, env=ENV) as server:
        client = _Client(server)
        pid = httpx.post(
            f"{client.api}/projects", json={"name": "faults"}, headers=client.key
        ).json()["id"]
        for label in ("blazer", "polo"):
            tag = httpx.post(
                f"{client.api}/projects/{pid}/tags", json={"name": label}, headers=client.key
            ).json()
            files = [
                ("f", (p.name, p.read_bytes(), "image/jpeg"))
                for p in sorted((REAL_IMAGES / label).glob("*.jpg"))[:6]
            ]
            added = httpx.post(
                f"{client.api}/projects/{pid}/images",
                params={"tag_ids": tag["id"]},
                files=files,
                headers=client.key,
                timeout=60,
            ).json()
            promised |= {r["image"]["id"] for r in added["images"] if r["status"] == "OK"}
        first = httpx.post(f"{client.api}/projects/{pid}/train", headers=client.key).json()
        while client.get(f"/projects/{pid}/iterations/{first['id']}")["status"] == "Training":
            time.sleep(0.3)
    seed = 1000
    cut_off = dict.fromkeys(("upload", "url import"), 0)  # killed before the server answered
    for round_ in range(ROUNDS):
        for operation in ("train", "upload", "url import", "publish"):
            with running_server(data_dir, shared_cache, env=ENV) as server:
                _check(server, pid, promised)
                client = _Client(server)
                call, delay = _operation(
                    operation, client, pid, iteration_id=first["id"], host=host, seed=seed, n=round_
                )
                seed += 10
                answers = _in_background(call)
                time.sleep(delay)
                server.kill()
                time.sleep(0.1)
                if operation in cut_off and not answers:
                    cut_off[operation] += 1
                for answer in answers:  # answered before the kill: it must have happened
                    if operation == "upload" and answer.status_code == 200:
                        body = answer.json()
                        promised |= {r["image"]["id"] for r in body["images"] if r["image"]}
                    if operation == "url import" and answer.status_code in (200, 207):
                        body = answer.json()
                        promised |= {r["image"]["id"] for r in body["images"] if r.get("image")}
    # The kills landed in the middle of the work, not only between requests.
    assert all(n >= 2 for n in cut_off.values()), cut_off
    with running_server(data_dir, shared_cache, env=ENV) as server:
        _check(server, pid, promised)
        iterations = _Client(server).get(f"/projects/{pid}/iterations")
        assert all(i["status"] in ("Completed", "Failed") for i in iterations)
    # Nothing is left that no row refers to (this start removed what the kills left).
    settings = Settings(data_dir=data_dir, cache_dir=shared_cache, orphan_min_age_seconds=0)
    ws = open_workspace(settings)
    try:
        assert collect_orphan_blobs(ws) == 0
    finally:
        ws.close()
