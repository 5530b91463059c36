from __future__ import annotations

import numpy as np
import pytest

from tagloop.evaluate.metrics import build_report, choose_threshold, predicted_at

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
        "no_label": [0, 0, 0],
    }
    assert (a.true_positives, a.false_positives, a.false_negatives, a.true_negatives) == (
        2,
        0,
        1,
        3,
    )
    assert report.coverage == 1.0 and report.threshold is None  # always the top label


def test_a_multiclass_threshold_gives_no_label_below_it_and_every_figure_follows() -> None:
    """One rule: the top label if it reaches the threshold, else none; accuracy, coverage,
    precision, recall, the matrix and its no-label column all come from it."""
    y = _onehot([0, 0, 0, 1, 1, 2])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],  # a, kept
            [0.6, 0.3, 0.1],  # a, dropped at 0.7
            [0.2, 0.7, 0.1],  # wrongly b, kept
            [0.1, 0.8, 0.1],  # b, kept
            [0.3, 0.6, 0.1],  # b, dropped at 0.7
            [0.1, 0.2, 0.7],  # c, kept
        ]
    )
    given = predicted_at(proba, multilabel=False, threshold=0.7)
    assert given.sum(axis=1).tolist() == [1, 0, 1, 1, 0, 1]
    report = build_report(y, proba, LABELS, multilabel=False, threshold=0.7)
    assert report.threshold == 0.7
    assert report.accuracy == pytest.approx(3 / 6, abs=1e-6)
    assert report.coverage == pytest.approx(4 / 6, abs=1e-6)
    assert report.matrix == ((1, 1, 0), (0, 1, 0), (0, 0, 1))
    assert report.no_label == (1, 1, 0)
    assert report.precision == pytest.approx(3 / 4, abs=1e-6)  # 3 of 4 given labels right
    assert report.recall == pytest.approx(3 / 6, abs=1e-6)  # 3 of 6 true labels given
    a = report.per_label["a"]
    assert (a.precision, a.recall) == (1.0, pytest.approx(1 / 3, abs=1e-6))
    b = report.per_label["b"]
    assert (b.true_positives, b.false_positives, b.false_negatives) == (1, 1, 1)
    # Average precision does not depend on the threshold.
    plain = build_report(y, proba, LABELS, multilabel=False)
    assert a.average_precision == plain.per_label["a"].average_precision


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
    # At 0.65 row 1 gets no label: the no-label column counts it under its true label b.
    assert high.no_label == (0, 1, 0) and high.coverage == pytest.approx(2 / 3, abs=1e-6)
    b = high.per_label["b"]  # true in rows 0 and 1, given in none
    assert (b.true_positives, b.false_negatives, b.true_negatives) == (0, 2, 1)
