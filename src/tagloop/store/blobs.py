"""Content-addressed files: image bytes and model files, stored once under their sha256."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:4] / sha

    def put(self, data: bytes) -> str:
        """Store ``data`` (atomically, once) and return its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.is_file():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(dir=target.parent, prefix=".incoming.")
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
        """Remove blobs no row refers to any more; returns how many were removed."""
        removed = 0
        for sha in shas:
            try:
                self.path(sha).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        if removed:
            logger.info("removed %d unreferenced blobs", removed)
        return removed
