"""On-disk cache of per-image facts and embeddings, keyed by the sha256 of the file's bytes.

Decoding facts (dHash, size, format) are keyed by sha256 alone; embeddings by
(sha256, backbone id, view), so retraining on the same photos recomputes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from tagloop.types import ImageInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS image_info (
    sha256 TEXT PRIMARY KEY,
    dhash BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    sha256 TEXT NOT NULL,
    backbone_id TEXT NOT NULL,
    view TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (sha256, backbone_id, view)
);
"""
_CHUNK = 500  # stays below SQLite's bound-parameter limit


class EmbeddingCache:
    """A small SQLite file (WAL) that any number of runs may share."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db_path
        self._conn = sqlite3.connect(db_path, timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def get_infos(self, shas: Sequence[str]) -> dict[str, ImageInfo]:
        found: dict[str, ImageInfo] = {}
        for chunk in _chunks(list(dict.fromkeys(shas))):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT sha256, dhash, width, height, format FROM image_info "
                f"WHERE sha256 IN ({marks})",
                chunk,
            )
            for sha, dhash, width, height, fmt in rows:
                found[sha] = ImageInfo(dhash=bytes(dhash), width=width, height=height, format=fmt)
        return found

    def get_embeddings(
        self, shas: Sequence[str], *, backbone_id: str, view: str = "default"
    ) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for chunk in _chunks(list(dict.fromkeys(shas))):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT sha256, vector FROM embeddings WHERE backbone_id = ? AND view = ? "
                f"AND sha256 IN ({marks})",
                [backbone_id, view, *chunk],
            )
            for sha, blob in rows:
                found[sha] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(
        self,
        entries: Iterable[tuple[str, ImageInfo, np.ndarray]],
        *,
        backbone_id: str,
        view: str = "default",
    ) -> None:
        """Store facts and embeddings of several images in one transaction."""
        rows = list(entries)
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO image_info VALUES (?, ?, ?, ?, ?)",
                [(sha, info.dhash, info.width, info.height, info.format) for sha, info, _ in rows],
            )
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                [
                    (sha, backbone_id, view, np.ascontiguousarray(vec, np.float32).tobytes())
                    for sha, _, vec in rows
                ],
            )


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
