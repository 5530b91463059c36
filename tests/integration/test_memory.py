"""A 240 MB upload of junk parts, or a Custom Vision base64 batch of junk (20 strings just
over the limit, 160 MB, or one string of 200 MB), does not raise the server's memory: the body
is spooled to disk and images over the per-image limit are never read into memory (slow, part
of `make test`). Measured here: +2 MB for the parts; for 40 strings (320 MB) +26 MB (read one
at a time); for one string of 340 MB +2 MB (masked before parsing; unmasked, the server did not
answer within 300 s).

Measured on the real `tagloop serve` process: its anonymous resident memory (RssAnon, the
process's own heap, sampled every 5 ms while the request runs). The spooled body is read
through a memory map, whose pages are the kernel's file cache: they count in the total RSS
but are dropped, not swapped, when memory is short, so the total is not the measure."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.integration.sdk_support import TRAINING_PREFIX, running_server

pytestmark = pytest.mark.slow
LIMIT = 6 * 1024 * 1024  # the default training image limit
N_PARTS = 40  # 40 parts just over the limit: about 240 MB
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
        before = _anon_rss_mb(server.process.pid)
        sampler = _PeakSampler(server.process.pid)
        sampler.start()
        boundary = "tagloopjunkboundary"
        size = sum(len(chunk) for chunk in _junk_body(boundary, over))
        response = httpx.post(
            f"{api}/projects/{pid}/images",
            content=_junk_body(boundary, over),
            headers={
                **key,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(size),
            },
            timeout=300,
        )
        sampler.done.set()
        sampler.join()
        after = sampler.peak
        assert response.status_code == 200, response.text[:500]
        statuses = {r["status"] for r in response.json()["images"]}
        assert statuses == {status} and len(response.json()["images"]) == N_PARTS
        if over:
            assert "the limit is 6,291,456 bytes" in response.json()["images"][0]["reason"]
        assert size > (240 if over else 200) * 1024 * 1024
        assert after - before < MAX_GROWTH_MB, (before, after)


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
        before = _anon_rss_mb(server.process.pid)
        sampler = _PeakSampler(server.process.pid)
        sampler.start()
        size = sum(len(chunk) for chunk in _b64_body(lengths))
        response = httpx.post(
            f"{cv}/projects/{pid}/images/files",
            content=_b64_body(lengths),
            headers={**key, "Content-Type": "application/json", "Content-Length": str(size)},
            timeout=300,
        )
        sampler.done.set()
        sampler.join()
        after = sampler.peak
        assert response.status_code == 207, response.text[:500]  # Custom Vision: a mixed batch
        statuses = {r["status"] for r in response.json()["images"]}
        assert statuses == {status} and len(response.json()["images"]) == len(lengths)
        assert after - before < MAX_GROWTH_MB, (before, after)
