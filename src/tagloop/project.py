"""The facade: one method per use case; shells call these and nothing deeper.

Each method wires stages together (ingest → embed → train → evaluate → export / serve) and
keeps no logic of its own beyond choosing what to pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from tagloop.config import Settings
from tagloop.embed.backbones import OnnxBackbone, create_backbone
from tagloop.embed.preprocess import decode_for_model
from tagloop.embed.service import EmbeddedSet, embed_items
from tagloop.errors import LabelSetMismatch, ManifestInvalid, NoReadableImages
from tagloop.evaluate.metrics import build_report
from tagloop.evaluate.service import (
    cross_validated_report,
    held_out_report,
    split_known_labels,
)
from tagloop.export.package import package_classifier
from tagloop.ingest.decode import read_image_bytes
from tagloop.ingest.sources import Source, build_source
from tagloop.serve.predictor import FilePrediction, OnnxPredictor
from tagloop.store.cache import EmbeddingCache
from tagloop.train.service import TrainedClassifier, TrainSpec, encode_labels, fit_on_embeddings
from tagloop.types import (
    EvaluationResult,
    ImageItem,
    ProgressCallback,
    SkippedImage,
    TrainResult,
    no_progress,
)

logger = logging.getLogger(__name__)

N_PARITY_IMAGES = 32


class Project:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def train(
        self,
        data: str | Path,
        *,
        test: str | Path | None = None,
        out_dir: Path = Path("tagloop-model"),
        spec: TrainSpec | None = None,
        progress: ProgressCallback = no_progress,
    ) -> TrainResult:
        """Embed, cross-validate, fit, evaluate on ``test`` and write a checked package."""
        started = time.perf_counter()
        spec = spec or TrainSpec()
        source = build_source(data)
        test_source = build_source(test) if test is not None else None
        _check_group_column(source, spec.group_by)
        items, unlabeled = _split_labeled(source)
        backbone = self._backbone(spec.backbone)
        if spec.near_duplicate_cosine is None:
            spec = replace(spec, near_duplicate_cosine=backbone.spec.copy_cosine)
        cache = self._cache()
        try:
            train_set = self._embed(items, backbone, cache, progress)
            if not train_set.items:
                raise NoReadableImages(f"no readable labeled images in {data}")
            classifier = fit_on_embeddings(train_set, spec, progress=progress)
            evaluation = cross_validated_report(classifier)
            test_report = None
            test_skipped: list[SkippedImage] = []
            if test_source is not None:
                test_items, test_skipped = _split_labeled(test_source)
                test_set = self._embed(test_items, backbone, cache, progress)
                test_report, unknown = held_out_report(
                    classifier, test_set, threshold=evaluation.threshold, name=str(test)
                )
                test_skipped += [*test_set.skipped, *unknown]
        finally:
            cache.close()
        pixels, features = _parity_sample(train_set, classifier, backbone, self.settings)
        model_dir = package_classifier(
            classifier,
            backbone,
            out_dir=out_dir,
            evaluation=evaluation,
            check_pixels=pixels,
            check_features=features,
            test=test_report,
        )
        return TrainResult(
            labels=classifier.labels,
            n_images=len(train_set.items),
            skipped=(*unlabeled, *train_set.skipped),
            backbone=spec.backbone,
            seconds=time.perf_counter() - started,
            evaluation=evaluation,
            test=test_report,
            model_dir=model_dir,
            label_counts=classifier.label_counts,
            n_embedded=train_set.n_computed,
            test_skipped=tuple(test_skipped),
        )

    def evaluate(
        self, model_dir: Path, data: str | Path, *, progress: ProgressCallback = no_progress
    ) -> EvaluationResult:
        """Score the packaged model (the artifact that ships) on labeled data."""
        predictor = self.load_predictor(model_dir)
        items, skipped = _split_labeled(build_source(data))
        labels = list(predictor.labels)
        known_idx, unknown = split_known_labels(items, labels, whose="the model's")
        known = [items[i] for i in known_idx]
        skipped += unknown
        if items and not known:
            raise LabelSetMismatch(
                f"none of the labels in {data} are the model's labels ({', '.join(labels)})"
            )
        rows = predictor.proba_files(
            [i.path for i in known], batch_size=self.settings.batch_size, progress=progress
        )
        good = [
            (item, row)
            for item, row in zip(known, rows, strict=True)
            if isinstance(row, np.ndarray)
        ]
        skipped += [
            SkippedImage(item.display_path, row)
            for item, row in zip(known, rows, strict=True)
            if isinstance(row, str)
        ]
        if not good:
            raise NoReadableImages(f"no readable labeled images in {data}")
        Y = encode_labels([item.labels for item, _ in good], labels)  # noqa: N806
        proba = np.stack([row for _, row in good])
        report = build_report(
            Y,
            proba,
            labels,
            multilabel=predictor.is_multilabel,
            threshold=predictor.threshold if predictor.is_multilabel else None,
            method=f"model {model_dir} on {data}",
        )
        return EvaluationResult(report=report, skipped=tuple(skipped))

    def predict(
        self,
        model_dir: Path,
        paths: Sequence[Path],
        *,
        top_k: int | None = None,
        progress: ProgressCallback = no_progress,
    ) -> list[FilePrediction]:
        predictor = self.load_predictor(model_dir)
        return predictor.predict_files(
            paths, top_k=top_k, batch_size=self.settings.batch_size, progress=progress
        )

    def load_predictor(self, model_dir: Path) -> OnnxPredictor:
        return OnnxPredictor(
            model_dir,
            n_threads=self.settings.resolved_threads(),
            max_pixels=self.settings.max_image_pixels,
        ).load()

    def _backbone(self, name: str) -> OnnxBackbone:
        return create_backbone(
            name, cache_dir=self.settings.cache_dir, n_threads=self.settings.resolved_threads()
        )

    def _cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.settings.cache_dir / "embeddings.sqlite")

    def _embed(
        self,
        items: Sequence[ImageItem],
        backbone: OnnxBackbone,
        cache: EmbeddingCache,
        progress: ProgressCallback,
    ) -> EmbeddedSet:
        return embed_items(
            items,
            backbone=backbone,
            cache=cache,
            max_pixels=self.settings.max_image_pixels,
            batch_size=self.settings.batch_size,
            n_threads=self.settings.resolved_threads(),
            progress=progress,
        )


def _split_labeled(source: Source) -> tuple[list[ImageItem], list[SkippedImage]]:
    labeled = [item for item in source if item.labels]
    unlabeled = [
        SkippedImage(item.display_path, "the image has no label", code="no_label")
        for item in source
        if not item.labels
    ]
    return labeled, unlabeled


def _check_group_column(source: Source, group_by: str | None) -> None:
    if group_by and source.items and group_by not in source.items[0].metadata:
        columns = ", ".join(source.items[0].metadata) or "none"
        raise ManifestInvalid(
            f"--group-by {group_by}: the data has no such column (metadata columns: {columns}); "
            "grouping needs a CSV manifest with that column"
        )


def _parity_sample(
    data: EmbeddedSet, classifier: TrainedClassifier, backbone: OnnxBackbone, settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Up to N_PARITY_IMAGES training images, spread over labels: pixels and cached features."""
    order = np.argsort(classifier.Y.argmax(axis=1), kind="stable")
    picks = order[np.linspace(0, len(order) - 1, min(N_PARITY_IMAGES, len(order))).astype(int)]
    cfg, limit = backbone.spec.preprocess, settings.max_image_pixels
    pixels = [
        decode_for_model(read_image_bytes(data.items[i].path), cfg, max_pixels=limit)[0]
        for i in picks
    ]
    return np.stack(pixels), data.features[picks]
