"""Pure metrics: (true label indicator, probabilities, labels) → :class:`EvalReport`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from tagloop.types import EvalReport, LabelMetrics

_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def predict_indicator(proba: np.ndarray, *, multilabel: bool, threshold: float = 0.5) -> np.ndarray:
    """Predicted labels as a 0/1 matrix: argmax for multiclass, ``>= threshold`` for multilabel."""
    if multilabel:
        return np.asarray(proba >= threshold)
    out = np.zeros(proba.shape, dtype=bool)
    if len(proba):
        out[np.arange(len(proba)), proba.argmax(axis=1)] = True
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
    """Per-label precision, recall, F1, support and average precision; macro averages; the
    confusion matrix (rows: true label, columns: predicted label). All scores in [0, 1], higher
    is better. For multilabel, ``accuracy`` is the exact-match ratio and the matrix counts
    images with true label *i* that were predicted *j*.
    """
    Y = np.asarray(Y, dtype=bool)
    k = len(labels)
    if multilabel:
        threshold = 0.5 if threshold is None else threshold
    pred = predict_indicator(proba, multilabel=multilabel, threshold=threshold or 0.5)
    precision, recall, f1, support = precision_recall_fscore_support(
        Y, pred, average=None, labels=list(range(k)), zero_division=0
    )
    per_label: dict[str, LabelMetrics] = {}
    aps: list[float] = []
    for j, label in enumerate(labels):
        ap: float | None = None
        if Y[:, j].any():
            ap = _r(average_precision_score(Y[:, j], proba[:, j]))
            aps.append(ap)
        per_label[label] = LabelMetrics(
            precision=_r(precision[j]),
            recall=_r(recall[j]),
            f1=_r(f1[j]),
            support=int(support[j]),
            average_precision=ap,
        )
    present = [j for j in range(k) if Y[:, j].any()]  # macro averages over labels with images
    n = len(Y)
    return EvalReport(
        n_images=n,
        accuracy=_r(float((pred == Y).all(axis=1).mean()) if n else 0.0),
        macro_f1=_r(float(np.mean(f1[present])) if present else 0.0),
        macro_precision=_r(float(np.mean(precision[present])) if present else 0.0),
        macro_recall=_r(float(np.mean(recall[present])) if present else 0.0),
        macro_average_precision=_r(float(np.mean(aps))) if aps else None,
        per_label=per_label,
        labels=tuple(labels),
        matrix=tuple(
            tuple(int(v) for v in row) for row in (Y.T.astype(np.int64) @ pred.astype(np.int64))
        ),
        is_multilabel=multilabel,
        threshold=threshold if multilabel else None,
        method=method,
    )


def _r(value: float) -> float:
    return round(float(value), 6)


def _f1(tp: int, n_pred: int, n_true: int) -> float:
    """F1 from counts: true positives, predicted and true labels (0 when both are none)."""
    return _r(2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0)


def threshold_performance(
    Y: np.ndarray,  # noqa: N803
    proba: np.ndarray,
    *,
    threshold: float,
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Custom Vision's iteration performance: a label is predicted when its probability is at
    least ``threshold``. Returns the overall (micro) precision, recall and F1 with the macro F1
    and mean average precision over labels that have images, and per label (in column order)
    its precision, recall, F1 and average precision. All in [0, 1], higher is better; a
    label without images has average precision 0.
    """
    Y = np.asarray(Y, dtype=bool)
    pred = np.asarray(proba) >= threshold
    per_label = []
    for j in range(Y.shape[1]):
        tp = int((pred[:, j] & Y[:, j]).sum())
        n_pred, n_true = int(pred[:, j].sum()), int(Y[:, j].sum())
        ap = float(average_precision_score(Y[:, j], proba[:, j])) if n_true else 0.0
        per_label.append(
            {
                "precision": _r(tp / n_pred if n_pred else 0.0),
                "recall": _r(tp / n_true if n_true else 0.0),
                "f1": _f1(tp, n_pred, n_true),
                "average_precision": _r(ap),
            }
        )
    tp, n_pred, n_true = int((pred & Y).sum()), int(pred.sum()), int(Y.sum())
    has_images = [bool(Y[:, j].any()) for j in range(Y.shape[1])]
    present = [p for p, t in zip(per_label, has_images, strict=True) if t]
    overall = {
        "precision": _r(tp / n_pred if n_pred else 0.0),
        "recall": _r(tp / n_true if n_true else 0.0),
        "f1": _f1(tp, n_pred, n_true),
        "macro_f1": _r(float(np.mean([p["f1"] for p in present])) if present else 0.0),
        "average_precision": _r(
            float(np.mean([p["average_precision"] for p in present])) if present else 0.0
        ),
    }
    return overall, per_label
