from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tagloop.insights.copies import (
    find_conflicting_labels,
    find_duplicates,
    find_leakage,
    find_near_duplicates,
    link_copies,
)
from tagloop.insights.curve import find_learning_curve
from tagloop.insights.detectors import (
    find_imbalance,
    find_label_issues,
    find_outliers,
    find_several_labels,
    find_too_few_images,
    find_too_large,
    find_too_small,
    find_unreadable,
)
from tagloop.insights.findings import Finding
from tagloop.train.service import TrainSpec, train_classifier

RNG_SEED = 0


def _hash(seed: int, flips: int = 0) -> bytes:
    """A random 256-bit dHash for ``seed``, with its first ``flips`` bits inverted."""
    bits = np.random.default_rng(seed).integers(0, 2, 256).astype(bool)
    bits[:flips] = ~bits[:flips]
    return np.packbits(bits).tobytes()


def _plain(findings: list[Finding]) -> list[dict[str, Any]]:
    """Every finding must survive JSON (no numpy scalars) and carry advice."""
    out = [json.loads(json.dumps(f.to_dict())) for f in findings]
    assert all(f["advice"] and f["message"] for f in out)
    return out


def _groups(findings: list[Finding]) -> set[frozenset[str]]:
    return {frozenset(g) for f in findings for g in f.groups}


# --- counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"a": 60, "b": 70}, []),
        ({"a": 60, "b": 49}, [("warning", {"b": 49})]),
        ({"a": 60, "b": 3, "c": 20}, [("error", {"b": 3}), ("warning", {"c": 20})]),
        ({"a": 0, "b": 60}, [("error", {"a": 0})]),
        ({"a": 5, "b": 50}, [("warning", {"a": 5})]),
    ],
)
def test_too_few_images_names_the_labels(
    counts: dict[str, int], expected: list[tuple[str, dict[str, int]]]
) -> None:
    found = _plain(find_too_few_images(counts))
    assert [(f["severity"], f["labels"]) for f in found] == expected
    for f, (_, labels) in zip(found, expected, strict=True):
        assert all(label in f["message"] and label in f["advice"] for label in labels)


@pytest.mark.parametrize(
    ("counts", "weighted", "severity", "to_add"),
    [
        ({"a": 100, "b": 60}, True, None, None),
        ({"a": 100, "b": 50}, True, None, None),  # exactly 1:2 is fine
        ({"a": 100}, True, None, None),
        ({"a": 100, "b": 40, "c": 0}, True, "info", {"b": 10}),  # empty labels: too_few's job
        ({"a": 100, "b": 10, "c": 45}, True, "warning", {"b": 40, "c": 5}),
        ({"a": 100, "b": 40}, False, "warning", {"b": 10}),
    ],
)
def test_imbalance_says_how_many_to_add_and_whether_weighting_is_on(
    counts: dict[str, int], weighted: bool, severity: str | None, to_add: dict[str, int] | None
) -> None:
    found = _plain(find_imbalance(counts, is_class_weighted=weighted))
    if severity is None:
        assert found == []
        return
    (f,) = found
    assert to_add is not None
    assert (f["severity"], f["to_add"]) == (severity, to_add)
    assert all(f"{n} to {label}" in f["advice"] for label, n in to_add.items())
    assert "class_weight" in f["advice"]
    assert ("off" in f["advice"]) is not weighted


def test_unreadable_lists_path_and_reason() -> None:
    assert find_unreadable([]) == []
    (f,) = _plain(find_unreadable([("a/x.jpg", "the file is truncated")]))
    assert f["items"] == [{"path": "a/x.jpg", "reason": "the file is truncated"}]


@pytest.mark.parametrize(
    ("widths", "heights", "small", "large"),
    [
        ([400, 800], [300, 600], [], []),
        ([63, 400, 64], [500, 30, 64], ["p0", "p1"], []),
        ([2500, 2000, 4000], [2000, 2000, 1000], [], ["p0"]),  # 4 MP exactly is fine
    ],
)
def test_size_checks(
    widths: list[int], heights: list[int], small: list[str], large: list[str]
) -> None:
    paths = [f"p{i}" for i in range(len(widths))]
    too_small = _plain(find_too_small(paths, widths, heights))
    too_large = _plain(find_too_large(paths, widths, heights))
    assert [i["path"] for f in too_small for i in f["items"]] == small
    assert [i["path"] for f in too_large for i in f["items"]] == large
    assert all(f["severity"] == "info" and "downsiz" in f["advice"] for f in too_large)


# --- copies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shas", "pixels", "groups"),
    [
        (["s0", "s1", "s2"], None, set()),
        (["s0", "s1", "s0", "s0"], None, {frozenset({"p0", "p2", "p3"})}),
        (["s0", "s1", "s2"], ["x", None, "x"], {frozenset({"p0", "p2"})}),  # same pixels
        (
            ["s0", "s1", "s1", "s2"],
            ["x", "y", "y", "x"],
            {frozenset({"p0", "p3"}), frozenset({"p1", "p2"})},
        ),
    ],
)
def test_duplicates_by_bytes_or_pixels(
    shas: list[str], pixels: list[str | None] | None, groups: set[frozenset[str]]
) -> None:
    paths = [f"p{i}" for i in range(len(shas))]
    found = find_duplicates(paths, link_copies(shas, pixel_hashes=pixels))
    _plain(found)
    assert _groups(found) == groups


def _copy_case(
    kind: str,
) -> tuple[list[bytes], list[str], np.ndarray, set[frozenset[str]], set[frozenset[str]]]:
    """Five unrelated images, then one planted relation; expected near and exact groups."""
    hashes = [_hash(i) for i in range(5)]
    shas = [f"s{i}" for i in range(5)]
    rng = np.random.default_rng(RNG_SEED)
    features = rng.normal(size=(5, 32)).astype(np.float32) + 5.0
    if kind == "clean":
        return hashes, shas, features, set(), set()
    if kind == "resized":  # dHash a few bits apart
        hashes[3] = _hash(0, flips=6)
        return hashes, shas, features, {frozenset({"p0", "p3"})}, set()
    if kind == "edited":  # dHash far apart, embeddings nearly parallel
        features[4] = features[1] + rng.normal(scale=0.01, size=32)
        return hashes, shas, features, {frozenset({"p1", "p4"})}, set()
    if kind == "exact":  # only exact copies: a duplicate, not a near duplicate
        hashes[2], shas[2] = hashes[0], shas[0]
        return hashes, shas, features, set(), {frozenset({"p0", "p2"})}
    if kind == "chain":  # p0 = p2 exactly, p3 near p0: one near group with all three
        hashes[2], shas[2] = hashes[0], shas[0]
        hashes[3] = _hash(0, flips=4)
        return hashes, shas, features, {frozenset({"p0", "p2", "p3"})}, {frozenset({"p0", "p2"})}
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["clean", "resized", "edited", "exact", "chain"])
def test_near_duplicates_link_by_dhash_or_embedding(kind: str) -> None:
    hashes, shas, features, near, exact = _copy_case(kind)
    paths = [f"p{i}" for i in range(len(hashes))]
    links = link_copies(shas, hashes, features=features, copy_cosine=0.95)
    found = find_near_duplicates(paths, links)
    _plain(found)
    assert _groups(found) == near
    assert _groups(find_duplicates(paths, link_copies(shas))) == exact


def test_embedding_links_need_a_copy_cosine() -> None:
    hashes, shas, features, _, _ = _copy_case("edited")
    paths = [f"p{i}" for i in range(len(hashes))]
    assert find_near_duplicates(paths, link_copies(shas, hashes, features=features)) == []


@pytest.mark.parametrize(
    ("kind", "labels", "conflict"),
    [
        ("clean", ["a", "b", "a", "b", "a"], set()),
        ("resized", ["a", "b", "a", "a", "a"], set()),  # copies agree
        ("resized", ["a", "b", "a", "b", "a"], {frozenset({"p0", "p3"})}),
        ("exact", ["a", "b", "c", "b", "a"], {frozenset({"p0", "p2"})}),
        ("edited", ["a", "b", "a", "b", "a"], {frozenset({"p1", "p4"})}),
    ],
)
def test_conflicting_labels_within_copy_groups(
    kind: str, labels: list[str], conflict: set[frozenset[str]]
) -> None:
    hashes, shas, features, _, _ = _copy_case(kind)
    paths = [f"p{i}" for i in range(len(hashes))]
    links = link_copies(shas, hashes, features=features, copy_cosine=0.95)
    found = find_conflicting_labels(paths, [(x,) for x in labels], links)
    plain = _plain(found)
    assert _groups(found) == conflict
    if conflict:
        assert plain[0]["severity"] == "error"
        assert {i["path"] for i in plain[0]["items"]} == set().union(*conflict)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("clean", {}),
        ("exact", {"t0": ("duplicate", ["r0"])}),
        ("resized", {"t0": ("near_duplicate", ["r1"])}),
        ("group", {"t1": ("same_group", ["r0", "r2"])}),
        ("group_and_copy", {"t0": ("near_duplicate", ["r1", "r0"]), "t1": ("same_group", ["r2"])}),
    ],
)
def test_leakage_by_copy_or_group(case: str, expected: dict[str, tuple[str, list[str]]]) -> None:
    paths = ["r0", "r1", "r2", "t0", "t1"]
    is_test = [False, False, False, True, True]
    shas = ["s0", "s1", "s2", "s3", "s4"]
    hashes = [_hash(i) for i in range(5)]
    groups: list[str | None] | None = None
    if case == "exact":
        shas[3] = "s0"
    elif case == "resized":
        hashes[3] = _hash(1, flips=5)
    elif case == "group":
        groups = ["alice", None, "alice", "bob", "alice"]
    elif case == "group_and_copy":
        hashes[3] = _hash(1, flips=5)
        groups = ["carol", "dave", "erin", "carol", "erin"]
    found = find_leakage(paths, is_test, link_copies(shas, hashes), groups=groups)
    plain = _plain(found)
    got = {i["path"]: (i["kind"], i["matches"]) for f in plain for i in f["items"]}
    assert got == expected
    if expected:
        copies = any(kind != "same_group" for kind, _ in expected.values())
        assert plain[0]["severity"] == ("error" if copies else "warning")
        assert all(i["reason"] for i in plain[0]["items"])


def test_leakage_needs_both_sides() -> None:
    links = link_copies(["s", "s"], [_hash(0), _hash(0)])
    assert find_leakage(["a", "b"], [False, False], links) == []


# --- label issues and outliers ------------------------------------------------------------------


def _clusters(
    n_per: int = 30, k: int = 3, d: int = 16, seed: int = RNG_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Features in ``k`` tight clusters, one per true label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 5
    truth = np.repeat(np.arange(k), n_per)
    return (centres[truth] + rng.normal(size=(len(truth), d))).astype(np.float32), truth


def _noisy(seed: int = 3, k: int = 6, n_per: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(k), n_per)
    centres = rng.normal(size=(k, 64))
    return (centres[truth] + rng.normal(scale=3.0, size=(len(truth), 64))).astype(np.float32), truth


def _oof(truth: np.ndarray, k: int, confident: float = 0.9) -> np.ndarray:
    """Out-of-fold probabilities of a good model: it sees the true label, whatever the given."""
    proba = np.full((len(truth), k), (1 - confident) / (k - 1))
    proba[np.arange(len(truth)), truth] = confident
    return proba


@pytest.mark.parametrize(
    ("planted", "expected"),  # image -> wrong label index; path -> (given, suggested)
    [
        ({}, {}),
        ({5: 1, 40: 2, 70: 0}, {"p5": ("b", "a"), "p40": ("c", "b"), "p70": ("a", "c")}),
        ({3: 2, 4: 2, 6: 2}, {"p3": ("c", "a"), "p4": ("c", "a"), "p6": ("c", "a")}),  # one pair
    ],
)
def test_label_issues_find_planted_wrong_labels(
    planted: dict[int, int], expected: dict[str, tuple[str, str]]
) -> None:
    labels = ["a", "b", "c"]
    features, truth = _clusters()
    given = truth.copy()
    for i, wrong in planted.items():
        given[i] = wrong
    paths = [f"p{i}" for i in range(len(truth))]
    found = find_label_issues(
        paths, [(labels[g],) for g in given], _oof(truth, 3), labels, features=features
    )
    plain = _plain(found)
    got = {i["path"]: (i["label"], i["suggested_label"]) for f in plain for i in f["items"]}
    assert got == expected
    assert all(0 < i["score"] <= 1 for f in plain for i in f["items"])


def test_label_issues_spare_hard_but_correct_images() -> None:
    """An image the model gets wrong but whose look-alikes share its label is not flagged."""
    labels = ["a", "b", "c"]
    features, truth = _clusters()
    proba = _oof(truth, 3)
    proba[[2, 33]] = [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]  # confidently wrong model
    paths = [f"p{i}" for i in range(len(truth))]
    assert (
        find_label_issues(paths, [(labels[t],) for t in truth], proba, labels, features=features)
        == []
    )


def test_label_issues_multilabel_checks_each_label() -> None:
    labels = ["a", "b", "c"]
    features, truth = _clusters()
    Y = np.eye(3, dtype=bool)[truth]  # noqa: N806
    Y[:, 2] |= truth == 0  # every "a" image also carries "c"
    proba = np.where(Y, 0.9, 0.05)
    given = Y.copy()
    given[7, 2] = False  # a missing label
    given[50, 0] = True  # a label too many
    paths = [f"p{i}" for i in range(len(truth))]
    label_sets = [tuple(labels[j] for j in np.flatnonzero(row)) for row in given]
    found = find_label_issues(paths, label_sets, proba, labels, features=features, multilabel=True)
    got = {i["path"]: (i["label"], i["suggested_label"]) for f in _plain(found) for i in f["items"]}
    assert got == {"p7": ("a", "a, c"), "p50": ("a, b", "b")}


def test_label_issues_need_a_population() -> None:
    features, truth = _clusters(n_per=5)
    paths = [f"p{i}" for i in range(len(truth))]
    given = [("a",)] * len(truth)
    assert find_label_issues(paths, given, _oof(truth, 3), ["a", "b", "c"], features=features) == []


@pytest.mark.parametrize("far", [False, True])
def test_outliers_flag_only_the_far_image(far: bool) -> None:
    rng = np.random.default_rng(RNG_SEED)
    d = 64
    common = rng.random(d)  # non-negative features, like pooled CNN activations
    features = np.clip(common + rng.normal(scale=0.15, size=(80, d)), 0, None)
    features[10] = features[11]  # a copy must not hide or cause anything
    if far:
        odd = np.zeros(d)
        odd[:8] = 3.0
        features = np.vstack([features, odd])
    paths = [f"p{i}" for i in range(len(features))]
    plain = _plain(find_outliers(paths, features))
    flagged = [i["path"] for f in plain for i in f["items"]]
    assert flagged == (["p80"] if far else [])
    assert all(0 <= i["score"] <= 1 for f in plain for i in f["items"])


# --- learning curve ----------------------------------------------------------------------------


def test_learning_curve_on_separable_data_is_flat() -> None:
    labels = ["a", "b", "c"]
    features, truth = _clusters(n_per=30, d=16)
    label_sets = [(labels[t],) for t in truth]
    hashes = [_hash(100 + i) for i in range(len(truth))]
    found = find_learning_curve(features, label_sets, labels, dhashes=hashes, spec=TrainSpec())
    (f,) = _plain(found)
    assert f["severity"] == "info" and f["evaluation"] == "cross-validation"
    assert [p["fraction"] for p in f["points"]] == [0.25, 0.5, 0.75, 1.0]
    sizes = [p["n_images"] for p in f["points"]]
    assert sizes == sorted(sizes) and sizes[-1] == 72  # 4 of 5 folds of 90
    assert f["points"][-1]["accuracy"] == 1.0 and f["points"][-1]["macro_f1"] == 1.0
    assert set(f["per_label"]) == set(labels) and len(f["per_label"]["a"]) == 4
    assert f["would_more_help"] is False and "flattened" in f["advice"]
    assert f["n_evaluated"] == 90


def test_learning_curve_rises_when_images_are_scarce_and_noisy() -> None:
    labels = [f"l{j}" for j in range(6)]
    features, truth = _noisy()
    hashes = [_hash(1000 + i) for i in range(len(truth))]
    found = find_learning_curve(
        features, [(labels[t],) for t in truth], labels, dhashes=hashes, spec=TrainSpec()
    )
    (f,) = _plain(found)
    acc = [p["accuracy"] for p in f["points"]]
    assert acc[-1] > acc[0] + 0.05
    assert f["would_more_help"] is True and "more labeled images" in f["advice"]


def test_learning_curve_scores_on_the_test_set_when_given() -> None:
    labels = ["a", "b"]
    features, truth = _clusters(n_per=30, k=2)
    test_x, test_truth = _clusters(n_per=10, k=2)
    test_sets = [(labels[t],) for t in test_truth] + [("unknown",)]
    test_x = np.vstack([test_x, test_x[:1]])
    found = find_learning_curve(
        features,
        [(labels[t],) for t in truth],
        labels,
        dhashes=[_hash(200 + i) for i in range(len(truth))],
        test_features=test_x,
        test_label_sets=test_sets,
    )
    (f,) = _plain(found)
    assert f["evaluation"] == "test" and f["n_evaluated"] == 20  # the unknown label is left out
    assert f["points"][-1]["n_images"] == 60


def test_learning_curve_needs_enough_images() -> None:
    features, truth = _clusters(n_per=10, k=2)
    found = find_learning_curve(
        features,
        [(["a", "b"][t],) for t in truth],
        ["a", "b"],
        dhashes=[_hash(i) for i in range(len(truth))],
    )
    assert found == []


def test_learning_curve_full_point_is_trainings_cross_validated_accuracy() -> None:
    features, truth = _noisy()
    labels = [f"l{j}" for j in range(6)]
    hashes = [_hash(1000 + i) for i in range(len(truth))]
    spec = TrainSpec()
    trained = train_classifier(
        features, np.eye(6, dtype=bool)[truth], labels, dhashes=hashes, group_values=None, spec=spec
    )
    oof_accuracy = float((trained.oof_proba.argmax(axis=1) == truth).mean())
    (f,) = find_learning_curve(
        features, [(labels[t],) for t in truth], labels, dhashes=hashes, spec=spec
    )
    assert f.extra["points"][-1]["accuracy"] == pytest.approx(oof_accuracy, abs=1e-4)


def test_learning_curve_multilabel() -> None:
    features, truth = _clusters(n_per=20, k=3)
    label_sets = [("a", "x") if t == 0 else ("b",) if t == 1 else ("b", "x") for t in truth]
    found = find_learning_curve(
        features,
        label_sets,
        ["a", "b", "x"],
        dhashes=[_hash(300 + i) for i in range(len(truth))],
        spec=TrainSpec(multilabel=True),
    )
    (f,) = _plain(found)
    assert f["points"][-1]["accuracy"] > 0.9 and set(f["per_label"]) == {"a", "b", "x"}


def test_several_labels_on_a_multiclass_image_is_an_error() -> None:
    paths = ["a.jpg", "b.jpg", "c.jpg"]
    labels = [["red"], ["red", "blue"], ["blue"]]
    (finding,) = find_several_labels(paths, labels, multilabel=False)
    assert (finding.code, finding.severity) == ("several_labels", "error")
    assert finding.items == ({"path": "b.jpg", "labels": ["red", "blue"]},)
    assert "1 image" in finding.message
    assert find_several_labels(paths, labels, multilabel=True) == []
    assert find_several_labels(paths, [["red"], ["blue"], ["red"]], multilabel=False) == []
