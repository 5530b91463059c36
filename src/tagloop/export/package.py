"""Build, check and write a model package from a trained classifier."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np

from tagloop.embed.backbones import OnnxBackbone
from tagloop.export.onnx import build_classifier_graph, check_parity
from tagloop.store.packages import write_package
from tagloop.train.service import TrainedClassifier
from tagloop.types import EvalReport

logger = logging.getLogger(__name__)

_VERSIONED = ("tagloop", "onnxruntime", "onnx", "numpy", "scikit-learn", "pillow", "torch")


def package_classifier(
    classifier: TrainedClassifier,
    backbone: OnnxBackbone,
    *,
    out_dir: Path,
    evaluation: EvalReport,
    check_pixels: np.ndarray,
    check_features: np.ndarray,
    test: EvalReport | None = None,
) -> Path:
    """Export backbone + head as one graph, refuse it unless it reproduces the trained model on
    ``check_pixels`` (whose cached features are ``check_features``), then write the package."""
    head = classifier.head
    model_bytes = build_classifier_graph(
        backbone.onnx_path,
        weight=head.coef_,
        bias=head.intercept_,
        multilabel=classifier.spec.multilabel,
        labels=classifier.labels,
    )
    diff = check_parity(model_bytes, check_pixels, head.predict_proba(check_features))
    logger.info("export parity on %d training images: max |diff| = %.2e", len(check_pixels), diff)
    meta: dict[str, Any] = {
        "labels": list(classifier.labels),
        "classification_type": "multilabel" if classifier.spec.multilabel else "multiclass",
        "threshold": evaluation.threshold,
        "inputs": {"image": "uint8 RGB, shape (N, S, S, 3) after `preprocessing`"},
        "outputs": {
            "probabilities": "float32 (N, K), in the order of `labels`",
            "features": f"float32 (N, {backbone.spec.feature_dim}), the backbone's embedding",
        },
        "preprocessing": backbone.spec.preprocess.to_dict(),
        "backbone": backbone.spec.to_dict(),
        "head": {"name": classifier.spec.head, "C": classifier.C},
        "metrics": evaluation.to_dict(),
        "test_metrics": test.to_dict() if test else None,
        "training": {
            "spec": classifier.spec.to_dict(),
            "n_images": len(classifier.Y),
            "label_counts": classifier.label_counts,
            **classifier.details,
        },
        "export_check": {"n_images": len(check_pixels), "max_abs_diff": diff},
        "versions": _versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return write_package(out_dir, onnx_bytes=model_bytes, meta=meta)


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
