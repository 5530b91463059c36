"""The facade: one method per use case; shells call these and nothing deeper.

Each method wires stages together (ingest → embed → train → evaluate → export / serve) and
keeps no logic of its own beyond choosing what to pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tagloop.config import Settings
from tagloop.embed.backbones import DEFAULT_BACKBONE
from tagloop.errors import LabelSetMismatch, ManifestInvalid, NoReadableImages
from tagloop.evaluate.metrics import build_report
from tagloop.evaluate.service import (
    split_known_labels,
)
from tagloop.ingest.decode import read_image_bytes
from tagloop.ingest.sources import Source, build_source
from tagloop.insights.findings import CheckReport
from tagloop.pipeline import check_dataset, train_and_package
from tagloop.serve.explain import Explanation
from tagloop.serve.predictor import FilePrediction, OnnxPredictor
from tagloop.train.service import TrainSpec, encode_labels
from tagloop.types import (
    EvaluationResult,
    ImageItem,
    ProgressCallback,
    SkippedImage,
    TrainResult,
    no_progress,
)

logger = logging.getLogger(__name__)


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
        test_items, test_unlabeled = _split_labeled(test_source) if test_source else ([], [])
        run = train_and_package(
            self.settings,
            items,
            spec=spec,
            out_dir=out_dir,
            test_items=test_items if test_source is not None else None,
            test_name=str(test),
            data_name=str(data),
            progress=progress,
        )
        return TrainResult(
            labels=run.classifier.labels,
            n_images=len(run.train_set.items),
            skipped=(*unlabeled, *run.train_set.skipped),
            backbone=spec.backbone,
            seconds=time.perf_counter() - started,
            evaluation=run.evaluation,
            test=run.test,
            model_dir=run.model_dir,
            label_counts=run.classifier.label_counts,
            n_embedded=run.train_set.n_computed,
            test_skipped=(*test_unlabeled, *run.test_skipped),
            training_type=run.training_type,
            advanced=run.classifier.details.get("advanced"),
        )

    def check(
        self,
        data: str | Path,
        *,
        test: str | Path | None = None,
        group_by: str | None = None,
        backbone: str = DEFAULT_BACKBONE,
        multilabel: bool = False,
        progress: ProgressCallback = no_progress,
    ) -> CheckReport:
        """What to fix in ``data`` (and ``test``) before training: the data check's findings."""
        source = build_source(data)
        test_source = build_source(test) if test is not None else None
        _check_group_column(source, group_by)
        items, _ = _split_labeled(source)
        test_items, _ = _split_labeled(test_source) if test_source else ([], [])
        return check_dataset(
            self.settings,
            items,
            test_items=test_items if test_source is not None else None,
            group_by=group_by,
            backbone=backbone,
            multilabel=multilabel,
            progress=progress,
        )

    def evaluate(
        self,
        model_dir: Path,
        data: str | Path,
        *,
        threshold: float | None = None,
        progress: ProgressCallback = no_progress,
    ) -> EvaluationResult:
        """Score the packaged model (the artifact that ships) on labeled data, at
        ``threshold`` (None: the model's own: the most probable label for multiclass, the
        chosen threshold for multilabel), by the rule every face uses."""
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
            threshold=threshold
            if threshold is not None
            else (predictor.threshold if predictor.is_multilabel else None),
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

    def explain(self, model_dir: Path, path: Path, *, label: str | None = None) -> Explanation:
        """Where ``label``'s score (default: the most probable label's) comes from in the image
        at ``path``; :func:`tagloop.serve.explain.overlay_png` draws it."""
        predictor = self.load_predictor(model_dir)
        return predictor.explain(predictor.decode(read_image_bytes(path)), label)

    def load_predictor(self, model_dir: Path) -> OnnxPredictor:
        return OnnxPredictor(
            model_dir,
            n_threads=self.settings.resolved_threads(),
            max_pixels=self.settings.max_image_pixels,
        ).load()


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
