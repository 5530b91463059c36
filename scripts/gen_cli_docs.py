"""Write docs/cli.md from the CLI's own --help (``make docs``); tests check it is current."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from tagloop.shells.cli import cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def render() -> str:
    runner = CliRunner()
    parts = [
        "# CLI reference\n",
        "Generated from `tagloop --help` by `make docs`; do not edit by hand.\n",
    ]
    names = [""] + sorted(cli.commands) if isinstance(cli, click.Group) else [""]
    for name in names:
        args = [name, "--help"] if name else ["--help"]
        result = runner.invoke(cli, args, prog_name="tagloop", terminal_width=100)
        title = f"tagloop {name}".strip()
        parts.append(f"## `{title}`\n\n```text\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if DOC.read_text() == render() else 1)
    DOC.write_text(render())
