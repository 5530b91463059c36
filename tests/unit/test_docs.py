from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tagloop.shells.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_generated_from_the_current_help() -> None:
    check = subprocess.run([sys.executable, "scripts/gen_cli_docs.py", "--check"], cwd=ROOT)
    assert check.returncode == 0, "docs/cli.md is stale: run `make docs`"


def test_readme_shows_only_commands_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", readme, re.S))
    shown = set(re.findall(r"^tagloop (\w+)", shell, re.M))
    assert shown and shown <= set(cli.commands), shown - set(cli.commands)  # type: ignore[attr-defined]
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"^make (\w+)", shell, re.M)):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_the_page_tour_shows_the_browser_tests_screenshots() -> None:
    """docs/ui.md shows every picture docs/tour/refresh.py copies from the flow test, and
    only those (so a picture cannot be left behind when the tour changes)."""
    tour = (ROOT / "docs" / "ui.md").read_text()
    shown = set(re.findall(r"\]\(tour/([\w-]+)\.png\)", tour))
    refresh = (ROOT / "docs" / "tour" / "refresh.py").read_text()
    copied = set(re.findall(r'^    "([\w-]+)": \("test_', refresh, re.M))
    assert shown and shown == copied, shown ^ copied
    for name in shown:
        assert (ROOT / "docs" / "tour" / f"{name}.png").is_file(), name
    flow = (ROOT / "tests" / "browser" / "test_ui_flow.py").read_text()
    for shot in re.findall(r'\("test_\w+", "([\w-]+)"\)', refresh):
        # each screenshot the tour uses is taken by the flow test (some names are built as
        # f"{name}-training", so the last word is enough)
        assert f'"{shot}"' in flow or f'-{shot.split("-")[-1]}"' in flow, shot


def test_make_serve_runs_the_service(tmp_path: Path) -> None:
    """The README's first command starts a server that answers, with keys printed once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGLOOP_")}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "-s", "serve", f"PORT={port}", f"DATA_DIR={tmp_path / 'data'}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert json.load(r)["status"] == "ok"
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    keys = json.loads((tmp_path / "data" / "keys.json").read_text())
    assert keys["training"] in text and keys["prediction"] in text
    assert (tmp_path / "data" / "keys.json").stat().st_mode & 0o077 == 0
