"""Content-addressed files: image bytes and model files, stored once under their sha256.

A blob is written before the row that refers to it is committed, and blobs no row refers to are
collected. So that collection cannot remove a blob a request has just written (the same bytes,
uploaded while an image of them is deleted elsewhere), a writer *pins* the sha before ``put``
and releases it once its row is committed (``with blobs.pin(sha): ...``); ``delete`` passes
over pinned blobs. Pins live in the process: one process writes to a data dir at a time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)
STAGING_PREFIX = ".incoming."


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pins: Counter[str] = Counter()

    @contextmanager
    def pin(self, sha: str) -> Iterator[None]:
        """Keep blob ``sha`` from collection for the block (write it and commit its row in it)."""
        with self._lock:
            self._pins[sha] += 1
        try:
            yield
        finally:
            with self._lock:
                self._pins[sha] -= 1
                if self._pins[sha] <= 0:
                    del self._pins[sha]

    @staticmethod
    def sha_of(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:4] / sha

    def put(self, data: bytes) -> str:
        """Store ``data`` (atomically, once) and return its sha256."""
        sha = self.sha_of(data)
        target = self.path(sha)
        if target.is_file():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(dir=target.parent, prefix=STAGING_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, target)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        return sha

    def derived(self, sha: str, kind: str, make: Callable[[bytes], bytes]) -> bytes:
        """A file computed from a blob (a thumbnail), made once and kept beside the blobs."""
        target = self.root.parent / "derived" / kind / sha[:2] / sha
        if target.is_file():
            return target.read_bytes()
        data = make(self.read(sha))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{sha}.{os.getpid()}.tmp")
        staging.write_bytes(data)
        os.replace(staging, target)
        return data

    def read(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def delete(self, shas: set[str]) -> int:
        """Remove blobs no row refers to any more, except pinned ones; returns how many were
        removed."""
        removed = 0
        with self._lock:
            for sha in shas - set(self._pins):
                try:
                    self.path(sha).unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        if removed:
            logger.info("removed %d unreferenced blobs", removed)
        return removed

    def older_than(self, seconds: float) -> tuple[set[str], list[Path]]:
        """The shas of blobs last written more than ``seconds`` ago, and staging files as old
        (left by a process killed while writing)."""
        cutoff = time.time() - seconds
        shas: set[str] = set()
        staging: list[Path] = []
        for path in self.root.glob("*/*/*"):
            try:
                if path.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            if path.name.startswith(STAGING_PREFIX):
                staging.append(path)
            elif len(path.name) == 64:
                shas.add(path.name)
        return shas, staging
