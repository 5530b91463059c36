from __future__ import annotations

import numpy as np
import pytest

from tagloop.evaluate.metrics import build_report, choose_threshold

LABELS = ["a", "b", "c"]


def _onehot(idx: list[int], k: int = 3) -> np.ndarray:
    return np.eye(k, dtype=bool)[idx]


def test_multiclass_report_matches_hand_computed_numbers() -> None:
    y = _onehot([0, 0, 0, 1, 1, 2])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.6, 0.3, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.8, 0.1],
            [0.3, 0.6, 0.1],
            [0.1, 0.2, 0.7],
        ]
    )
    report = build_report(y, proba, LABELS, multilabel=False)
    assert report.accuracy == pytest.approx(5 / 6, abs=1e-6)
    assert report.matrix == ((2, 1, 0), (0, 2, 0), (0, 0, 1))
    a, b = report.per_label["a"], report.per_label["b"]
    assert (a.precision, a.recall, a.support) == (1.0, pytest.approx(2 / 3, abs=1e-6), 3)
    assert b.precision == pytest.approx(2 / 3, abs=1e-6) and b.recall == 1.0
    assert report.macro_f1 == pytest.approx(np.mean([0.8, 0.8, 1.0]), abs=1e-6)
    assert report.per_label["c"].average_precision == 1.0
    doc = report.to_dict()
    assert doc["confusion_matrix"] == {
        "labels": LABELS,
        "matrix": [[2, 1, 0], [0, 2, 0], [0, 0, 1]],
    }
    assert set(doc["per_label"]["a"]) == {
        "precision",
        "recall",
        "f1",
        "support",
        "average_precision",
    }


def test_label_without_images_has_no_average_precision_and_is_left_out_of_macro() -> None:
    y = _onehot([0, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    report = build_report(y, proba, LABELS, multilabel=False)
    assert report.per_label["c"].average_precision is None
    assert report.macro_f1 == 1.0


def test_multilabel_uses_threshold_and_exact_match_accuracy() -> None:
    y = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]], dtype=bool)
    proba = np.array([[0.9, 0.6, 0.1], [0.2, 0.4, 0.1], [0.7, 0.1, 0.8]])
    low = build_report(y, proba, LABELS, multilabel=True, threshold=0.35)
    high = build_report(y, proba, LABELS, multilabel=True, threshold=0.65)
    assert low.accuracy == 1.0 and low.threshold == 0.35
    assert high.accuracy == pytest.approx(1 / 3, abs=1e-6)
    assert choose_threshold(y, proba) <= 0.4
