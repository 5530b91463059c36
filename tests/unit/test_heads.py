from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tagloop.train.heads import LogisticHead, create_head


def _blobs(n: int = 90, k: int = 3, d: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(size=(n, d)) * 5 + 100  # noqa: N806 (offset and scale: standardization matters)
    X[np.arange(n), y] += 25
    return X.astype(np.float32), y


def test_multiclass_head_matches_a_standardized_sklearn_pipeline() -> None:
    X, y = _blobs()  # noqa: N806
    head = LogisticHead(C=0.5, class_weight=None).fit(X, np.eye(3, dtype=bool)[y])
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(X, y)
    np.testing.assert_allclose(head.predict_proba(X), reference.predict_proba(X), atol=1e-3)
    assert head.coef_.shape == (3, 10) and head.intercept_.shape == (3,)
    assert head.get_params()["C"] == 0.5


def test_probabilities_are_distributions_and_accurate_on_separable_data() -> None:
    X, y = _blobs(seed=1)  # noqa: N806
    proba = create_head("logistic").fit(X, np.eye(3, dtype=bool)[y]).predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (proba.argmax(axis=1) == y).mean() > 0.95


def test_two_labels_are_split_into_two_symmetric_logits() -> None:
    X, y = _blobs(k=2, seed=2)  # noqa: N806
    head = LogisticHead().fit(X, np.eye(2, dtype=bool)[y])
    np.testing.assert_allclose(head.coef_[0], -head.coef_[1], atol=1e-6)
    assert (head.predict_proba(X).argmax(axis=1) == y).mean() > 0.95


def test_a_label_missing_from_the_fit_is_never_predicted() -> None:
    X, y = _blobs(seed=3)  # noqa: N806
    Y = np.zeros((len(y), 4), dtype=bool)  # noqa: N806
    Y[np.arange(len(y)), y] = True  # label 3 has no images
    proba = LogisticHead().fit(X, Y).predict_proba(X)
    assert proba.shape == (len(y), 4) and proba[:, 3].max() < 1e-6


def test_multilabel_head_gives_independent_probabilities() -> None:
    X, y = _blobs(seed=4)  # noqa: N806
    Y = np.eye(3, dtype=bool)[y]  # noqa: N806
    Y[:, 2] |= Y[:, 0]  # every "0" image is also "2"
    Y = np.hstack([Y, np.zeros((len(y), 1), dtype=bool)])  # noqa: N806 (a label never present)
    proba = LogisticHead(multilabel=True).fit(X, Y).predict_proba(X)
    assert ((proba >= 0.5) == Y).mean() > 0.95
    assert proba[:, 3].max() < 1e-3


def test_unknown_head_name() -> None:
    with pytest.raises(ValueError, match="unknown head"):
        create_head("svm")
