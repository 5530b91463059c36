"""Fuzz: 1,000 mutated image files (truncated, bit-flipped, wrong or swapped headers, huge
declared dimensions, junk) through upload and prediction. Every answer is a 2xx or a 4xx with a
stable code, never a 5xx; every upload is accounted for (added or refused with a reason); the
server stays healthy and its memory bounded (slow, part of `make test`)."""

from __future__ import annotations

import functools
import io
import resource
import struct
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tests.fixtures import COLOURS, colour_image, huge_png_bytes
from tests.integration.api_support import API, TRAIN, create_project, ok, train, upload

pytestmark = pytest.mark.slow
N_FILES = 1000
BATCH = 50
MAX_RSS_GROWTH_MB = 400


def _encoded(fmt: str, seed: int) -> bytes:
    colour = list(COLOURS.values())[seed % 3]
    buffer = io.BytesIO()
    colour_image(colour, seed=seed, size=(96, 72)).save(buffer, fmt)
    return buffer.getvalue()


def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def _flip_bits(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 40))):
        i = int(rng.integers(0, len(out)))
        out[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def _swap_header(data: bytes, rng: np.random.Generator) -> bytes:
    magic = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"]
    head = magic[int(rng.integers(0, len(magic)))]
    return head + data[len(head) :]


@functools.cache
def _huge_pngs() -> tuple[bytes, ...]:
    return (huge_png_bytes(16000, 16000), huge_png_bytes(30000, 4000))


def _huge_dimensions(data: bytes, rng: np.random.Generator) -> bytes:
    """A JPEG whose frame header declares up to 65,535 x 65,535 pixels, or a real huge PNG."""
    if rng.random() < 0.2:
        return _huge_pngs()[int(rng.integers(0, 2))]
    out = bytearray(data)
    at = data.find(b"\xff\xc0")
    if at < 0:
        return bytes(out)
    out[at + 5 : at + 9] = struct.pack(">HH", *(int(v) for v in rng.integers(1, 65536, 2)))
    return bytes(out)


def _junk(data: bytes, rng: np.random.Generator) -> bytes:
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return b""
    if kind == 1:
        return rng.bytes(int(rng.integers(1, 5000)))
    if kind == 2:
        return data + rng.bytes(int(rng.integers(1, 2000)))  # trailing garbage: still an image
    return data[:64] * 50  # a header repeated


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "truncated": _truncate,
    "bit-flipped": _flip_bits,
    "wrong header": _swap_header,
    "huge dimensions": _huge_dimensions,
    "junk": _junk,
}


def _corpus() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(2026)
    bases = [_encoded(fmt, seed) for seed in range(6) for fmt in ("JPEG", "PNG", "WEBP", "GIF")]
    names = list(MUTATIONS)
    files = []
    for i in range(N_FILES):
        kind = names[i % len(names)]
        base = bases[int(rng.integers(0, len(bases)))]
        files.append((f"{i:04d}-{kind.replace(' ', '-')}.jpg", MUTATIONS[kind](base, rng)))
    return files


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_thousand_mutated_images_never_break_the_service(client: TestClient) -> None:
    pid = create_project(client, "fuzz")["id"]
    p = f"{API}/projects/{pid}"
    tags = {}
    for colour in COLOURS:  # a trained model to predict with
        tags[colour] = ok(client.post(f"{p}/tags", json={"name": colour}, headers=TRAIN), 201)
        seeds = [i * 3 + list(COLOURS).index(colour) for i in range(6)]
        good = [(f"{colour}{seed}.jpg", _encoded("JPEG", seed)) for seed in seeds]
        upload(client, pid, good, tags[colour]["id"])
    train(client, pid)
    start_rss = _peak_rss_mb()

    files = _corpus()
    statuses: Counter[str] = Counter()
    for start in range(0, len(files), BATCH):
        chunk = files[start : start + BATCH]
        parts = [(f"f{i}", (name, data, "image/jpeg")) for i, (name, data) in enumerate(chunk)]
        response = client.post(f"{p}/images", files=parts, headers=TRAIN)
        assert response.status_code < 500, response.text
        if response.status_code != 200:  # a whole batch refused: one clear error
            assert response.json()["code"], response.text
            statuses[f"batch {response.status_code}"] += len(chunk)
            continue
        results = response.json()["images"]
        assert [r["source"] for r in results] == [name for name, _ in chunk]
        for r in results:
            assert r["status"] in ("OK", "OKDuplicate") or r["reason"], r
            statuses[r["status"]] += 1
    assert sum(statuses.values()) == N_FILES
    assert statuses["OK"] + statuses["OKDuplicate"] > 0  # some mutations still decode
    assert len([s for s in statuses if s not in ("OK", "OKDuplicate")]) >= 1

    answers: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    for name, data in files:
        response = client.post(
            f"{p}/quicktest",
            files={"imageData": (name, data, "image/jpeg")},
            headers=TRAIN,
        )
        answers[response.status_code] += 1
        assert response.status_code < 500, (name, response.text)
        if response.status_code >= 400:
            codes[response.json()["code"]] += 1
        else:
            assert len(response.json()["predictions"]) == 3
    assert set(codes) <= {"image_unreadable", "image_too_many_pixels", "image_too_large"}, codes
    assert ok(client.get("/health"))["status"] == "ok"
    assert _peak_rss_mb() - start_rss < MAX_RSS_GROWTH_MB, (start_rss, _peak_rss_mb())


def test_the_corpus_is_really_mutated() -> None:
    """The mutations do what they say: most files are not decodable images."""
    files = _corpus()
    decodable = 0
    for _, data in files:
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
            decodable += 1
        except Exception:  # noqa: BLE001, S112 (counting what PIL refuses)
            continue
    assert len(files) == N_FILES and 0.05 < decodable / N_FILES < 0.8, decodable
