"""Pure metrics: (true label indicator, probabilities, labels) → :class:`EvalReport`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from tagloop.types import EvalReport, LabelMetrics

_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def predicted_at(proba: np.ndarray, *, multilabel: bool, threshold: float | None) -> np.ndarray:
    """The labels each image is given, as a 0/1 matrix: the one rule every face shows.

    Multilabel: every label whose probability is at least ``threshold`` (None: 0.5).
    Multiclass: the most probable label when its probability is at least ``threshold``, else
    none ("no label"); None means always the most probable (threshold 0).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if multilabel:
        return np.asarray(proba >= (0.5 if threshold is None else threshold))
    out = np.zeros(proba.shape, dtype=bool)
    if len(proba) and proba.shape[1]:
        top = proba.argmax(axis=1)
        rows = np.arange(len(proba))
        out[rows, top] = proba[rows, top] >= (threshold or 0.0)
    return out


def choose_threshold(Y: np.ndarray, proba: np.ndarray) -> float:  # noqa: N803
    """The probability threshold (0.05 … 0.95) with the best macro F1; higher F1 is better."""
    best, best_f1 = 0.5, -1.0
    for t in _THRESHOLDS:
        _, _, f1, _ = precision_recall_fscore_support(
            Y, proba >= t, average="macro", zero_division=0
        )
        if f1 > best_f1 + 1e-9:
            best, best_f1 = float(t), float(f1)
    return best


def build_report(
    Y: np.ndarray,  # noqa: N803
    proba: np.ndarray,
    labels: Sequence[str],
    *,
    multilabel: bool,
    threshold: float | None = None,
    method: str = "",
) -> EvalReport:
    """Everything a face shows about predictions at ``threshold`` (see :func:`predicted_at`).

    Per label: precision, recall, F1, support, average precision (independent of the threshold)
    and its 2x2 counts. Overall: accuracy (images whose given labels are exactly their true
    ones), coverage (images given any label), precision, recall and F1 over every (image,
    label) decision, and macro averages over the labels that have images. The confusion
    matrix counts images of true label *i* given label *j* (rows true), and ``no_label`` those
    given none. All scores in [0, 1], higher is better.
    """
    Y = np.asarray(Y, dtype=bool)
    proba = np.asarray(proba, dtype=np.float64)
    k, n = len(labels), len(Y)
    if multilabel and threshold is None:
        threshold = 0.5
    pred = predicted_at(proba, multilabel=multilabel, threshold=threshold)
    tp = (pred & Y).sum(axis=0)
    n_pred, n_true = pred.sum(axis=0), Y.sum(axis=0)
    per_label: dict[str, LabelMetrics] = {}
    present: list[int] = []
    aps: list[float] = []
    for j, label in enumerate(labels):
        ap: float | None = None
        if n_true[j]:
            present.append(j)
            ap = _r(average_precision_score(Y[:, j], proba[:, j]))
            aps.append(ap)
        per_label[label] = LabelMetrics(
            precision=_r(tp[j] / n_pred[j] if n_pred[j] else 0.0),
            recall=_r(tp[j] / n_true[j] if n_true[j] else 0.0),
            f1=_f1(int(tp[j]), int(n_pred[j]), int(n_true[j])),
            support=int(n_true[j]),
            average_precision=ap,
            true_positives=int(tp[j]),
            false_positives=int(n_pred[j] - tp[j]),
            false_negatives=int(n_true[j] - tp[j]),
            true_negatives=int(n - n_pred[j] - n_true[j] + tp[j]),
        )

    def macro(field: str) -> float:
        values = [getattr(per_label[labels[j]], field) for j in present]
        return _r(float(np.mean(values)) if values else 0.0)

    given_none = ~pred.any(axis=1)
    all_tp, all_pred, all_true = int(tp.sum()), int(n_pred.sum()), int(n_true.sum())
    return EvalReport(
        n_images=n,
        accuracy=_r(float((pred == Y).all(axis=1).mean()) if n else 0.0),
        macro_f1=macro("f1"),
        macro_precision=macro("precision"),
        macro_recall=macro("recall"),
        macro_average_precision=_r(float(np.mean(aps))) if aps else None,
        per_label=per_label,
        labels=tuple(labels),
        matrix=tuple(
            tuple(int(v) for v in row) for row in (Y.T.astype(np.int64) @ pred.astype(np.int64))
        ),
        is_multilabel=multilabel,
        threshold=threshold,
        method=method,
        precision=_r(all_tp / all_pred if all_pred else 0.0),
        recall=_r(all_tp / all_true if all_true else 0.0),
        f1=_f1(all_tp, all_pred, all_true),
        coverage=_r(float((~given_none).mean()) if n else 0.0),
        no_label=tuple(int(v) for v in Y[given_none].sum(axis=0)) if k else (),
    )


def _r(value: float) -> float:
    return round(float(value), 6)


def _f1(tp: int, n_pred: int, n_true: int) -> float:
    """F1 from counts: true positives, predicted and true labels (0 when both are none)."""
    return _r(2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0)
