"""Advanced training: fine-tune the backbone's tail within a time budget, with honest numbers.

The budget is planned, then filled:

1. Calibrate: time the trunk on one batch and two training steps of the tail.
2. Plan: the most views per image and epochs whose estimated cost fits the budget, with
   quick training's outer folds (see :data:`PLANS`); :func:`plan_budget` returns None when
   even the smallest plan does not fit, and the caller keeps the quick model, saying so.
3. For each outer fold, then for the final model: an inner split (groups and near-duplicates
   kept together) of that model's own training images; a logistic head fitted on the inner
   training part starts the linear layer; trial 1 uses the defaults of :class:`TuneConfig`,
   and while the model's share of the remaining time allows another trial, Optuna (TPE)
   proposes learning rate, weight decay, label smoothing and the linear layer's learning-rate
   factor. The trial with the lowest inner validation loss chooses the settings and the number
   of epochs; the model is then refitted with them on all its training images (validation
   part included), starting from a head fitted on all of them. When epoch 0 wins, the model is
   that head: the quick model for those images.

The outer folds' models predict their held-out fold: those out-of-fold probabilities are the
iteration's reported performance, so no reported image took part in choosing the
hyperparameters or the stopping epoch of the model that predicted it.

Just over 400 lines: the plan, the folds and the trials share one budget clock; split apart,
each would have to be handed the time left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.embed.trunk import OnnxTrunk, tail_module
from tagloop.train.finetune import (
    TuneConfig,
    TunedModel,
    balanced_weights,
    device,
    fine_tune,
    predict_proba,
)
from tagloop.train.heads import LogisticHead, create_head
from tagloop.train.service import TrainedClassifier, label_strata
from tagloop.train.splits import make_folds
from tagloop.types import ProgressCallback, no_progress

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# (outer folds, views per image, epochs), best first; the first whose estimate fits is used.
# The outer folds stay those of quick training: with 3 folds each reported model trained on
# two thirds of the images instead of four fifths, so the estimate was not comparable with
# quick training's and lower in part for that reason (0.820 against 0.852 on the sample
# photos at 5 minutes).
PLANS = ((5, 5, 5), (5, 4, 4), (5, 3, 3), (5, 2, 2), (5, 2, 1))
INNER_VAL_SHARE = 0.2  # one inner fold of five
MAX_TRIALS = 12
SEARCH_SPACE = {
    "lr": (1e-5, 5e-4, "log"),
    "weight_decay": (1e-3, 0.1, "log"),
    "label_smoothing": (0.0, 0.2, "linear"),
    "head_lr_mult": (1.0, 30.0, "log"),
}
# The estimate's margin: decoding and augmenting views compete with the trunk for the cores.
CACHE_OVERHEAD = 1.5
TRAIN_OVERHEAD = 1.15


@dataclass(frozen=True)
class Rates:
    trunk_views_per_second: float
    train_samples_per_second: float
    device: str


@dataclass(frozen=True)
class Plan:
    n_folds: int
    n_views: int
    epochs: int
    estimated_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_folds": self.n_folds,
            "n_views": self.n_views,
            "epochs": self.epochs,
            "estimated_seconds": round(self.estimated_seconds, 1),
        }


@dataclass
class AdvancedResult:
    model: torch.nn.Module  # the final model: tail + linear layer, on trunk activations
    oof_proba: np.ndarray
    # Whether the final model's kept epoch is a fine-tuned one (epoch 0 is the quick head).
    improved: bool = True
    details: dict[str, Any] = field(default_factory=dict)


def measure_rates(
    trunk: OnnxTrunk, net: torch.nn.Module, cut: int, n_labels: int, batch_size: int = 64
) -> Rates:
    """How fast the trunk runs and the tail trains here (a few seconds)."""
    import torch

    size = trunk.spec.preprocess.image_size
    pixels = np.random.default_rng(0).integers(0, 256, (16, size, size, 3), dtype=np.uint8)
    trunk.run(pixels[:2])
    started = time.perf_counter()
    trunk.run(pixels)
    trunk_rate = len(pixels) / max(time.perf_counter() - started, 1e-6)

    dev = device()
    dim = trunk.spec.feature_dim
    tail = tail_module(net, cut, gem_p=trunk.spec.gem_p)
    model = TunedModel(tail, np.zeros((n_labels, dim)), np.zeros(n_labels))
    model.to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    x = torch.randn(batch_size, *trunk.output_shape, device=dev)
    target = torch.zeros(batch_size, dtype=torch.long, device=dev)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), target)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    train_rate = batch_size / max(min(times[1:]), 1e-6)
    logger.info("rates: trunk %.0f views/s, tail training %.0f img/s", trunk_rate, train_rate)
    return Rates(trunk_rate, train_rate, dev.type)


def estimate_seconds(n_images: int, plan: tuple[int, int, int], rates: Rates) -> float:
    """Caching every view, then ``folds + 1`` models of ``epochs`` epochs (with validation),
    each refitted on all its training images."""
    n_folds, n_views, epochs = plan
    cache = n_images * n_views / rates.trunk_views_per_second * CACHE_OVERHEAD
    fit_share = (1 - INNER_VAL_SHARE) + 1  # the search's first trial, then the refit
    samples = epochs * n_images * fit_share * ((n_folds - 1) + 1)  # k outer models + final
    evaluated = epochs * n_images * (n_folds + 1) * INNER_VAL_SHARE + n_images
    train = (samples + evaluated / 4) / rates.train_samples_per_second * TRAIN_OVERHEAD
    return cache + train


def plan_budget(n_images: int, n_folds: int, seconds_left: float, rates: Rates) -> Plan | None:
    """The best plan whose estimate fits ``seconds_left``; None when none does."""
    for folds, views, epochs in PLANS:
        folds = min(folds, n_folds)
        cost = estimate_seconds(n_images, (folds, views, epochs), rates)
        if cost <= seconds_left:
            return Plan(folds, views, epochs, cost)
    return None


def train_advanced(
    views: np.ndarray,
    features: np.ndarray,
    base: TrainedClassifier,
    *,
    net: torch.nn.Module,
    cut: int,
    gem_p: float,
    plan: Plan,
    deadline: float,
    clock: Callable[[], float] = time.perf_counter,
    progress: ProgressCallback = no_progress,
) -> AdvancedResult:
    """Outer-fold models (for the reported numbers), then the final model, within ``deadline``.

    ``views``: (N, V, C, H, W) trunk activations; ``features``: (N, D) frozen features;
    ``base``: the quick classifier on the same images (its folds and related groups are used);
    ``net`` is cut at block ``cut``, and its tail pools as the backbone does (``gem_p``).
    """
    spec, Y = base.spec, base.Y  # noqa: N806
    strata = label_strata(Y)
    groups = base.groups if base.groups is not None else np.arange(len(Y))
    fold_of = base.folds % plan.n_folds
    everything = np.arange(len(Y))
    jobs: list[tuple[str, np.ndarray, np.ndarray]] = [
        (f"fold {f + 1}/{plan.n_folds}", everything[fold_of != f], everything[fold_of == f])
        for f in range(plan.n_folds)
    ]
    jobs.append(("final model", everything, everything[:0]))
    oof = np.zeros(Y.shape, dtype=np.float64)
    report = _Reporter(progress, clock, deadline)
    runs: list[dict[str, Any]] = []
    final: torch.nn.Module | None = None
    improved = False
    for m, (name, train_idx, test_idx) in enumerate(jobs):
        fit_idx, val_idx = _inner_split(train_idx, strata, groups, spec.random_state + 7 + m)
        head = create_head(
            spec.head, C=base.C, multilabel=spec.multilabel, class_weight=spec.class_weight
        ).fit(features[fit_idx], Y[fit_idx])
        share_end = clock() + (deadline - clock()) / (len(jobs) - m)

        def make_model(head: LogisticHead = head) -> torch.nn.Module:
            tail = tail_module(net, cut, gem_p=gem_p)
            model: torch.nn.Module = TunedModel(
                tail, head.coef_, head.intercept_, mean=head.mean_, scale=head.scale_
            )
            return model

        def on_progress(
            trial: int | str, epoch: int, step: int, steps: int, val: float | None, m: int = m
        ) -> None:
            what = "refit on all its images" if trial == "refit" else f"trial {trial}"
            report(
                f"{jobs[m][0]} (model {m + 1}/{len(jobs)}), {what}, "
                f"epoch {epoch}/{plan.epochs} {step}/{steps}"
                + ("" if val is None else f", validation loss {val:.3f}")
            )

        best, trials = _search(
            make_model,
            views,
            Y,
            fit_idx,
            val_idx,
            epochs=plan.epochs,
            multilabel=spec.multilabel,
            class_weight=balanced_weights(Y[fit_idx]) if spec.class_weight else None,
            share_end=share_end,
            refit_factor=len(train_idx) / max(1, len(fit_idx)),
            deadline=deadline,
            seed=spec.random_state + m,
            clock=clock,
            on_progress=on_progress,
        )
        _, result = best
        # Refit on all of this model's training images (the validation part too) with the
        # chosen settings for the chosen number of epochs: the held-out images still took no
        # part, and the model sees a fifth more data. Epoch 0 chosen: the quick head itself.
        head_all = create_head(
            spec.head, C=base.C, multilabel=spec.multilabel, class_weight=spec.class_weight
        ).fit(features[train_idx], Y[train_idx])
        model = make_model(head_all)
        refit = None
        if result.best_epoch > 0:
            refit = fine_tune(
                model,
                views,
                Y,
                train_idx,
                train_idx[:0],
                config=replace(result.config, epochs=result.best_epoch),
                multilabel=spec.multilabel,
                class_weight=balanced_weights(Y[train_idx]) if spec.class_weight else None,
                deadline=deadline,
                seed=(spec.random_state + m) * 100,
                clock=clock,
                on_progress=partial(on_progress, "refit"),
            )
        if len(test_idx):
            oof[test_idx] = predict_proba(model, views, test_idx, multilabel=spec.multilabel)
        else:
            final, improved = model, result.best_epoch > 0
        runs.append(
            {
                "model": name,
                "n_train": int(len(fit_idx)),
                "n_validation": int(len(val_idx)),
                "n_refit": int(len(train_idx)),
                "n_held_out": int(len(test_idx)),
                "chosen": result.config.to_dict(),
                "best_epoch": result.best_epoch,
                "validation_loss": result.val_loss,
                "refit_seconds": None if refit is None else round(refit.seconds, 1),
                "refit_stopped_by_budget": None if refit is None else refit.hit_deadline,
                "trials": trials,
            }
        )
        logger.info(
            "%s: %d trials, best epoch %d, validation loss %s",
            name,
            len(trials),
            result.best_epoch,
            result.val_loss,
        )
    assert final is not None  # noqa: S101 - the last job is always the final model
    return AdvancedResult(model=final, oof_proba=oof, improved=improved, details={"models": runs})


Trial = tuple[Any, Any]  # (model, TuneResult)


def _search(
    make_model: Callable[[], torch.nn.Module],
    views: np.ndarray,
    Y: np.ndarray,  # noqa: N803
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    epochs: int,
    multilabel: bool,
    class_weight: np.ndarray | None,
    share_end: float,
    refit_factor: float,
    deadline: float,
    seed: int,
    clock: Callable[[], float],
    on_progress: Callable[[int, int, int, int, float | None], None],
) -> tuple[Trial, list[dict[str, Any]]]:
    """Trials until this model's share of the time is used, less the refit's.

    Trial 1 runs the defaults to the end (only ``deadline`` stops it); its time, times
    ``refit_factor`` (all training images over the fitted part), is kept for the refit. Later
    trials stop at ``share_end`` less that and count with the best epoch they reached.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    defaults = TuneConfig(epochs=epochs)
    study.enqueue_trial({name: getattr(defaults, name) for name in SEARCH_SPACE})
    best: Trial | None = None
    trials: list[dict[str, Any]] = []
    search_end = share_end
    while True:
        trial = study.ask()
        values = {
            name: trial.suggest_float(name, low, high, log=scale == "log")
            for name, (low, high, scale) in SEARCH_SPACE.items()
        }
        config = replace(
            defaults,
            lr=values["lr"],
            weight_decay=values["weight_decay"],
            label_smoothing=values["label_smoothing"],
            head_lr_mult=values["head_lr_mult"],
        )
        model = make_model()
        number = len(trials) + 1
        result = fine_tune(
            model,
            views,
            Y,
            fit_idx,
            val_idx,
            config=config,
            multilabel=multilabel,
            class_weight=class_weight,
            deadline=deadline if number == 1 else min(search_end, deadline),
            seed=seed * 100 + number,
            clock=clock,
            on_progress=partial(on_progress, number),
        )
        score = result.val_loss if result.val_loss is not None else float("inf")
        study.tell(trial, score)
        trials.append(
            {
                **{k: round(v, 6) for k, v in values.items()},
                "validation_loss": result.val_loss,
                "validation_history": [round(v, 4) for v in result.history],
                "best_epoch": result.best_epoch,
                "seconds": round(result.seconds, 1),
                "stopped_by_budget": result.hit_deadline,
            }
        )
        if best is None or score < (best[1].val_loss or float("inf")):
            best = (model, result)
        if number == 1:
            search_end = share_end - result.seconds * refit_factor
        # Without a validation split there is nothing to compare trials on.
        if len(val_idx) == 0 or number >= MAX_TRIALS or clock() >= min(search_end, deadline) - 1:
            return best, trials


def _inner_split(
    idx: np.ndarray, strata: np.ndarray, groups: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """One grouped, stratified fifth of ``idx`` for validation; none when groups are too few."""
    try:
        folds = make_folds(
            strata[idx], groups[idx], n_splits=round(1 / INNER_VAL_SHARE), random_state=seed
        )
    except ValueError:
        return idx, idx[:0]
    fit, val = folds[0]
    return idx[fit], idx[val]


class _Reporter:
    """Progress on the fine-tuning stage: seconds used of the budget, and what runs now."""

    def __init__(self, progress: ProgressCallback, clock: Callable[[], float], deadline: float):
        self.progress, self.clock, self.deadline = progress, clock, deadline
        self.started = clock()
        self.last = -1.0

    def __call__(self, what: str) -> None:
        now = self.clock()
        if now - self.last < 0.5:
            return
        self.last = now
        left = max(0.0, self.deadline - now)
        total = max(1, int(round(self.deadline - self.started)))
        self.progress(
            "fine-tune",
            min(total, int(now - self.started)),
            total,
            detail=f"{what}, {int(left) // 60}:{int(left) % 60:02d} left",
        )
