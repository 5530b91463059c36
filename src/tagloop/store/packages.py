"""Model packages on disk: a folder with ``model.onnx`` and ``model.json``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tagloop.errors import ModelInvalid, ModelNotFound, OutputNotWritable

MODEL_FILE = "model.onnx"
META_FILE = "model.json"
FORMAT_VERSION = 1


def write_package(out_dir: Path, *, onnx_bytes: bytes, meta: dict[str, Any]) -> Path:
    """Write a package atomically: the folder appears complete or not at all.

    An existing tagloop package at ``out_dir`` is replaced; any other non-empty folder is left
    alone and refused, so training never overwrites a user's files.
    """
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputNotWritable(f"{out_dir} exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / META_FILE).is_file():
        raise OutputNotWritable(
            f"{out_dir} is not empty and is not a tagloop model; choose another --out"
        )
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        raise OutputNotWritable(f"cannot write to {out_dir.parent}: {exc.strerror}") from None
    try:
        (staging / MODEL_FILE).write_bytes(onnx_bytes)
        document = {"format_version": FORMAT_VERSION, **meta}
        (staging / META_FILE).write_text(json.dumps(document, indent=2) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(staging, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def read_package(model_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Return the ONNX path and the parsed ``model.json`` of a package."""
    if not model_dir.is_dir():
        raise ModelNotFound(f"{model_dir} is not a folder; pass the folder `tagloop train` wrote")
    meta_path, onnx_path = model_dir / META_FILE, model_dir / MODEL_FILE
    if not meta_path.is_file() or not onnx_path.is_file():
        raise ModelNotFound(
            f"{model_dir} is not a tagloop model (it needs {MODEL_FILE} and {META_FILE}); "
            "pass the folder `tagloop train` wrote"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelInvalid(f"{meta_path} cannot be read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise ModelInvalid(f"{meta_path} is not a model description this tagloop understands")
    return onnx_path, meta
