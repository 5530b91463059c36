"""Data checks as pure functions: per-image arrays (in the order of ``paths``) in, a list of
:class:`Finding` out, empty when there is nothing to report. Scores are in [0, 1], higher = more
likely a problem. Copies and leakage: :mod:`~tagloop.insights.copies`; the learning curve:
:mod:`~tagloop.insights.curve`. Label-issue and outlier thresholds were tuned on real photos.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tagloop.insights.confident import multiclass_issues, multilabel_issues, nearest, unit_rows
from tagloop.insights.findings import Finding
from tagloop.train.service import MIN_IMAGES_PER_LABEL

RECOMMENDED_IMAGES_PER_LABEL = 50
MAX_IMBALANCE = 2.0  # largest / smallest label
MIN_SIDE = 64  # pixels
MAX_PIXELS = 4_000_000
LABEL_NEIGHBORS = 20
MAX_GIVEN_SHARE = 0.2  # of a suspect's LABEL_NEIGHBORS that may carry its label (4 of 20)
MIN_SUGGESTED_SHARE = 0.4  # of them that must carry the suggested label (8 of 20)
OUTLIER_NEIGHBORS = 10
OUTLIER_MIN_Z = 4.0
COPY_SIMILARITY = 0.999  # neighbours this similar are copies of the image, not its neighbours
MIN_IMAGES_FOR_STATISTICS = 20  # label issues and outliers need a population to compare with


def find_too_few_images(
    counts: Mapping[str, int],
    *,
    min_recommended: int = RECOMMENDED_IMAGES_PER_LABEL,
    min_required: int = MIN_IMAGES_PER_LABEL,
) -> list[Finding]:
    """``too_few_images``: an error for labels under ``min_required`` images (training refuses
    them), a warning for labels under ``min_recommended``. ``extra["labels"]``: label -> count."""
    too_few = {k: v for k, v in counts.items() if v < min_required}
    few = {k: v for k, v in counts.items() if min_required <= v < min_recommended}
    cases = [
        (
            "error",
            too_few,
            f"{min_required} images, the least training accepts",
            f"Add images to {_names(too_few)} (at least {min_required} each, {min_recommended} "
            "or more for good results), or remove "
            + ("that label." if len(too_few) == 1 else "those labels."),
        ),
        (
            "warning",
            few,
            f"{min_recommended} images",
            f"Add more images to {_names(few)}: with under {min_recommended} examples a label "
            "is usually recognised poorly, and its accuracy figures are unreliable. Aim for "
            "varied pictures (backgrounds, light, angles).",
        ),
    ]
    return [
        Finding(
            code="too_few_images",
            severity=severity,
            message=f"{_n(len(found), 'label')} {_have(len(found))} fewer than {limit}: "
            + _listed(found),
            advice=advice,
            extra={"labels": dict(sorted(found.items()))},
        )
        for severity, found, limit, advice in cases
        if found
    ]


def find_imbalance(
    counts: Mapping[str, int],
    *,
    is_class_weighted: bool = True,
    max_ratio: float = MAX_IMBALANCE,
) -> list[Finding]:
    """``imbalance``: the largest label has more than ``max_ratio`` times the images of the
    smallest (labels without images are left to ``find_too_few_images``).

    ``extra``: ``ratio`` (smallest / largest, in (0, 1]; lower is more imbalanced) and ``to_add``
    (label -> images to add to reach half of the largest). ``is_class_weighted`` says whether the
    head weighs labels inversely to their frequency (``class_weight="balanced"``, tagloop's
    default); it is then a warning only beyond 1:5, else information.
    """
    present = {k: v for k, v in counts.items() if v > 0}
    if len(present) < 2:
        return []
    largest = max(present.values())
    smallest = min(present.values())
    if largest <= max_ratio * smallest:
        return []
    target = math.ceil(largest / max_ratio)
    to_add = {k: target - v for k, v in sorted(present.items()) if v < target}
    big = max(present, key=lambda k: present[k])
    small = min(present, key=lambda k: present[k])
    plan = ", ".join(f"{v} to {k}" for k, v in to_add.items())
    if is_class_weighted:
        weighting = (
            "Until then tagloop's classifier already weighs each label inversely to its "
            "number of images (class_weight=balanced), so small labels are not ignored; "
            "but weighting cannot show the model variety that the few images lack."
        )
    else:
        weighting = (
            "Class weighting is off for this model, so it will favour the large labels; "
            'turn it on (class_weight="balanced") or add images.'
        )
    ratio = smallest / largest
    return [
        Finding(
            code="imbalance",
            severity="warning" if ratio < 0.2 or not is_class_weighted else "info",
            message=f"The labels are imbalanced: {big} has {largest} images, {small} only "
            f"{smallest} (1:{largest / smallest:.1f})",
            advice=f"Add images until each label has at least half of {big}'s {largest}: "
            f"about {plan}. {weighting}",
            extra={"ratio": round(ratio, 4), "to_add": to_add},
        )
    ]


def find_several_labels(
    paths: Sequence[str], label_sets: Sequence[Sequence[str]], *, multilabel: bool
) -> list[Finding]:
    """``several_labels``: in a multiclass set, images that carry more than one label (made
    before the one-label rule, or from a manifest); items ``{"path", "labels"}``."""
    if multilabel:
        return []
    found = [
        {"path": path, "labels": list(labels)}
        for path, labels in zip(paths, label_sets, strict=True)
        if len(labels) > 1
    ]
    if not found:
        return []
    return [
        Finding(
            code="several_labels",
            severity="error",
            message=f"{_n(len(found), 'image')} of this multiclass set "
            + ("carries" if len(found) == 1 else "carry")
            + " more than one label",
            advice="Keep one label on each image (the one it shows most), or make the project "
            "multilabel if an image can truly show several. Training counts such an image "
            "once for each of its labels, which blurs both.",
            items=tuple(found),
        )
    ]


def find_unreadable(failures: Sequence[tuple[str, str]]) -> list[Finding]:
    """``unreadable``: files that could not be read or decoded; items ``{"path", "reason"}``."""
    if not failures:
        return []
    return [
        Finding(
            code="unreadable",
            severity="warning",
            message=f"{_n(len(failures), 'file')} could not be read as images and will be skipped",
            advice="Open each file to check it: re-export damaged or unsupported images as JPEG "
            "or PNG, and remove files that are not images.",
            items=tuple({"path": path, "reason": reason} for path, reason in failures),
        )
    ]


def find_too_small(
    paths: Sequence[str], widths: Sequence[int], heights: Sequence[int], *, min_side: int = MIN_SIDE
) -> list[Finding]:
    """``too_small``: images under ``min_side`` pixels on a side; items with width, height."""
    small = [i for i in range(len(paths)) if min(widths[i], heights[i]) < min_side]
    if not small:
        return []
    return [
        Finding(
            code="too_small",
            severity="warning",
            message=f"{_n(len(small), 'image')} {_have(len(small))} a side under {min_side} pixels",
            advice="Replace them with larger versions if you have them, or remove them: the "
            "model enlarges every image to its input size, and tiny images lose the details "
            "that tell labels apart. Thumbnails are a common cause.",
            items=_size_items(paths, widths, heights, small),
        )
    ]


def find_too_large(
    paths: Sequence[str],
    widths: Sequence[int],
    heights: Sequence[int],
    *,
    max_pixels: int = MAX_PIXELS,
) -> list[Finding]:
    """``too_large``: images over ``max_pixels`` pixels; items with width, height."""
    large = [i for i in range(len(paths)) if widths[i] * heights[i] > max_pixels]
    if not large:
        return []
    return [
        Finding(
            code="too_large",
            severity="info",
            message=f"{_n(len(large), 'image')} {_have(len(large))} more than "
            f"{max_pixels / 1e6:g} megapixels",
            advice="Nothing breaks, but you can downsize them (e.g. to 1024 pixels on the "
            "longer side) to train and check faster: the model sees only a few hundred "
            "pixels, and decoding large photos takes most of the time.",
            items=_size_items(paths, widths, heights, large),
        )
    ]


def find_label_issues(
    paths: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    proba: np.ndarray,
    labels: Sequence[str],
    *,
    features: np.ndarray,
    multilabel: bool = False,
    n_neighbors: int = LABEL_NEIGHBORS,
    max_given_share: float = MAX_GIVEN_SHARE,
    min_suggested_share: float = MIN_SUGGESTED_SHARE,
) -> list[Finding]:
    """``label_issue``: images whose label is likely wrong (confident learning, Northcutt et al.).

    ``proba`` (n, k) must be out-of-fold: each row from a model that did not train on that image.
    It is averaged with a second opinion, the label shares among the image's ``n_neighbors``
    most similar images (centred cosine of ``features``). On that average, each label's
    threshold is the mean probability of that label over the images that carry it; an image is
    flagged when another label reaches its threshold and beats the given label, when at most
    ``max_given_share`` of its neighbours carry the given label and at least
    ``min_suggested_share`` carry the suggested one. ``score`` (in [0, 1], higher = more likely
    wrong) is the suggested label's averaged probability minus the given one's.

    On 582 real photos of 7 labels (EfficientNet-Lite0, ``train_classifier`` out-of-fold
    probabilities), with 10% of one label moved to another (20 pairs), it flagged 51% of the
    moved images and 35% of its flags were moved ones (59-62% / 39-46% when 60+ images moved);
    with 5-10% random wrong labels, 69% / 71%. Clean, it flags 6-10 look-alikes (top vs
    undershirt). The model alone (plain confident learning) gave 64-75% / 11-22%.

    ``multilabel``: each label is checked on its own as present/absent; ``suggested_label`` is
    the label set with the suspect labels added or removed. Items: ``{"path", "label",
    "suggested_label", "score"}``, most suspect first.
    """
    proba = np.asarray(proba, dtype=np.float64)
    n, k = proba.shape
    if n < MIN_IMAGES_FOR_STATISTICS or k < 2:
        return []
    Y = np.array([[name in names for name in labels] for names in label_sets], bool)  # noqa: N806
    neighbors, _ = nearest(unit_rows(features, centre=True), min(n_neighbors, n - 1))
    shares = (max_given_share, min_suggested_share)
    if multilabel:
        items = multilabel_issues(paths, label_sets, proba, Y, labels, neighbors, shares)
    else:
        items = multiclass_issues(paths, proba, Y, labels, neighbors, shares)
    if not items:
        return []
    items.sort(key=lambda item: -float(item["score"]))
    return [
        Finding(
            code="label_issue",
            severity="warning",
            message=f"{_n(len(items), 'image')} may have the wrong label",
            advice="Look at each image. If the suggested label fits, change it; if the given "
            "label is right, leave it. They were picked because a model that never saw them "
            "and their most similar images both point to another label. Fixing wrong labels "
            "often helps more than adding images.",
            items=tuple(items),
        )
    ]


def find_outliers(
    paths: Sequence[str],
    features: np.ndarray,
    *,
    n_neighbors: int = OUTLIER_NEIGHBORS,
    min_z: float = OUTLIER_MIN_Z,
) -> list[Finding]:
    """``outlier``: images far from all others in embedding space, whatever their label.

    The distance of an image is the mean cosine distance (raw features, not centred) to its
    ``n_neighbors`` most similar images, ignoring copies of itself; an image is flagged when
    that distance is ``min_z`` robust z-scores (median, scaled MAD) above the median. ``score``
    is the distance, in [0, 1] for non-negative features; higher = more unusual.

    With EfficientNet-Lite0, on 582 (884) real clothing photos: none of the photos is flagged,
    and 16 (14) of 16 non-clothing images (screenshots, icons, landscapes, noise) added one at
    a time are (z 3.8-6.2; photos reach 3.8: shoes among tops). Several similar odd images
    together score lower (five screenshots: z 2.9-4.2).
    """
    n = len(paths)
    if n < MIN_IMAGES_FOR_STATISTICS:
        return []
    _, sims = nearest(
        unit_rows(features, centre=False), min(n_neighbors, n - 2), skip_above=COPY_SIMILARITY
    )
    distance = np.clip(1.0 - sims.mean(axis=1), 0.0, 1.0)
    median = float(np.median(distance))
    spread = max(1.4826 * float(np.median(np.abs(distance - median))), 1e-3)
    z = (distance - median) / spread
    odd = np.flatnonzero(z >= min_z)
    if not len(odd):
        return []
    odd = odd[np.argsort(-distance[odd], kind="stable")]
    return [
        Finding(
            code="outlier",
            severity="warning",
            message=f"{_n(len(odd), 'image')} look{'s' if len(odd) == 1 else ''} unlike the "
            "rest of the data",
            advice="Check them: remove images that show none of your labels (screenshots, "
            "blank or accidental shots, other objects). If one is a real but unusual example, "
            "keep it and add more like it so the model learns that kind too.",
            items=tuple(
                {
                    "path": paths[i],
                    "score": round(float(distance[i]), 4),
                    "z": round(float(z[i]), 2),
                }
                for i in odd.tolist()
            ),
        )
    ]


def _size_items(
    paths: Sequence[str], widths: Sequence[int], heights: Sequence[int], idx: list[int]
) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"path": paths[i], "width": int(widths[i]), "height": int(heights[i])} for i in idx
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _have(count: int) -> str:
    return "has" if count == 1 else "have"


def _listed(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in sorted(counts.items(), key=lambda kv: (kv[1], kv[0])))


def _names(counts: Mapping[str, int]) -> str:
    return ", ".join(sorted(counts, key=lambda k: (counts[k], k)))
