from __future__ import annotations

import re
import subprocess
import sys
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


def test_make_serve_prints_commands_that_exist() -> None:
    out = subprocess.run(["make", "-s", "serve"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    shown = set(re.findall(r"^\s+tagloop (\w+)", out.stdout, re.M))
    assert {"train", "predict", "evaluate"} <= shown <= set(cli.commands)  # type: ignore[attr-defined]
