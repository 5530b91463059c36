"""Advanced training's stages between quick training and packaging: load the network, export
and run the trunk over augmented views (a memory-mapped cache in a temporary folder, removed
afterwards), fine-tune within the budget (:mod:`tagloop.train.advanced`), and build the module
the package exports.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.config import Settings
from tagloop.embed.backbones import OnnxBackbone
from tagloop.embed.service import EmbeddedSet
from tagloop.embed.trunk import cache_views, create_trunk, default_cut, load_network
from tagloop.export.finetuned import packaged_module
from tagloop.store.scratch import make_scratch_dir
from tagloop.train.advanced import SEARCH_SPACE, measure_rates, plan_budget, train_advanced
from tagloop.train.finetune import TuneConfig, predict_proba
from tagloop.train.service import TrainedClassifier
from tagloop.types import ProgressCallback, no_progress

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# Kept free at the end of the budget for the ONNX export, its parity check and the package
# (measured: about 5 s for EfficientNet-Lite0 on 2 cores), plus a test set's predictions.
EXPORT_RESERVE_SECONDS = 7.0


@dataclass
class FineTuned:
    """A fine-tuned model ready to export, its out-of-fold probabilities and what was done."""

    module: torch.nn.Module  # uint8 pixels → (probabilities, features)
    oof_proba: np.ndarray
    predict_items: Callable[[Sequence[Path]], np.ndarray]


def fine_tune_within_budget(
    settings: Settings,
    backbone: OnnxBackbone,
    train_set: EmbeddedSet,
    classifier: TrainedClassifier,
    *,
    deadline: float,
    n_test_images: int = 0,
    clock: Callable[[], float] = time.perf_counter,
    progress: ProgressCallback = no_progress,
) -> tuple[FineTuned | None, dict[str, Any]]:
    """Fine-tune until ``deadline`` (a ``clock`` time, the end of the whole budget).

    Returns (None, details with ``fallback``) when the budget left cannot hold the smallest
    plan: the caller keeps the quick model.
    """
    import torch

    spec = classifier.spec
    threads = settings.resolved_threads()
    torch.set_num_threads(threads)
    details: dict[str, Any] = {
        "budget_seconds": spec.budget_seconds,
        "searched": {
            name: {"low": low, "high": high, "scale": scale}
            for name, (low, high, scale) in SEARCH_SPACE.items()
        },
        "defaults": TuneConfig().to_dict(),
        "selection": "lowest validation log-loss on an inner split (groups and near-duplicates "
        "kept together) of each model's own training images; the reported metrics are the "
        "outer folds' held-out predictions",
    }
    started = clock()
    progress("fine-tune", 0, 1, detail="preparing the trunk")
    net = load_network(backbone.spec)
    cut = default_cut(net)
    details["cut_block"] = cut
    trunk = create_trunk(backbone.spec, cut=cut, cache_dir=settings.cache_dir, n_threads=threads)
    rates = measure_rates(trunk, net, cut, len(classifier.labels))
    details["rates"] = {
        "trunk_views_per_second": round(rates.trunk_views_per_second, 1),
        "train_images_per_second": round(rates.train_samples_per_second, 1),
        "device": rates.device,
    }
    work_end = (
        deadline
        - EXPORT_RESERVE_SECONDS
        - 1.5 * n_test_images / max(rates.trunk_views_per_second, 1.0)
    )
    plan = plan_budget(
        len(train_set.items), int(classifier.details["n_folds"]), work_end - clock(), rates
    )
    details["setup_seconds"] = round(clock() - started, 1)
    if plan is None:
        details["fallback"] = (
            "the budget is too small for one epoch of fine-tuning with cross-validation on "
            f"{len(train_set.items)} images here; the quick model was kept"
        )
        logger.warning(details["fallback"])
        return None, details
    details["plan"] = plan.to_dict()
    tmp = make_scratch_dir(settings.cache_dir / "scratch", "views-")
    try:
        cache = cache_views(
            [item.path for item in train_set.items],
            trunk=trunk,
            n_views=plan.n_views,
            out_path=tmp / "views.npy",
            max_pixels=settings.max_image_pixels,
            seed=spec.random_state,
            batch_size=settings.batch_size,
            n_threads=threads,
            progress=progress,
            clock=clock,
        )
        details["view_cache"] = {
            "n_views": plan.n_views,
            "bytes": cache.n_bytes,
            "seconds": round(cache.seconds, 1),
            "dtype": "float16",
        }
        result = train_advanced(
            cache.views,
            train_set.features,
            classifier,
            net=net,
            cut=cut,
            gem_p=backbone.spec.gem_p,
            plan=plan,
            deadline=work_end,
            clock=clock,
            progress=progress,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    details.update(result.details)
    details["fine_tune_seconds"] = round(clock() - started, 1)
    if not result.improved:
        details["fallback"] = (
            "no fine-tuned epoch beat the quick head on the final model's validation images; "
            "the quick model (trained on every image) was kept"
        )
        logger.warning(details["fallback"])
        return None, details

    def predict_items(paths: Sequence[Path]) -> np.ndarray:
        """Probabilities of other images (a test set) from the fine-tuned model."""
        scratch = make_scratch_dir(settings.cache_dir / "scratch", "views-")
        try:
            plain = cache_views(
                list(paths),
                trunk=trunk,
                n_views=1,
                out_path=scratch / "views.npy",
                max_pixels=settings.max_image_pixels,
                batch_size=settings.batch_size,
                n_threads=threads,
            )
            idx = np.arange(len(paths))
            return predict_proba(result.model, plain.views, idx, multilabel=spec.multilabel)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    module = packaged_module(backbone.spec, net, cut, result.model, spec.multilabel)
    return FineTuned(module, result.oof_proba, predict_items), details
