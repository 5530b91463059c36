"""Output helpers shared by the benchmark scripts (run as `python benchmarks/<script>.py`)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def title(text: str) -> None:
    print(f"\n== {text}", flush=True)


def show(label: str, value: str, width: int = 52) -> None:
    print(f"  {label + ':':<{width}} {value}", flush=True)


def relative(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
