"""Logging set-up; only shells call :func:`configure_logging`."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "WARNING", handler: logging.Handler | None = None) -> None:
    root = logging.getLogger("tagloop")
    root.handlers.clear()
    handler = handler or logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
