from __future__ import annotations

import numpy as np

from tagloop.train.splits import make_folds, related_groups


def _hash(bits: list[int]) -> bytes:
    packed = np.zeros(256, dtype=bool)
    packed[bits] = True
    return np.packbits(packed).tobytes()


def test_near_duplicates_and_shared_groups_are_linked() -> None:
    hashes = [
        _hash([1, 2, 3]),
        _hash([1, 2, 3, 4]),  # 1 bit from the first: near duplicate
        _hash(list(range(100, 200))),
        _hash(list(range(0, 256, 2))),
        _hash(list(range(1, 256, 2))),
    ]
    groups = related_groups(hashes, [None, None, "alice", "bob", "alice"], max_distance=10)
    assert groups[0] == groups[1]
    assert groups[2] == groups[4]
    assert len({groups[0], groups[2], groups[3]}) == 3


def test_folds_never_split_a_group_and_cover_every_image_once() -> None:
    rng = np.random.default_rng(0)
    strata = np.repeat([0, 1, 2], 40)
    groups = rng.integers(0, 25, size=len(strata))
    folds = make_folds(strata, groups, n_splits=5)
    assert len(folds) == 5
    seen = np.concatenate([test for _, test in folds])
    assert sorted(seen.tolist()) == list(range(len(strata)))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])


def test_fewer_groups_than_folds_uses_fewer_folds() -> None:
    folds = make_folds(np.array([0, 1, 0, 1, 0, 1]), np.array([0, 0, 1, 1, 2, 2]), n_splits=5)
    assert len(folds) == 3


def test_embedding_copies_are_linked_even_when_dhash_differs() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(4, 64)) + 50  # far from the origin: raw cosine says "all alike"
    features[3] = features[0] + rng.normal(scale=0.01, size=64)  # a copy
    far_apart = [_hash(list(range(k, 256, 4))) for k in range(4)]  # dHash says: all different
    groups = related_groups(far_apart, features=features, max_distance=10, min_cosine=0.95)
    assert groups[0] == groups[3]
    assert len(set(groups.tolist())) == 3
