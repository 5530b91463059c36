from __future__ import annotations

import math

import numpy as np
import pytest

from tagloop.review.select import rank_for_review, uncertainty

# --- uncertainty: multiclass -------------------------------------------------------------------


def _binary_entropy(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([1.0, 0.0], 0.0),
        ([0.0, 1.0, 0.0], 0.0),
        ([0.0] * 9 + [1.0], 0.0),
        ([0.5, 0.5], 1.0),
        ([1 / 3] * 3, 1.0),
        ([0.1] * 10, 1.0),
        ([0.0, 0.0, 0.0], 1.0),  # an all-zero row counts as uniform
        ([0.8, 0.2], (0.4 + _binary_entropy(0.8)) / 2),  # mean of margin and entropy
        ([0.4, 0.1], (0.4 + _binary_entropy(0.8)) / 2),  # rows are renormalized first
        ([1.0], 0.0),  # one class: nothing to decide
        ([0.3], 0.0),
    ],
)
def test_multiclass_uncertainty_table(row: list[float], expected: float) -> None:
    scores = uncertainty(np.array([row]), multilabel=False)
    assert scores.shape == (1,)
    assert scores[0] == pytest.approx(expected, abs=1e-12)


def test_multiclass_uncertainty_grows_as_the_margin_shrinks() -> None:
    proba = np.array([[0.95, 0.05, 0.0], [0.8, 0.2, 0.0], [0.6, 0.4, 0.0], [0.51, 0.49, 0.0]])
    scores = uncertainty(proba, multilabel=False)
    assert np.all(np.diff(scores) > 0)


def test_multiclass_uncertainty_counts_mass_beyond_the_top_two() -> None:
    # Same margin (top two tied), but the first row also hesitates about a third class.
    proba = np.array([[0.4, 0.4, 0.2], [0.5, 0.5, 0.0]])
    spread, two_way = uncertainty(proba, multilabel=False)
    assert spread > two_way


# --- uncertainty: multilabel -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([0.5], 1.0),
        ([0.0], 0.0),
        ([1.0], 0.0),
        ([0.25], 0.5),
        ([0.9], 0.2),
        ([0.0, 1.0, 1.0], 0.0),
        ([0.1, 0.8], 0.4),  # the most doubtful label decides
        ([0.99, 0.5, 0.01], 1.0),
        ([0.5, 0.5, 0.5], 1.0),  # multilabel rows need not sum to 1
    ],
)
def test_multilabel_uncertainty_table(row: list[float], expected: float) -> None:
    assert uncertainty(np.array([row]), multilabel=True)[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("k", [1, 2, 5, 50])
def test_uncertainty_is_in_unit_interval(multilabel: bool, k: int) -> None:
    rng = np.random.default_rng(k)
    if multilabel:
        proba = rng.random((500, k))
        proba[:50] = rng.integers(0, 2, (50, k))
    else:
        proba = rng.dirichlet(np.full(k, 0.3), size=500)
        proba[:50] = np.eye(k)[rng.integers(0, k, 50)]
        proba[50:100] = 1.0 / k
    proba = np.clip(proba * (1 + 1e-9), 0.0, 1.0)  # rounding noise must not escape [0, 1]
    scores = uncertainty(proba, multilabel=multilabel)
    assert scores.shape == (500,)
    assert scores.dtype == np.float64
    assert np.all((scores >= 0.0) & (scores <= 1.0))


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("shape", [(0, 3), (0, 1), (0, 0)])
def test_uncertainty_of_no_images_is_empty(multilabel: bool, shape: tuple[int, int]) -> None:
    scores = uncertainty(np.empty(shape), multilabel=multilabel)
    assert scores.shape == (0,)


@pytest.mark.parametrize(
    "proba",
    [
        np.array([0.2, 0.8]),  # 1-D
        np.ones((2, 2, 2)) / 2,  # 3-D
        np.empty((3, 0)),  # no label columns
        np.array([[0.5, np.nan]]),
        np.array([[np.inf, 0.0]]),
        np.array([[2.3, -1.1]]),  # logits, not probabilities
        np.array([[1.01, 0.0]]),
    ],
)
@pytest.mark.parametrize("multilabel", [False, True])
def test_uncertainty_rejects_bad_input(proba: np.ndarray, multilabel: bool) -> None:
    with pytest.raises(ValueError):
        uncertainty(proba, multilabel=multilabel)


# --- rank_for_review ---------------------------------------------------------------------------


def _reference_rank(
    proba: np.ndarray, features: np.ndarray, *, multilabel: bool, n_diverse: int, diversity: float
) -> np.ndarray:
    """The specification, written plainly: one full similarity pass per greedy step."""
    scores = uncertainty(proba, multilabel=multilabel)
    centred = features.astype(np.float64) - features.mean(axis=0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    unit = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)
    nearest = np.zeros(len(scores))
    taken = np.zeros(len(scores), dtype=bool)
    picks: list[int] = []
    for _ in range(min(n_diverse, len(scores))):
        gain = np.where(taken, -np.inf, scores - diversity * nearest)
        best = int(np.argmax(gain))
        picks.append(best)
        taken[best] = True
        nearest = np.maximum(nearest, unit @ unit[best])
    rest = [int(i) for i in np.argsort(-scores, kind="stable") if not taken[i]]
    return np.array(picks + rest, dtype=np.intp)


def _near_copies_and_distinct() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """20 near-copies the model is very unsure about, 5 distinct images it is moderately unsure
    about, and 100 varied images it is sure about (a realistic majority, so the mean is not one
    cluster). Returns proba (binary multiclass), features, copy indices, distinct indices."""
    rng = np.random.default_rng(7)
    d = 64
    top = np.concatenate(
        [
            np.linspace(0.51, 0.56, 20),  # near-copies: uncertainty ~0.99 ... 0.94
            np.full(5, 0.78),  # distinct: uncertainty ~0.6
            rng.uniform(0.97, 0.999, 100),  # background: uncertainty < 0.15
        ]
    )
    proba = np.stack([top, 1 - top], axis=1)
    anchor = rng.standard_normal(d)
    features = np.concatenate(
        [
            anchor + 1e-3 * rng.standard_normal((20, d)),
            rng.standard_normal((5, d)),
            rng.standard_normal((100, d)),
        ]
    )
    order = rng.permutation(len(top))  # copies and distinct items at scattered indices
    inverse = np.argsort(order)
    return proba[order], features[order], inverse[:20], inverse[20:25]


def test_near_copies_do_not_crowd_the_top_of_the_list() -> None:
    proba, features, copies, distinct = _near_copies_and_distinct()
    ranked = rank_for_review(proba, features, multilabel=False, n_diverse=10, diversity=0.5)
    top6 = set(ranked[:6].tolist())
    assert len(top6 & set(copies.tolist())) <= 2
    assert set(distinct.tolist()) <= set(ranked[:7].tolist())
    assert ranked[0] == copies[0]  # the single most uncertain image still leads
    position = {int(i): p for p, i in enumerate(ranked)}
    second_copy = sorted(position[int(c)] for c in copies)[1]
    assert all(position[int(i)] < second_copy for i in distinct)


def test_pure_uncertainty_would_put_every_near_copy_first() -> None:
    # The same data with diversity=0: the assertions above would fail here.
    proba, features, copies, _ = _near_copies_and_distinct()
    ranked = rank_for_review(proba, features, multilabel=False, n_diverse=10, diversity=0.0)
    assert set(ranked[:20].tolist()) == set(copies.tolist())
    assert len(set(ranked[:6].tolist()) & set(copies.tolist())) == 6


@pytest.mark.parametrize("n", [1, 2, 7, 150])
@pytest.mark.parametrize("n_diverse", [0, 1, 5, 100, 1000])
@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("has_features", [False, True])
def test_rank_is_a_permutation(
    n: int, n_diverse: int, multilabel: bool, has_features: bool
) -> None:
    rng = np.random.default_rng(n + n_diverse)
    proba = rng.random((n, 4)) if multilabel else rng.dirichlet(np.ones(4), size=n)
    features = rng.standard_normal((n, 8)).astype(np.float32) if has_features else None
    ranked = rank_for_review(proba, features, multilabel=multilabel, n_diverse=n_diverse)
    assert ranked.dtype == np.intp
    assert sorted(ranked.tolist()) == list(range(n))


@pytest.mark.parametrize(
    ("n", "d", "n_diverse", "diversity", "multilabel", "n_levels"),
    [
        (300, 8, 50, 0.5, False, 0),  # small: a full refresh at every step
        (6000, 16, 100, 0.5, False, 0),  # lazy search, growing blocks
        (6000, 16, 300, 0.5, False, 0),  # more picks than one batch between full refreshes
        (6000, 16, 100, 0.5, False, 5),  # heavily tied uncertainty
        (6000, 4, 70, 2.0, True, 0),  # strong diversity, low dimension: many similar items
        (5000, 32, 40, 0.1, True, 20),
        (6000, 16, 100, 0.5, False, 1),  # every uncertainty equal: ties broken by index
    ],
)
def test_rank_matches_the_plain_greedy_specification(
    n: int, d: int, n_diverse: int, diversity: float, multilabel: bool, n_levels: int
) -> None:
    rng = np.random.default_rng(n * d)
    centres = rng.standard_normal((12, d)) * 3
    features = centres[rng.integers(0, 12, n)] + rng.standard_normal((n, d))
    proba = rng.random((n, 3)) if multilabel else rng.dirichlet(np.full(3, 0.5), size=n)
    if n_levels:  # quantize so that many images share one uncertainty
        proba = np.round(proba * (n_levels - 1)) / (n_levels - 1) if n_levels > 1 else proba * 0
    ranked = rank_for_review(
        proba, features, multilabel=multilabel, n_diverse=n_diverse, diversity=diversity
    )
    expected = _reference_rank(
        proba, features, multilabel=multilabel, n_diverse=n_diverse, diversity=diversity
    )
    np.testing.assert_array_equal(ranked, expected)


def test_rank_is_deterministic_and_follows_the_images_when_shuffled() -> None:
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.full(5, 0.4), size=800)
    features = rng.standard_normal((800, 24)).astype(np.float32)
    first = rank_for_review(proba, features, multilabel=False, n_diverse=60)
    again = rank_for_review(proba.copy(), features.copy(), multilabel=False, n_diverse=60)
    np.testing.assert_array_equal(first, again)
    shuffle = rng.permutation(800)
    shuffled = rank_for_review(proba[shuffle], features[shuffle], multilabel=False, n_diverse=60)
    np.testing.assert_array_equal(shuffle[shuffled], first)


@pytest.mark.parametrize("has_features", [False, True])
def test_ties_go_to_the_lower_index(has_features: bool) -> None:
    # Equal uncertainty everywhere and features that are all the same (no similarity signal).
    proba = np.full((30, 3), 1 / 3)
    features = np.ones((30, 5)) if has_features else None
    ranked = rank_for_review(proba, features, multilabel=False, n_diverse=10)
    np.testing.assert_array_equal(ranked, np.arange(30))


def test_exact_ties_between_fresh_and_stale_scores_go_to_the_lower_index() -> None:
    # Features are +-one-hot vectors balanced to a zero mean, so every cosine is exactly 0, 1
    # or -1 and gains tie exactly. 32 "leads" (one per direction) come first, then 30 copies
    # of each lead, then 65 images of a 33rd direction, then 65 of its opposite that the model
    # is sure about (they keep the mean at zero). After the leads and the first image of the
    # 33rd direction, every candidate is worth exactly 1 - 0.5 = 0.5, so the lowest indices
    # win, whether or not their score was computed before the latest pick.
    eye = np.eye(17)
    directions = np.concatenate([eye[:16], -eye[:16]])
    features = np.concatenate(
        [directions, np.tile(directions, (30, 1)), np.repeat([eye[16]], 65, 0)]
        + [np.repeat([-eye[16]], 65, 0)]
    )
    proba = np.full((len(features), 1), 0.5)
    proba[-65:] = 0.0
    ranked = rank_for_review(proba, features, multilabel=True, n_diverse=40, diversity=0.5)
    np.testing.assert_array_equal(ranked[:40], [*range(32), 992, *range(32, 39)])
    expected = _reference_rank(proba, features, multilabel=True, n_diverse=40, diversity=0.5)
    np.testing.assert_array_equal(ranked, expected)


@pytest.mark.parametrize(
    ("features", "diversity", "n_diverse"),
    [
        (None, 0.5, 100),
        ("random", 0.0, 100),  # no diversity weight
        ("random", 0.5, 0),  # no diverse positions
    ],
)
@pytest.mark.parametrize("multilabel", [False, True])
def test_without_diversity_the_order_is_by_uncertainty(
    features: str | None, diversity: float, n_diverse: int, multilabel: bool
) -> None:
    rng = np.random.default_rng(11)
    proba = np.round(rng.random((200, 3)), 1)  # rounded: plenty of ties to break by index
    if not multilabel:
        proba = proba / np.maximum(proba.sum(axis=1, keepdims=True), 1e-12)
    feats = rng.standard_normal((200, 6)) if features else None
    ranked = rank_for_review(
        proba, feats, multilabel=multilabel, n_diverse=n_diverse, diversity=diversity
    )
    scores = uncertainty(proba, multilabel=multilabel)
    np.testing.assert_array_equal(ranked, np.argsort(-scores, kind="stable"))
    assert np.all(np.diff(scores[ranked]) <= 0)


def test_features_are_compared_by_direction_from_the_mean() -> None:
    # Shifting every embedding by one offset, or scaling it, must not change the ranking; without
    # centring, the offset would make every pair look alike and the near-copies would lead again.
    proba, features, _, _ = _near_copies_and_distinct()
    base = rank_for_review(proba, features, multilabel=False, n_diverse=10)
    shifted = rank_for_review(proba, features + 40.0, multilabel=False, n_diverse=10)
    scaled = rank_for_review(proba, features * 7.5, multilabel=False, n_diverse=10)
    np.testing.assert_array_equal(shifted, base)
    np.testing.assert_array_equal(scaled, base)


@pytest.mark.parametrize("has_features", [False, True])
@pytest.mark.parametrize("multilabel", [False, True])
def test_rank_of_no_images_is_empty(has_features: bool, multilabel: bool) -> None:
    features = np.empty((0, 16), dtype=np.float32) if has_features else None
    ranked = rank_for_review(np.empty((0, 4)), features, multilabel=multilabel)
    assert ranked.shape == (0,)
    assert ranked.dtype == np.intp


@pytest.mark.parametrize(
    ("n_features_rows", "feature_ndim", "n_diverse", "diversity", "bad_value"),
    [
        (9, 2, 100, 0.5, None),  # fewer feature rows than images
        (11, 2, 100, 0.5, None),
        (10, 1, 100, 0.5, None),  # features must be 2-D
        (10, 2, -1, 0.5, None),
        (10, 2, 100, -0.1, None),
        (10, 2, 100, float("nan"), None),
        (10, 2, 100, 0.5, np.nan),
        (10, 2, 100, 0.5, np.inf),
    ],
)
def test_rank_rejects_bad_input(
    n_features_rows: int,
    feature_ndim: int,
    n_diverse: int,
    diversity: float,
    bad_value: float | None,
) -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=10)
    features = rng.standard_normal((n_features_rows, 4))
    if feature_ndim == 1:
        features = features[:, 0]
    if bad_value is not None:
        features[3, 2] = bad_value
    with pytest.raises(ValueError):
        rank_for_review(proba, features, multilabel=False, n_diverse=n_diverse, diversity=diversity)
