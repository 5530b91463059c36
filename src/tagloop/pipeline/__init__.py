"""The use cases shared by the file-based facade and the service: training and the data check.

Training: embed → fit (with out-of-fold predictions) → cross-validated report → held-out
report → package (ONNX + JSON, checked for parity against the in-memory head).
The data check: embed (cached) → the insights detectors over hashes, sizes, embeddings and
out-of-fold probabilities.

Just over 400 lines: the two use cases share the embedding and cross-validation steps, and
the CLI and the service both import them from here, so they stay together.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tagloop.config import Settings
from tagloop.embed.backbones import DEFAULT_BACKBONE, OnnxBackbone, create_backbone
from tagloop.embed.cam import class_maps
from tagloop.embed.preprocess import decode_for_model
from tagloop.embed.service import EmbeddedSet, embed_items
from tagloop.errors import NoReadableImages, TagloopError
from tagloop.evaluate.service import (
    cross_validated_report,
    held_out_report,
    split_known_labels,
)
from tagloop.export.package import package_classifier
from tagloop.ingest.decode import open_image, read_image_bytes
from tagloop.insights import copies, curve, detectors, shortcuts
from tagloop.insights.findings import CheckReport, Finding
from tagloop.pipeline.advanced import fine_tune_within_budget
from tagloop.store.cache import EmbeddingCache
from tagloop.train.novelty import fit_novelty
from tagloop.train.service import TrainedClassifier, TrainSpec, fit_on_embeddings
from tagloop.types import (
    EvalReport,
    ImageInfo,
    ImageItem,
    ProgressCallback,
    SkippedImage,
    no_progress,
)

N_PARITY_IMAGES = 32
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRun:
    classifier: TrainedClassifier
    train_set: EmbeddedSet
    evaluation: EvalReport
    model_dir: Path
    test: EvalReport | None = None
    test_skipped: tuple[SkippedImage, ...] = ()
    training_type: str = "quick"  # "advanced" when the package holds a fine-tuned model


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
    """Train on labeled ``items`` and write a checked model package to ``out_dir``.

    ``spec.mode == "advanced"`` fine-tunes the backbone's tail within ``spec.budget_seconds``
    (counted from this call) after the quick model; when the budget cannot hold it, or no
    fine-tuned epoch beats the quick head on validation, the quick model (and its out-of-fold
    numbers) is kept and ``model.json`` says why (``training.advanced.fallback``).
    """
    started = time.perf_counter()
    backbone = open_backbone(settings, spec.backbone)
    if spec.near_duplicate_cosine is None:
        spec = replace(spec, near_duplicate_cosine=backbone.spec.copy_cosine)
    cache = open_cache(settings)
    try:
        train_set = embed(settings, items, backbone, cache, progress)
        if not train_set.items:
            raise NoReadableImages(f"no readable labeled images in {data_name}")
        test_set = None
        if test_items is not None:
            test_set = embed(settings, test_items, backbone, cache, progress)
    finally:
        cache.close()
    classifier = fit_on_embeddings(train_set, spec, progress=progress)
    tuned = None
    if spec.mode == "advanced":
        budget = spec.budget_seconds or 0.0
        tuned, details = fine_tune_within_budget(
            settings,
            backbone,
            train_set,
            classifier,
            deadline=started + budget,
            n_test_images=len(test_set.items) if test_set is not None else 0,
            progress=progress,
        )
        oof = tuned.oof_proba if tuned else classifier.oof_proba
        classifier = replace(
            classifier, oof_proba=oof, details={**classifier.details, "advanced": details}
        )
    evaluation = cross_validated_report(classifier)
    test_report = None
    test_skipped: list[SkippedImage] = []
    if test_set is not None:
        predict = None
        if tuned is not None:
            test_paths = [item.path for item in test_set.items]
            predict_items = tuned.predict_items
            predict = lambda idx: predict_items([test_paths[i] for i in idx])  # noqa: E731
        test_report, unknown = held_out_report(
            classifier,
            test_set,
            threshold=evaluation.threshold,
            name=test_name,
            predict=predict,
        )
        test_skipped = [*test_set.skipped, *unknown]
    pixels, features = _parity_sample(train_set, classifier, backbone, settings)
    novelty = fit_novelty(train_set.features, classifier.folds, classifier.Y.argmax(axis=1))
    model_dir = package_classifier(
        classifier,
        backbone,
        out_dir=out_dir,
        evaluation=evaluation,
        check_pixels=pixels,
        check_features=features,
        test=test_report,
        finetuned=tuned.module if tuned else None,
        novelty=novelty,
    )
    return TrainingRun(
        classifier=classifier,
        train_set=train_set,
        evaluation=evaluation,
        model_dir=model_dir,
        test=test_report,
        test_skipped=tuple(test_skipped),
        training_type="quick" if tuned is None else "advanced",
    )


def _parity_sample(
    data: EmbeddedSet, classifier: TrainedClassifier, backbone: OnnxBackbone, settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Up to N_PARITY_IMAGES training images, spread over labels: pixels and cached features."""
    order = np.argsort(classifier.Y.argmax(axis=1), kind="stable")
    picks = order[np.linspace(0, len(order) - 1, min(N_PARITY_IMAGES, len(order))).astype(int)]
    return _model_inputs(data, picks.tolist(), backbone, settings), data.features[picks]


def _model_inputs(
    data: EmbeddedSet, indices: Sequence[int], backbone: OnnxBackbone, settings: Settings
) -> np.ndarray:
    """The (N, S, S, 3) model inputs of ``data``'s images at ``indices``, decoded again."""
    cfg, limit = backbone.spec.preprocess, settings.max_image_pixels
    return np.stack(
        [
            decode_for_model(read_image_bytes(data.items[i].path), cfg, max_pixels=limit)[0]
            for i in indices
        ]
    )


def check_dataset(
    settings: Settings,
    items: Sequence[ImageItem],
    *,
    test_items: Sequence[ImageItem] | None = None,
    group_by: str | None = None,
    backbone: str = DEFAULT_BACKBONE,
    multilabel: bool = False,
    progress: ProgressCallback = no_progress,
) -> CheckReport:
    """What to fix in labeled ``items`` (and ``test_items``) before training.

    Embeddings come from the cache training uses; likely label issues come from the same
    cross-validated (out-of-fold) probabilities training computes.
    """
    started = time.perf_counter()
    model = open_backbone(settings, backbone)
    spec = TrainSpec(  # the cross-validation training would run
        backbone=backbone,
        multilabel=multilabel,
        group_by=group_by,
        near_duplicate_cosine=model.spec.copy_cosine,
    )
    cache = open_cache(settings)
    try:
        train_set = embed(settings, items, model, cache, progress)
        test_set = embed(settings, test_items, model, cache, progress) if test_items else None
    finally:
        cache.close()
    sets = [train_set] if test_set is None else [train_set, test_set]
    found: list[Finding] = detectors.find_unreadable(
        [(s.path, s.reason) for data in sets for s in data.skipped]
    )
    counts = Counter(label for item in train_set.items for label in item.labels)
    n_test = None if test_items is None else len(test_set.items if test_set else [])
    if not train_set.items:
        return CheckReport(0, {}, found, n_test, time.perf_counter() - started)

    every = [item for data in sets for item in data.items]
    paths = [item.display_path for item in every]
    infos = [info for data in sets for info in data.infos]
    widths, heights = [i.width for i in infos], [i.height for i in infos]
    found += detectors.find_several_labels(
        [item.display_path for item in train_set.items],
        [item.labels for item in train_set.items],
        multilabel=multilabel,
    )
    found += detectors.find_too_few_images(dict(counts))
    found += detectors.find_imbalance(
        dict(counts), is_class_weighted=spec.class_weight == "balanced"
    )
    found += detectors.find_too_small(paths, widths, heights, min_side=settings.check_min_side)
    found += detectors.find_too_large(paths, widths, heights, max_pixels=settings.check_max_pixels)

    n = len(train_set.items)
    shas = [sha for data in sets for sha in data.shas]
    dhashes = [info.dhash for info in infos]
    pixel_hashes = _pixel_hashes(every, shas, infos, settings.max_image_pixels)
    cosine = spec.near_duplicate_cosine
    train_links = copies.link_copies(
        shas[:n],
        dhashes[:n],
        pixel_hashes=pixel_hashes[:n],
        features=train_set.features,
        copy_cosine=cosine,
    )
    found += copies.find_duplicates(paths[:n], train_links)
    found += copies.find_near_duplicates(paths[:n], train_links)
    found += copies.find_conflicting_labels(
        paths[:n], [item.labels for item in train_set.items], train_links
    )
    if test_set is not None:
        all_links = copies.link_copies(
            shas,
            dhashes,
            pixel_hashes=pixel_hashes,
            features=np.concatenate([data.features for data in sets]),
            copy_cosine=cosine,
        )
        found += copies.find_leakage(
            paths,
            [i >= n for i in range(len(paths))],
            all_links,
            groups=[item.metadata.get(group_by) for item in every] if group_by else None,
        )
    found += _model_findings(settings, model, train_set, test_set, spec, progress)
    logger.info("checked %d images in %.1f s", n, time.perf_counter() - started)
    return CheckReport(
        n, dict(sorted(counts.items())), found, n_test, time.perf_counter() - started
    )


def _model_findings(
    settings: Settings,
    backbone: OnnxBackbone,
    train_set: EmbeddedSet,
    test_set: EmbeddedSet | None,
    spec: TrainSpec,
    progress: ProgressCallback,
) -> list[Finding]:
    """Label issues, outliers, the learning curve and shortcuts: what trained heads tell."""
    paths = [item.display_path for item in train_set.items]
    label_sets = [item.labels for item in train_set.items]
    found = detectors.find_outliers(paths, train_set.features)
    try:
        classifier = fit_on_embeddings(train_set, spec, progress=progress)
    except TagloopError as exc:  # too few images or labels: the count findings say so
        logger.info("no label-issue check: %s", exc.message)
        return found
    found += detectors.find_label_issues(
        paths,
        label_sets,
        classifier.oof_proba,
        classifier.labels,
        features=train_set.features,
        multilabel=spec.multilabel,
    )
    test_features, test_label_sets = None, None
    if test_set is not None:
        known, _ = split_known_labels(test_set.items, classifier.labels, whose="the training")
        if known:
            test_features = test_set.features[known]
            test_label_sets = [test_set.items[i].labels for i in known]
    found += curve.find_learning_curve(
        train_set.features,
        label_sets,
        classifier.labels,
        dhashes=[info.dhash for info in train_set.infos],
        groups=[item.metadata.get(spec.group_by) for item in train_set.items]
        if spec.group_by
        else None,
        test_features=test_features,
        test_label_sets=test_label_sets,
        spec=spec,
        fold_of=classifier.folds,
    )
    found += _shortcut_findings(settings, backbone, train_set, classifier, progress)
    return found


def _shortcut_findings(
    settings: Settings,
    backbone: OnnxBackbone,
    data: EmbeddedSet,
    classifier: TrainedClassifier,
    progress: ProgressCallback,
) -> list[Finding]:
    """Run the model (backbone + the head trained on every image) on samples of each tag's
    photos, occluded and transplanted: see :mod:`tagloop.insights.shortcuts`."""
    head, gem_p = classifier.head, backbone.spec.gem_p

    def probe(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, maps = backbone.feature_maps(pixels)
        return head.predict_proba(features), class_maps(maps, head.coef_, gem_p)

    def load(indices: Sequence[int]) -> np.ndarray:
        return _model_inputs(data, indices, backbone, settings)

    progress("shortcuts", 0, len(classifier.labels))
    started = time.perf_counter()
    tests = shortcuts.probe_tags(
        probe,
        load,
        classifier.Y,
        classifier.labels,
        [item.display_path for item in data.items],
        multilabel=classifier.spec.multilabel,
    )
    progress("shortcuts", len(classifier.labels), len(classifier.labels))
    logger.info(
        "shortcut check: %s in %.1f s",
        ", ".join(
            f"{t.tag} transplant {t.transplant_effect:.2f} drop {t.occlusion_drop:.2f}"
            for t in tests
        ),
        time.perf_counter() - started,
    )
    return shortcuts.find_shortcuts(tests)


def _pixel_hashes(
    items: Sequence[ImageItem], shas: Sequence[str], infos: Sequence[ImageInfo], max_pixels: int
) -> list[str | None]:
    """A hash of the decoded pixels, for images whose dHash and size another file shares
    (the only ones that can be pixel-identical without being byte-identical)."""
    keys = [(i.dhash, i.width, i.height) for i in infos]
    seen: dict[tuple[bytes, int, int], set[str]] = {}
    for key, sha in zip(keys, shas, strict=True):
        seen.setdefault(key, set()).add(sha)
    out: list[str | None] = []
    done: dict[str, str | None] = {}
    for item, key, sha in zip(items, keys, shas, strict=True):
        if len(seen[key]) < 2:
            out.append(None)
            continue
        if sha not in done:
            try:
                decoded = open_image(read_image_bytes(item.path), max_pixels=max_pixels)
                done[sha] = hashlib.sha256(decoded.image.tobytes()).hexdigest()
            except (TagloopError, OSError):
                done[sha] = None
        out.append(done[sha])
    return out
