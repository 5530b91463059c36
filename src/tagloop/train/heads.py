"""Classification heads on embeddings, following the scikit-learn estimator contract.

Hyperparameters are set in ``__init__``; ``fit`` learns attributes ending in ``_`` and returns
``self``. A fitted head is a linear layer in the raw feature space (``coef_``, ``intercept_``)
followed by softmax (multiclass) or sigmoid (multilabel), so it exports to ONNX exactly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression


class LogisticHead:
    """Standardized features → multinomial (multiclass) or one-vs-rest (multilabel) logistic.

    ``C`` is the inverse L2 strength (smaller is stronger). ``class_weight="balanced"`` weighs
    each label inversely to its frequency, against imbalance.
    """

    def __init__(
        self,
        *,
        C: float = 0.1,  # noqa: N803 (scikit-learn's name)
        multilabel: bool = False,
        class_weight: str | None = "balanced",
        max_iter: int = 500,
    ) -> None:
        self.C = C
        self.multilabel = multilabel
        self.class_weight = class_weight
        self.max_iter = max_iter

    def get_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "multilabel": self.multilabel,
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
        }

    def fit(self, X: np.ndarray, Y: np.ndarray) -> LogisticHead:  # noqa: N803
        """``X``: (n, d) features; ``Y``: (n, k) 0/1 labels (one 1 per row if multiclass)."""
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=bool)
        self.n_classes_ = Y.shape[1]
        self.classes_ = np.arange(self.n_classes_)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-6] = 1.0
        Z = (X - mean) / scale
        if self.multilabel:
            coef, intercept = self._fit_one_vs_rest(Z, Y)
        else:
            coef, intercept = self._fit_multinomial(Z, Y.argmax(axis=1))
        self.mean_, self.scale_ = mean.astype(np.float32), scale.astype(np.float32)
        # Fold the standardization into the linear layer: logits = X @ coef_.T + intercept_.
        self.coef_ = (coef / scale).astype(np.float32)
        self.intercept_ = (intercept - (coef / scale) @ mean).astype(np.float32)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        logits: np.ndarray = np.asarray(X, np.float32) @ self.coef_.T + self.intercept_
        return logits

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        logits = self.decision_function(X).astype(np.float64)
        if self.multilabel:
            sigmoid: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
            return sigmoid
        logits -= logits.max(axis=1, keepdims=True)
        expd = np.exp(logits)
        softmax: np.ndarray = expd / expd.sum(axis=1, keepdims=True)
        return softmax

    def _fit_multinomial(self, Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        present = np.unique(y)
        coef = np.zeros((self.n_classes_, Z.shape[1]))
        intercept = np.full(self.n_classes_, -30.0)  # labels absent from this fit: never predicted
        if len(present) == 1:
            intercept[present[0]] = 0.0
            return coef, intercept
        model = _quiet(
            LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter).fit
        )(Z, y)
        if len(present) == 2:  # scikit-learn returns one logit for two classes: split it.
            coef[present[0]], coef[present[1]] = -model.coef_[0] / 2, model.coef_[0] / 2
            intercept[present[0]] = -model.intercept_[0] / 2
            intercept[present[1]] = model.intercept_[0] / 2
        else:
            coef[present], intercept[present] = model.coef_, model.intercept_
        return coef, intercept

    def _fit_one_vs_rest(self, Z: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        coef = np.zeros((self.n_classes_, Z.shape[1]))
        intercept = np.zeros(self.n_classes_)
        for k in range(self.n_classes_):
            positives = Y[:, k].mean()
            if positives in (0.0, 1.0):  # nothing to learn: a constant, clipped away from 0/1
                rate = min(max(positives, 1e-4), 1 - 1e-4)
                intercept[k] = np.log(rate / (1 - rate))
                continue
            model = _quiet(
                LogisticRegression(
                    C=self.C, class_weight=self.class_weight, max_iter=self.max_iter
                ).fit
            )(Z, Y[:, k])
            coef[k], intercept[k] = model.coef_[0], model.intercept_[0]
        return coef, intercept


HEADS: dict[str, Callable[..., LogisticHead]] = {"logistic": LogisticHead}


def create_head(name: str, **params: Any) -> LogisticHead:
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; choose one of {sorted(HEADS)}")
    return HEADS[name](**params)


def _quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fn(*args)

    return run
