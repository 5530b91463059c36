"""Scratch folders for long work (a training's model package, advanced training's view cache)
that a killed process cannot leave behind for good: each is named after the process that made
it, and making a new one removes those whose process is gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


def make_scratch_dir(parent: Path, prefix: str) -> Path:
    """A new folder ``parent/<prefix><pid>-<random>``, after removing the ``<prefix>*`` folders
    of processes that no longer run (a kill -9 mid-training leaves its folder)."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_dirs(parent, prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


def remove_stale_dirs(parent: Path, prefix: str) -> int:
    """Remove ``parent/<prefix><pid>-*`` folders whose process is gone; returns how many."""
    removed = 0
    for path in parent.glob(f"{prefix}*"):
        owner = path.name[len(prefix) :].split("-", 1)[0]
        if not path.is_dir() or (owner.isdigit() and _is_running(int(owner))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
        logger.info("removed %s, left by a process that stopped", path)
    return removed


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True
