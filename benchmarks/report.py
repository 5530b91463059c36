"""Output helpers shared by the benchmark scripts (run as `python benchmarks/<script>.py`)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, TypeVar

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


def environment() -> dict[str, Any]:
    """The versions and machine every benchmark records with its figures."""
    import onnxruntime

    from tagloop import __version__

    return {
        "tagloop": __version__,
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def write_results(path: Path, results: dict[str, Any], note: str = "") -> None:
    """Write the figures as JSON and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {relative(path)}{note}")


R = TypeVar("R")


def expect_status(response: R, status: int = 200) -> R:
    """The response, or stop the benchmark saying which request failed and how."""
    code = getattr(response, "status_code", None)
    if code != status:
        request = getattr(response, "request", None)
        where = f"{request.method} {request.url.path}" if request is not None else "request"
        text = str(getattr(response, "text", ""))[:500]
        raise SystemExit(f"{where} answered {code}: {text}")
    return response
