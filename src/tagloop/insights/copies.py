"""Copies in a dataset: exact and near duplicates, copies with different labels, test leakage.

Pure functions over per-image arrays (all in the same order as ``paths``), each returning a list
of :class:`Finding` (empty when there is nothing to report). Images are *exact copies* when
their file bytes (sha256) or, where given, their decoded pixels (a pixel hash) are identical, and
*near copies* when their dHash-16 values are at most ``max_bits`` of 256 bits apart (resized or
re-encoded copies) or, with ``features`` and ``copy_cosine``, their centred embeddings are nearly
parallel (brightened or mirrored copies). The rules are the ones training uses to keep copies in
one cross-validation fold (:mod:`tagloop.train.splits`), so the check and the model agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tagloop.insights.findings import Finding
from tagloop.train.splits import NEAR_DUPLICATE_BITS, copy_pairs

MAX_MATCHES = 10  # training paths listed per leaked test image


@dataclass(frozen=True)
class CopyLinks:
    """Which images of a set are copies of which: computed once, read by every detector."""

    exact: np.ndarray  # one id per image, equal for exact copies
    near: np.ndarray  # (m, 2) index pairs of near copies (may include exact pairs)


def link_copies(
    shas: Sequence[str],
    dhashes: Sequence[bytes] | None = None,
    *,
    pixel_hashes: Sequence[str | None] | None = None,
    features: np.ndarray | None = None,
    copy_cosine: float | None = None,
    max_bits: int = NEAR_DUPLICATE_BITS,
) -> CopyLinks:
    """Exact copies (same bytes or, where given, the same pixel hash) and near copies (dHash
    within ``max_bits``, or centred embeddings at ``copy_cosine`` or more; without
    ``dhashes`` there are none, without ``copy_cosine`` dHash alone links)."""
    near = (
        np.empty((0, 2), dtype=np.int64)
        if dhashes is None
        else copy_pairs(dhashes, features=features, max_distance=max_bits, min_cosine=copy_cosine)
    )
    return CopyLinks(exact=_exact_ids(shas, pixel_hashes), near=near)


def find_duplicates(paths: Sequence[str], links: CopyLinks) -> list[Finding]:
    """``duplicate``: groups of byte-identical files (same sha256) or files that decode to the
    same pixels (a PNG copy of a JPEG's pixels)."""
    groups = _groups(paths, links.exact)
    if not groups:
        return []
    n_extra = sum(len(g) - 1 for g in groups)
    return [
        Finding(
            code="duplicate",
            severity="warning",
            message=(
                f"{n_extra} file{_s(n_extra)} {_are(n_extra)} exact copies of other files "
                f"({len(groups)} group{_s(len(groups))} of identical images)"
            ),
            advice=(
                "Keep one file of each group and delete the others. A copy adds no new "
                "information: it only gives that image more weight in training, and a copy that "
                "ends up in a test set makes the accuracy look better than it is."
            ),
            groups=tuple(groups),
            extra={"n_extra_copies": n_extra},
        )
    ]


def find_near_duplicates(paths: Sequence[str], links: CopyLinks) -> list[Finding]:
    """``near_duplicate``: groups of images linked by near-copy pairs (connected components).

    Pairs of exact copies are left out (``find_duplicates`` reports them): a group made only of
    exact copies is not reported here, and a group that is reported lists every file in it.
    """
    groups = _groups(paths, _components(links.exact, links.near), links.exact)
    if not groups:
        return []
    n_images = sum(len(g) for g in groups)
    return [
        Finding(
            code="near_duplicate",
            severity="warning",
            message=(
                f"{n_images} images are near copies of each other (resized, re-encoded or "
                f"slightly edited) in {len(groups)} group{_s(len(groups))}"
            ),
            advice=(
                "Look at each group and keep the one best image, unless the images really "
                "differ (another angle, another item). Near copies teach the model little, "
                "and tagloop keeps each group in one cross-validation fold so they do not "
                "inflate its accuracy."
            ),
            groups=tuple(groups),
        )
    ]


def find_conflicting_labels(
    paths: Sequence[str], label_sets: Sequence[Sequence[str]], links: CopyLinks
) -> list[Finding]:
    """``conflicting_labels``: groups of exact or near copies whose label sets differ.

    Items list each image of those groups with its labels (``{"path", "labels"}``).
    """
    linked = _components(links.exact, links.near)
    members: dict[int, list[int]] = {}
    for i, component in enumerate(linked.tolist()):
        members.setdefault(component, []).append(i)
    conflicts = [
        idx
        for idx in members.values()
        if len(idx) > 1 and len({frozenset(label_sets[i]) for i in idx}) > 1
    ]
    if not conflicts:
        return []
    conflicts.sort(key=lambda idx: idx[0])
    items = tuple(
        {"path": paths[i], "labels": sorted(label_sets[i])} for idx in conflicts for i in idx
    )
    return [
        Finding(
            code="conflicting_labels",
            severity="error",
            message=(
                f"{len(conflicts)} image{_s(len(conflicts))} {_appear(len(conflicts))} more than "
                "once (as exact or near copies) with different labels"
            ),
            advice=(
                "Decide which label is right for each group, fix the labels, and keep one "
                "copy. The same picture under two labels teaches the model both answers."
            ),
            items=items,
            groups=tuple(tuple(paths[i] for i in idx) for idx in conflicts),
        )
    ]


def find_leakage(
    paths: Sequence[str],
    is_test: Sequence[bool],
    copies: CopyLinks,
    *,
    groups: Sequence[str | None] | None = None,
) -> list[Finding]:
    """``leakage``: test images that are exact or near copies of training images, or (with
    ``groups``) share a group value with training images.

    The arrays and ``copies`` cover training and test images together; ``is_test`` marks the
    test ones. Items are the leaked test images: ``{"path", "reason", "kind", "matches",
    "n_matches"}``, with ``kind`` one of ``duplicate``, ``near_duplicate`` or ``same_group``
    (the strongest link) and ``matches`` up to MAX_MATCHES training paths (copies first).
    """
    test = np.asarray(is_test, dtype=bool)
    if not test.any() or test.all():
        return []
    exact = copies.exact
    links: dict[int, dict[str, list[int]]] = {}  # test index -> kind -> training indices

    def link(kind: str, i: int, j: int) -> None:
        if test[i] != test[j]:
            t, r = (i, j) if test[i] else (j, i)
            links.setdefault(t, {}).setdefault(kind, []).append(r)

    by_exact: dict[int, list[int]] = {}
    for i, e in enumerate(exact.tolist()):
        by_exact.setdefault(e, []).append(i)
    for idx in by_exact.values():
        for a in idx:
            for b in idx:
                if a < b:
                    link("duplicate", a, b)
    for a, b in copies.near.tolist():
        if exact[a] != exact[b]:
            link("near_duplicate", a, b)
    if groups is not None:
        train_by_group: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            if g and not test[i]:
                train_by_group.setdefault(g, []).append(i)
        for i, g in enumerate(groups):
            if g and test[i]:
                for r in train_by_group.get(g, []):
                    link("same_group", i, r)
    if not links:
        return []
    items = [_leak_item(paths, t, links[t], groups) for t in sorted(links)]
    n_copies = sum(1 for item in items if item["kind"] != "same_group")
    n_group = len(items) - n_copies
    parts = []
    if n_copies:
        parts.append(f"{n_copies} {_are_copies(n_copies)} of training images")
    if n_group:
        parts.append(f"{n_group} share{'' if n_group > 1 else 's'} a group with training images")
    return [
        Finding(
            code="leakage",
            severity="error" if n_copies else "warning",
            message=f"{len(items)} test image{_s(len(items))} overlap the training data: "
            + "; ".join(parts),
            advice=(
                "Remove these images from the test set (or their matches from the training "
                "data). A test image the model has already seen, or a near copy of it, makes "
                "the test accuracy look better than it will be on new images. Keep each group "
                "(one person, one camera, one item) on one side only."
            ),
            items=tuple(items),
        )
    ]


def _leak_item(
    paths: Sequence[str],
    t: int,
    kinds: dict[str, list[int]],
    groups: Sequence[str | None] | None,
) -> dict[str, Any]:
    order = ("duplicate", "near_duplicate", "same_group")
    kind = next(k for k in order if k in kinds)
    matches = list(dict.fromkeys(r for k in order for r in sorted(kinds.get(k, []))))
    if kind == "duplicate":
        reason = "an exact copy of a training image"
    elif kind == "near_duplicate":
        reason = "a near copy of a training image (resized, re-encoded or edited)"
    else:
        value = groups[t] if groups is not None else ""
        reason = f"from the same group ({value}) as training images"
    return {
        "path": paths[t],
        "reason": reason,
        "kind": kind,
        "matches": [paths[r] for r in matches[:MAX_MATCHES]],
        "n_matches": len(matches),
    }


def _exact_ids(shas: Sequence[str], pixel_hashes: Sequence[str | None] | None) -> np.ndarray:
    """One id per image, equal for images with the same bytes or (when given) the same pixels."""
    n = len(shas)
    first: dict[tuple[str, str], int] = {}
    pairs = []
    for i in range(n):
        keys = [("sha", shas[i])]
        if pixel_hashes is not None and pixel_hashes[i]:
            keys.append(("pixels", str(pixel_hashes[i])))
        for key in keys:
            pairs.append((first.setdefault(key, i), i))
    return _components(np.arange(n), np.asarray(pairs, dtype=np.int64).reshape(-1, 2))


def _components(base: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Connected components over images already joined by ``base`` ids plus ``pairs``."""
    n = len(base)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first: dict[int, int] = {}
    base_pairs = [(first.setdefault(int(b), i), i) for i, b in enumerate(base.tolist())]
    edges = np.concatenate([np.asarray(base_pairs, dtype=np.int64), pairs.reshape(-1, 2)])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def _groups(
    paths: Sequence[str], component: np.ndarray, exact: np.ndarray | None = None
) -> list[tuple[str, ...]]:
    """Paths per component with at least two members (two distinct exact ids, when given),
    ordered by first appearance."""
    members: dict[int, list[int]] = {}
    for i, c in enumerate(component.tolist()):
        members.setdefault(c, []).append(i)
    out = []
    for idx in members.values():
        distinct = len(idx) if exact is None else len({int(exact[i]) for i in idx})
        if distinct > 1:
            out.append(tuple(paths[i] for i in idx))
    return out


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _appear(n: int) -> str:
    return "appears" if n == 1 else "appear"


def _are_copies(n: int) -> str:
    return "is a copy or near copy" if n == 1 else "are copies or near copies"
