"""A huge upload of junk does not raise the server's memory: the body is spooled to disk, an
image over the per-image limit is never read into memory, and the others are read one at a
time as they are added (slow, part of `make test`).

Multipart: 40 parts just over the limit (240 MB), or 1 MB under it (200 MB). Custom Vision
base64 batches: 20 strings just over the limit (160 MB), one string of 200 MB, or 40 strings
under the limit (200 MB). Measured here: +1.4, +8.6, +25.6, +1.6 and +18.6 MB (the limit is
120); before the body was spooled the 240 MB multipart cost +481 MB, and before long strings
were masked one 340 MB base64 string kept the server busy past 300 s.

Measured on the real `tagloop serve` process: its anonymous resident memory (RssAnon, the
process's own heap, sampled every 5 ms while the request runs). The spooled body is read
through a memory map, whose pages are the kernel's file cache: they count in the total RSS
but are dropped, not swapped, when memory is short, so the total is not the measure."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.integration.sdk_support import TRAINING_PREFIX, running_server

pytestmark = pytest.mark.slow
LIMIT = 6 * 1024 * 1024  # the default training image limit
N_PARTS = 40  # 40 parts of about 6 MB: about 240 MB
MAX_GROWTH_MB = 120


def _anon_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc status")


class _PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = _anon_rss_mb(pid)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, _anon_rss_mb(self.pid))
            time.sleep(0.005)


def _post_sampling(
    pid: int, url: str, body: Callable[[], Iterator[bytes]], headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    """POST a streamed body; the answer and how much the server's RssAnon grew meanwhile (MB)."""
    before = _anon_rss_mb(pid)
    sampler = _PeakSampler(pid)
    sampler.start()
    size = sum(len(chunk) for chunk in body())
    response = httpx.post(
        url, content=body(), headers={**headers, "Content-Length": str(size)}, timeout=300
    )
    sampler.done.set()
    sampler.join()
    return response, sampler.peak - before


def _junk_body(boundary: str, over: bool) -> Iterator[bytes]:
    junk = os.urandom(1024 * 1024)
    for i in range(N_PARTS):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"; '
            f'filename="junk{i}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        for _ in range(LIMIT // len(junk) - (0 if over else 1)):
            yield junk
        yield b"x\r\n" if over else b"\r\n"  # one byte over the limit, or 1 MB under it
    yield f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("over", "status"), [(True, "ErrorImageSize"), (False, "ErrorImageFormat")]
)
def test_a_huge_upload_of_junk_parts_costs_no_memory(
    tmp_path: Path, shared_cache: Path, over: bool, status: str
) -> None:
    """Parts over the limit are never read; parts under it are read one at a time."""
    with running_server(tmp_path / "data", shared_cache) as server:
        key = {"Training-Key": server.training_key}
        api = f"{server.endpoint}/api/v1"
        pid = httpx.post(f"{api}/projects", json={"name": "junk"}, headers=key).json()["id"]
        boundary = "tagloopjunkboundary"
        response, growth = _post_sampling(
            server.process.pid,
            f"{api}/projects/{pid}/images",
            lambda: _junk_body(boundary, over),
            {**key, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 200, response.text[:500]
        statuses = {r["status"] for r in response.json()["images"]}
        assert statuses == {status} and len(response.json()["images"]) == N_PARTS
        if over:
            assert "the limit is 6,291,456 bytes" in response.json()["images"][0]["reason"]
        assert growth < MAX_GROWTH_MB, growth


def _b64_body(strings: list[int]) -> Iterator[bytes]:
    """A Custom Vision ``images/files`` batch whose contents are junk base64 of these lengths."""
    chunk = b"A" * (1024 * 1024)
    yield b'{"images": ['
    for i, length in enumerate(strings):
        yield (b", " if i else b"") + f'{{"name": "junk{i}.jpg", "contents": "'.encode()
        for start in range(0, length, len(chunk)):
            yield chunk[: min(len(chunk), length - start)]
        yield b'"}'
    yield b"]}"


@pytest.mark.parametrize(
    ("lengths", "status"),
    [
        ([LIMIT * 4 // 3 + 64] * 20, "ErrorImageSize"),  # 160 MB: just over the limit
        ([200 * 1024 * 1024], "ErrorImageSize"),  # one string of 200 MB
        ([LIMIT - 1024 * 1024] * 40, "ErrorImageFormat"),  # 200 MB, under: read one at a time
    ],
)
def test_a_huge_base64_batch_of_junk_costs_no_memory(
    tmp_path: Path, shared_cache: Path, lengths: list[int], status: str
) -> None:
    with running_server(tmp_path / "data", shared_cache) as server:
        key = {"Training-Key": server.training_key}
        cv = f"{server.endpoint}{TRAINING_PREFIX}"
        pid = httpx.post(f"{cv}/projects", params={"name": "junk"}, headers=key).json()["id"]
        response, growth = _post_sampling(
            server.process.pid,
            f"{cv}/projects/{pid}/images/files",
            lambda: _b64_body(lengths),
            {**key, "Content-Type": "application/json"},
        )
        assert response.status_code == 207, response.text[:500]  # Custom Vision: a mixed batch
        statuses = {r["status"] for r in response.json()["images"]}
        assert statuses == {status} and len(response.json()["images"]) == len(lengths)
        assert growth < MAX_GROWTH_MB, growth
