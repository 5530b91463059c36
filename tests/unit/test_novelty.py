"""Novelty ("unknown"): the kNN distance, its calibration on the training folds, the ONNX
output that carries it, and the review order that puts unknown photos first."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from tagloop.export.onnx import add_novelty_output
from tagloop.review.select import rank_for_review, review_priority
from tagloop.train.novelty import fit_novelty, knn_distance, unit_rows


def _clusters(n_per: int = 40, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three clusters with fixed centres; ``seed`` draws the points."""
    centres = np.random.default_rng(99).normal(0, 1, (3, dim)) + 3.0  # positive, like ReLU
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(0, 0.3, (n_per, dim)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(3), n_per)


def test_knn_distance_is_zero_for_a_copy_and_grows_with_the_angle() -> None:
    ref = unit_rows(np.array([[1.0, 0.0], [0.0, 1.0]]))
    got = knn_distance(ref, unit_rows(np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])), k=1)
    np.testing.assert_allclose(got, [0.0, 1 - np.sqrt(0.5), 1.0], atol=1e-6)
    # k larger than the reference set uses all of it
    assert knn_distance(ref, unit_rows(np.array([[1.0, 0.0]])), k=5)[0] == pytest.approx(0.5)


def test_threshold_flags_the_calibration_share_and_far_points() -> None:
    x, y = _clusters()
    folds = np.arange(len(x)) % 5
    model = fit_novelty(x, folds, y, quantile=0.95)
    assert model.k == 5 and model.reference.dtype == np.float16
    # New points drawn like the training ones: about 5% flagged.
    fresh, _ = _clusters(n_per=400, seed=1)
    share = model.unknown(model.score(fresh)).mean()
    assert 0.01 < share < 0.15
    far = -np.abs(np.random.default_rng(2).normal(0, 1, (20, x.shape[1]))).astype(np.float32)
    assert model.unknown(model.score(far)).all()
    assert model.to_dict()["rule"] == "unknown when novelty > threshold"


def test_calibration_never_scores_an_image_against_its_own_fold() -> None:
    """Exact copies share a fold (the training folds keep copies together): scored against the
    other folds, a copy pair does not make the threshold look like 0."""
    x, y = _clusters(n_per=20)
    doubled = np.concatenate([x, x])
    folds = np.concatenate([np.arange(len(x)) % 4, np.arange(len(x)) % 4])
    model = fit_novelty(doubled, folds, np.concatenate([y, y]), quantile=0.5)
    assert model.threshold > 1e-3


def test_large_sets_keep_a_stratified_reference_sample() -> None:
    x, y = _clusters(n_per=400)
    model = fit_novelty(x, np.arange(len(x)) % 5, y, max_reference=300)
    assert len(model.reference) <= 300
    # every cluster is represented: each one's points score low
    for c in range(3):
        assert np.median(model.score(x[y == c])) < model.threshold


def test_onnx_novelty_output_matches_the_library() -> None:
    x, y = _clusters()
    model = fit_novelty(x, np.arange(len(x)) % 5, y)
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", x.shape[1]])
    out = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", x.shape[1]])
    identity = helper.make_node("Identity", ["image"], ["features"])
    graph = helper.make_graph([identity], "g", [inp], [out])
    base = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    extended = add_novelty_output(base.SerializeToString(), model.reference, model.k)
    onnx.checker.check_model(onnx.load_from_string(extended))
    session = ort.InferenceSession(extended, providers=["CPUExecutionProvider"])
    queries = np.concatenate([x[:10], -x[:3]]).astype(np.float32)
    (got,) = session.run(["novelty"], {"image": queries})
    np.testing.assert_allclose(got, model.score(queries), atol=1e-5)


def test_unknown_photos_come_first_in_review() -> None:
    proba = np.array([[0.7, 0.3], [0.99, 0.01], [0.6, 0.4], [0.98, 0.02]])
    unknown = np.array([False, True, False, True])
    priority = review_priority(proba, multilabel=False, unknown=unknown)
    assert priority[1] == priority[3] == 1.0
    order = rank_for_review(proba, None, multilabel=False, unknown=unknown)
    assert set(order[:2].tolist()) == {1, 3}
    assert order[2:].tolist() == [2, 0]
    with pytest.raises(ValueError, match="unknown must have shape"):
        review_priority(proba, multilabel=False, unknown=np.array([True]))
