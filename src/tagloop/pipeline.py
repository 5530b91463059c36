"""The training use case, shared by the file-based facade and the service's training jobs.

embed → fit (with out-of-fold predictions) → cross-validated report → held-out report →
package (ONNX + JSON, checked for parity against the in-memory head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tagloop.config import Settings
from tagloop.embed.backbones import OnnxBackbone, create_backbone
from tagloop.embed.preprocess import decode_for_model
from tagloop.embed.service import EmbeddedSet, embed_items
from tagloop.errors import NoReadableImages
from tagloop.evaluate.service import cross_validated_report, held_out_report
from tagloop.export.package import package_classifier
from tagloop.ingest.decode import read_image_bytes
from tagloop.store.cache import EmbeddingCache
from tagloop.train.service import TrainedClassifier, TrainSpec, fit_on_embeddings
from tagloop.types import EvalReport, ImageItem, ProgressCallback, SkippedImage, no_progress

N_PARITY_IMAGES = 32


@dataclass(frozen=True)
class TrainingRun:
    classifier: TrainedClassifier
    train_set: EmbeddedSet
    evaluation: EvalReport
    model_dir: Path
    test: EvalReport | None = None
    test_skipped: tuple[SkippedImage, ...] = ()


def open_backbone(settings: Settings, name: str) -> OnnxBackbone:
    return create_backbone(
        name, cache_dir=settings.cache_dir, n_threads=settings.resolved_threads()
    )


def open_cache(settings: Settings) -> EmbeddingCache:
    return EmbeddingCache(settings.cache_dir / "embeddings.sqlite")


def embed(
    settings: Settings,
    items: Sequence[ImageItem],
    backbone: OnnxBackbone,
    cache: EmbeddingCache,
    progress: ProgressCallback = no_progress,
) -> EmbeddedSet:
    return embed_items(
        items,
        backbone=backbone,
        cache=cache,
        max_pixels=settings.max_image_pixels,
        batch_size=settings.batch_size,
        n_threads=settings.resolved_threads(),
        progress=progress,
    )


def train_and_package(
    settings: Settings,
    items: Sequence[ImageItem],
    *,
    spec: TrainSpec,
    out_dir: Path,
    test_items: Sequence[ImageItem] | None = None,
    test_name: str = "test",
    data_name: str = "the training data",
    progress: ProgressCallback = no_progress,
) -> TrainingRun:
    """Train on labeled ``items`` and write a checked model package to ``out_dir``."""
    backbone = open_backbone(settings, spec.backbone)
    if spec.near_duplicate_cosine is None:
        spec = replace(spec, near_duplicate_cosine=backbone.spec.copy_cosine)
    cache = open_cache(settings)
    try:
        train_set = embed(settings, items, backbone, cache, progress)
        if not train_set.items:
            raise NoReadableImages(f"no readable labeled images in {data_name}")
        classifier = fit_on_embeddings(train_set, spec, progress=progress)
        evaluation = cross_validated_report(classifier)
        test_report = None
        test_skipped: list[SkippedImage] = []
        if test_items is not None:
            test_set = embed(settings, test_items, backbone, cache, progress)
            test_report, unknown = held_out_report(
                classifier, test_set, threshold=evaluation.threshold, name=test_name
            )
            test_skipped = [*test_set.skipped, *unknown]
    finally:
        cache.close()
    pixels, features = _parity_sample(train_set, classifier, backbone, settings)
    model_dir = package_classifier(
        classifier,
        backbone,
        out_dir=out_dir,
        evaluation=evaluation,
        check_pixels=pixels,
        check_features=features,
        test=test_report,
    )
    return TrainingRun(
        classifier=classifier,
        train_set=train_set,
        evaluation=evaluation,
        model_dir=model_dir,
        test=test_report,
        test_skipped=tuple(test_skipped),
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
