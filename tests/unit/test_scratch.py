"""Scratch folders: a killed process's folder is removed by the next one, a live one's is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tagloop.store.scratch import make_scratch_dir, remove_stale_dirs


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_folders_of_stopped_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / f"train-{_dead_pid()}-abc"
    legacy = tmp_path / "train-k3j2h_x9"  # made before folders were named after their process
    live = tmp_path / f"train-{os.getppid()}-def"  # the process that runs this test's runner
    other = tmp_path / "views-1-keep"  # another prefix
    for path in (dead, legacy, live, other):
        (path / "model").mkdir(parents=True)
    made = make_scratch_dir(tmp_path, "train-")
    assert made.is_dir() and made.name.startswith(f"train-{os.getpid()}-")
    assert not dead.exists() and not legacy.exists()
    assert live.is_dir() and other.is_dir()
    assert remove_stale_dirs(tmp_path, "train-") == 0  # ours is running
