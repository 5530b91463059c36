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
from tagloop.errors import Conflict, ImageUnreadable, LabelSetMismatch, ModelInvalid
from tagloop.ingest.decode import read_image_bytes
from tagloop.serve.explain import Explanation
from tagloop.store.packages import read_package
from tagloop.types import LabelScore, ProgressCallback, no_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """What the model says about a batch of images."""

    proba: np.ndarray  # (N, K) probabilities, in the order of the model's labels
    features: np.ndarray  # (N, D) backbone features
    novelty: np.ndarray | None  # (N,) how unlike the training images; None: an older package
    unknown: np.ndarray  # (N,) bool: novelty above the model's threshold

    def rows(self) -> list[ImageScore]:
        novelty = self.novelty
        return [
            ImageScore(
                self.proba[i],
                self.features[i],
                None if novelty is None else round(float(novelty[i]), 6),
                bool(self.unknown[i]),
            )
            for i in range(len(self.proba))
        ]


@dataclass(frozen=True)
class ImageScore:
    """What the model says about one image."""

    proba: np.ndarray  # (K,)
    features: np.ndarray  # (D,)
    novelty: float | None
    unknown: bool


@dataclass(frozen=True)
class FilePrediction:
    path: str
    predictions: tuple[LabelScore, ...] = ()
    error: str | None = None
    # True when the photo is unlike anything the model was trained on (see train/novelty.py);
    # its probabilities are then no more than a guess among the labels.
    unknown: bool = False
    novelty: float | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {
            "path": self.path,
            "unknown": self.unknown,
            "novelty": self.novelty,
            "predictions": [p.to_dict() for p in self.predictions],
        }


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
            novelty = meta.get("novelty")
            # None for packages made before novelty: every answer is then "known".
            self.novelty_threshold: float | None = float(novelty["threshold"]) if novelty else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelInvalid(f"{self.model_dir}/model.json is missing {exc}") from None
        self.session = make_session(onnx_path, self.n_threads)
        self.has_heatmaps = "heatmaps" in {o.name for o in self.session.get_outputs()}
        self.ready = True
        logger.info("loaded model %s (%d labels)", self.model_dir, len(self.labels))
        return self

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 model inputs → (N, K) probabilities."""
        out = self.session.run(["probabilities"], {"image": np.ascontiguousarray(pixels)})
        return np.asarray(out[0])

    def score(self, pixels: np.ndarray) -> Scores:
        """(N, S, S, 3) uint8 model inputs → probabilities, features, novelty, unknown."""
        names = ["probabilities", "features"]
        if self.novelty_threshold is not None:
            names.append("novelty")
        out = self.session.run(names, {"image": np.ascontiguousarray(pixels)})
        proba, features = np.asarray(out[0]), np.asarray(out[1])
        novelty = np.asarray(out[2]) if len(out) > 2 else None
        return Scores(proba, features, novelty, self.unknown(novelty, len(proba)))

    def explain(self, pixels: np.ndarray, label: str | None = None) -> Explanation:
        """Where ``label``'s score (default: the most probable label's) comes from, for one
        (S, S, 3) model input. :class:`Conflict` for a model packaged before heat-maps."""
        if not self.has_heatmaps:
            raise Conflict(
                "model_lacks_heatmaps",
                "This model was packaged before heat-maps; train it again to see where it looks.",
            )
        proba, heatmaps = self.session.run(
            ["probabilities", "heatmaps"], {"image": np.ascontiguousarray(pixels[None])}
        )
        if label is None:
            index = int(np.argmax(proba[0]))
        elif label in self.labels:
            index = self.labels.index(label)
        else:
            raise LabelSetMismatch(
                f"{label!r} is not one of the model's labels ({', '.join(self.labels)})"
            )
        return Explanation(
            label=self.labels[index],
            label_index=index,
            probability=float(proba[0][index]),
            heat=np.asarray(heatmaps[0][index]),
            pixels=np.asarray(pixels),
        )

    def unknown(self, novelty: np.ndarray | None, n: int) -> np.ndarray:
        if novelty is None or self.novelty_threshold is None:
            return np.zeros(n, dtype=bool)
        return np.asarray(novelty > self.novelty_threshold)

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
        return [
            row if isinstance(row, str) else row.proba
            for row in self.score_files(paths, batch_size=batch_size, progress=progress)
        ]

    def score_files(
        self,
        paths: Sequence[Path],
        *,
        batch_size: int = 32,
        progress: ProgressCallback = no_progress,
    ) -> list[ImageScore | str]:
        """What the model says about each file, or the reason it could not be read."""
        results: list[ImageScore | str] = []
        progress("predict", 0, len(paths))
        with ThreadPoolExecutor(max_workers=max(2, self.n_threads)) as pool:
            for start in range(0, len(paths), batch_size):
                chunk = paths[start : start + batch_size]
                decoded = list(pool.map(self._decode, chunk))
                good = [d for d in decoded if isinstance(d, np.ndarray)]
                rows = iter(self.score(np.stack(good)).rows() if good else [])
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
            shown, self.score_files(paths, batch_size=batch_size, progress=progress), strict=True
        ):
            if isinstance(row, str):
                out.append(FilePrediction(path=name, error=row))
                continue
            order = np.argsort(-row.proba, kind="stable")[: top_k or len(row.proba)]
            scores = tuple(LabelScore(self.labels[j], round(float(row.proba[j]), 6)) for j in order)
            out.append(
                FilePrediction(
                    path=name, predictions=scores, unknown=row.unknown, novelty=row.novelty
                )
            )
        return out

    def _decode(self, path: Path) -> np.ndarray | str:
        try:
            data = read_image_bytes(path)
            pixels, _ = decode_for_model(data, self.preprocess, max_pixels=self.max_pixels)
            return pixels
        except ImageUnreadable as exc:
            return exc.message
