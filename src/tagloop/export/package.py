"""Build, check and write a model package from a trained classifier."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.embed.backbones import OnnxBackbone
from tagloop.embed.cam import class_maps
from tagloop.export.finetuned import build_finetuned_graph, torch_outputs
from tagloop.export.onnx import add_novelty_output, build_classifier_graph, check_parity
from tagloop.store.packages import write_package
from tagloop.train.novelty import NoveltyModel
from tagloop.train.service import TrainedClassifier
from tagloop.types import EvalReport

if TYPE_CHECKING:
    import torch

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
    finetuned: torch.nn.Module | None = None,
    novelty: NoveltyModel | None = None,
) -> Path:
    """Export backbone + head as one graph, refuse it unless it reproduces the trained model on
    ``check_pixels`` (whose cached features are ``check_features``), then write the package.

    ``finetuned`` (advanced training; see :func:`tagloop.export.finetuned.packaged_module`)
    replaces the linear head on the frozen backbone; the graph is then checked against torch.
    ``novelty`` adds the ``novelty`` output (see :mod:`tagloop.train.novelty`), checked too.
    """
    head = classifier.head
    multilabel = classifier.spec.multilabel
    if finetuned is None:
        model_bytes = build_classifier_graph(
            backbone.onnx_path,
            weight=head.coef_,
            bias=head.intercept_,
            multilabel=multilabel,
            labels=classifier.labels,
            gem_p=backbone.spec.gem_p,
        )
        _, maps = backbone.feature_maps(check_pixels)
        expected = {
            "probabilities": head.predict_proba(check_features),
            "heatmaps": class_maps(maps, head.coef_, backbone.spec.gem_p),
        }
        head_meta: dict[str, Any] = {"name": classifier.spec.head, "C": classifier.C}
    else:
        size = backbone.spec.preprocess.image_size
        model_bytes = build_finetuned_graph(
            finetuned, image_size=size, multilabel=multilabel, labels=classifier.labels
        )
        expected = torch_outputs(finetuned, check_pixels)
        head_meta = {"name": "fine-tuned", "C_of_initial_head": classifier.C}
    expected_outputs = dict(expected)
    outputs = {
        "probabilities": "float32 (N, K), in the order of `labels`",
        "features": f"float32 (N, {backbone.spec.feature_dim}), the backbone's embedding",
        "heatmaps": "float32 (N, K, H, W): each label's logit spread over the last feature "
        "map's positions (sums to the logit minus the bias); H x W covers the model's input",
    }
    if novelty is not None:
        model_bytes = add_novelty_output(model_bytes, novelty.reference, novelty.k)
        expected_outputs["novelty"] = novelty.score(check_features)
        outputs["novelty"] = (
            "float32 (N,), how unlike the training images (see `novelty`): "
            "unknown when above novelty.threshold"
        )
    diffs = check_parity(model_bytes, check_pixels, expected_outputs)
    diff = max(diffs.values())
    logger.info("export parity on %d training images: max |diff| = %s", len(check_pixels), diffs)
    meta: dict[str, Any] = {
        "labels": list(classifier.labels),
        "classification_type": "multilabel" if classifier.spec.multilabel else "multiclass",
        "threshold": evaluation.threshold,
        "inputs": {"image": "uint8 RGB, shape (N, S, S, 3) after `preprocessing`"},
        "outputs": outputs,
        "preprocessing": backbone.spec.preprocess.to_dict(),
        "backbone": backbone.spec.to_dict(),
        "head": head_meta,
        # What the graph holds: "advanced" (a fine-tuned tail) or "quick" (a linear head), also
        # when advanced training was asked for but fell back (training.advanced.fallback).
        "training_type": "quick" if finetuned is None else "advanced",
        "novelty": novelty.to_dict() if novelty is not None else None,
        "metrics": evaluation.to_dict(),
        "test_metrics": test.to_dict() if test else None,
        "training": {
            "spec": classifier.spec.to_dict(),
            "n_images": len(classifier.Y),
            "label_counts": classifier.label_counts,
            **classifier.details,
        },
        "export_check": {
            "n_images": len(check_pixels),
            "max_abs_diff": diff,
            "max_abs_diff_by_output": diffs,
        },
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
