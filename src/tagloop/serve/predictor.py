"""A predictor over a model package, on ONNX Runtime: ``load()`` / ``predict_*`` / ``ready``.

Preprocessing is read from the package's ``model.json``, and decoding is the same function
training used, so serving cannot drift from training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tagloop.embed.backbones import make_session
from tagloop.embed.preprocess import PreprocessConfig, decode_for_model
from tagloop.errors import ImageUnreadable, ModelInvalid
from tagloop.ingest.decode import read_image_bytes
from tagloop.store.packages import read_package
from tagloop.types import LabelScore, ProgressCallback, no_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilePrediction:
    path: str
    predictions: tuple[LabelScore, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "predictions": [p.to_dict() for p in self.predictions]}


class OnnxPredictor:
    def __init__(self, model_dir: Path, *, n_threads: int, max_pixels: int) -> None:
        self.model_dir = model_dir
        self.n_threads = n_threads
        self.max_pixels = max_pixels
        self.ready = False

    def load(self) -> OnnxPredictor:
        onnx_path, meta = read_package(self.model_dir)
        return self.load_parts(onnx_path, meta)

    def load_parts(self, onnx_path: Path, meta: dict[str, Any]) -> OnnxPredictor:
        """Load an ONNX file and its model description kept apart (the service's blob store)."""
        try:
            self.meta = meta
            self.labels: tuple[str, ...] = tuple(meta["labels"])
            self.is_multilabel = meta["classification_type"] == "multilabel"
            self.threshold = float(meta.get("threshold") or 0.5)
            self.preprocess = PreprocessConfig.from_dict(meta["preprocessing"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelInvalid(f"{self.model_dir}/model.json is missing {exc}") from None
        self.session = make_session(onnx_path, self.n_threads)
        self.ready = True
        logger.info("loaded model %s (%d labels)", self.model_dir, len(self.labels))
        return self

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 model inputs → (N, K) probabilities."""
        out = self.session.run(["probabilities"], {"image": np.ascontiguousarray(pixels)})
        return np.asarray(out[0])

    def predict_with_features(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 3) uint8 model inputs → (N, K) probabilities and (N, D) backbone features."""
        proba, features = self.session.run(
            ["probabilities", "features"], {"image": np.ascontiguousarray(pixels)}
        )
        return np.asarray(proba), np.asarray(features)

    def decode(self, data: bytes) -> np.ndarray:
        """Image bytes → model input with this model's preprocessing; raises ImageUnreadable."""
        return self.decode_with_size(data)[0]

    def decode_with_size(self, data: bytes) -> tuple[np.ndarray, tuple[int, int]]:
        """Model input and the image's (width, height) as stored, from one decode."""
        pixels, decoded = decode_for_model(data, self.preprocess, max_pixels=self.max_pixels)
        return pixels, (decoded.width, decoded.height)

    def proba_files(
        self,
        paths: Sequence[Path],
        *,
        batch_size: int = 32,
        progress: ProgressCallback = no_progress,
    ) -> list[np.ndarray | str]:
        """A probability row per file, or the reason it could not be read, in order."""
        results: list[np.ndarray | str] = []
        progress("predict", 0, len(paths))
        with ThreadPoolExecutor(max_workers=max(2, self.n_threads)) as pool:
            for start in range(0, len(paths), batch_size):
                chunk = paths[start : start + batch_size]
                decoded = list(pool.map(self._decode, chunk))
                good = [d for d in decoded if isinstance(d, np.ndarray)]
                rows = iter(self.predict_proba(np.stack(good)) if good else [])
                results.extend(next(rows) if isinstance(d, np.ndarray) else d for d in decoded)
                progress("predict", len(results), len(paths))
        return results

    def predict_files(
        self,
        paths: Sequence[Path],
        *,
        names: Sequence[str] | None = None,
        top_k: int | None = None,
        batch_size: int = 32,
        progress: ProgressCallback = no_progress,
    ) -> list[FilePrediction]:
        """Labels with probabilities, highest first (``top_k`` of them), or an error, per file."""
        shown = names if names is not None else [str(p) for p in paths]
        out = []
        for name, row in zip(
            shown, self.proba_files(paths, batch_size=batch_size, progress=progress), strict=True
        ):
            if isinstance(row, str):
                out.append(FilePrediction(path=name, error=row))
                continue
            order = np.argsort(-row, kind="stable")[: top_k or len(row)]
            scores = tuple(LabelScore(self.labels[j], round(float(row[j]), 6)) for j in order)
            out.append(FilePrediction(path=name, predictions=scores))
        return out

    def _decode(self, path: Path) -> np.ndarray | str:
        try:
            data = read_image_bytes(path)
            pixels, _ = decode_for_model(data, self.preprocess, max_pixels=self.max_pixels)
            return pixels
        except ImageUnreadable as exc:
            return exc.message
