"""``shortcut``: a tag the model recognizes by a small patch in one place (a watermark, a
stamp, a corner mark, a tray in the same spot) rather than by the object.

For each tag, the model's class-activation maps (:mod:`tagloop.embed.cam`) over a sample of
the tag's own photos are averaged, and the 2x2-cell window holding the most evidence is the
candidate (a quarter by a quarter of the image, on the usual 8x8 grid). Two experiments then
test it on the model itself:

- occlusion: the window is filled with each photo's mean colour, and the tag's probability
  drop is measured;
- transplant: the window's pixels, taken from the tag's photos, are pasted at the same place
  onto photos of *other* tags, and the share of them that the model then calls this tag is
  measured (minus the share it already did).

A finding needs the transplant to turn at least half of the other photos (a patch that small
should not decide what the photo shows) and the occlusion to cost the tag at least 0.1 of
probability. The transplant is what tells a shortcut from the object: on the 582 sample photos
(7 tags, ``benchmarks/trust_eval.py``) covering the hottest window of a clean tag's photos
costs it up to 0.4 (the window is usually on the garment), but its transplant effect stayed at
or below 0.21 (0.29 when the photos were split into two tags at random, so that the tags meant
nothing); with a 48-pixel checkered stamp on every photo of a tag that the stamp alone decides,
the transplant effect was 0.71-1.00 at every position, while covering the stamp cost only
0.14-0.47 (the model also uses the rest of the photo). A stamp on every photo of a tag
the model can tell by the garment itself was *not* learned by the regularized head (pasting it
on other photos turned none of them), and is rightly not reported. Backgrounds that are not in
one place (a colour, a texture) are not detected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tagloop.embed.cam import positive_share
from tagloop.insights.findings import Finding

SAMPLE_PER_TAG = 24  # photos of the tag whose maps are averaged and that are occluded
MIN_PHOTOS = 8  # fewer photos of a tag: no check
MIN_TRANSPLANT_EFFECT = 0.5
MIN_OCCLUSION_DROP = 0.1
WINDOW = 3  # cells

# pixels (N, S, S, 3) uint8 → (probabilities (N, K), heatmaps (N, K, H, W))
Probe = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ShortcutTest:
    tag: str
    box: tuple[float, float, float, float]  # left, top, right, bottom as fractions
    evidence_share: float  # mean share of the tag's positive evidence inside the window
    occlusion_drop: float
    transplant_effect: float
    examples: tuple[str, ...]

    @property
    def found(self) -> bool:
        return (
            self.transplant_effect >= MIN_TRANSPLANT_EFFECT
            and self.occlusion_drop >= MIN_OCCLUSION_DROP
        )


def probe_tags(
    probe: Probe,
    load: Callable[[Sequence[int]], np.ndarray],
    Y: np.ndarray,  # noqa: N803
    labels: Sequence[str],
    paths: Sequence[str],
    *,
    multilabel: bool,
    seed: int = 0,
) -> list[ShortcutTest]:
    """One :class:`ShortcutTest` per tag with enough photos. ``load(indices)`` gives the
    model inputs of those training images; ``Y`` is (n, k) 0/1."""
    rng = np.random.default_rng(seed)
    out = []
    for k, tag in enumerate(labels):
        own = np.flatnonzero(Y[:, k] == 1)
        others = np.flatnonzero(Y[:, k] == 0)
        if len(own) < MIN_PHOTOS or len(others) < MIN_PHOTOS:
            continue
        own = np.sort(rng.choice(own, min(SAMPLE_PER_TAG, len(own)), replace=False))
        pixels = load(own.tolist())
        proba, heatmaps = probe(pixels)
        share = positive_share(heatmaps[:, k]).mean(axis=0)
        grid_h, grid_w = share.shape
        if min(grid_h, grid_w) < 2 * WINDOW:  # a window would not be a small part of the image
            return []
        w = WINDOW
        sums = np.lib.stride_tricks.sliding_window_view(share, (w, w)).sum(axis=(2, 3))
        row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
        size = pixels.shape[1]
        top, bottom = row * size // grid_h, (row + w) * size // grid_h
        left, right = col * size // grid_w, (col + w) * size // grid_w

        occluded = pixels.copy()
        means = pixels.reshape(len(pixels), -1, 3).mean(axis=1).astype(np.uint8)
        occluded[:, top:bottom, left:right] = means[:, None, None, :]
        drop = float((proba[:, k] - probe(occluded)[0][:, k]).mean())

        hosts = np.sort(rng.choice(others, min(len(own), len(others)), replace=False))
        host_pixels = load(hosts.tolist())
        before = _calls(probe(host_pixels)[0], k, multilabel)
        pasted = host_pixels.copy()
        pasted[:, top:bottom, left:right] = pixels[: len(hosts), top:bottom, left:right]
        after = _calls(probe(pasted)[0], k, multilabel)
        hottest = np.argsort(-heatmaps[:, k].max(axis=(1, 2)), kind="stable")[:5]
        out.append(
            ShortcutTest(
                tag=tag,
                box=(left / size, top / size, right / size, bottom / size),
                evidence_share=float(sums[row, col]),
                occlusion_drop=drop,
                transplant_effect=float(after.mean() - before.mean()),
                examples=tuple(paths[int(own[i])] for i in hottest),
            )
        )
    return out


def find_shortcuts(tests: Sequence[ShortcutTest]) -> list[Finding]:
    found = []
    for t in tests:
        if not t.found:
            continue
        left, top, right, bottom = t.box
        where = _where(t.box)
        found.append(
            Finding(
                code="shortcut",
                severity="warning",
                message=(
                    f"The model recognizes '{t.tag}' by a small patch {where} "
                    f"({100 * left:.0f}-{100 * right:.0f}% across, {100 * top:.0f}-"
                    f"{100 * bottom:.0f}% down): pasting that patch onto photos of other tags "
                    f"makes it call {100 * t.transplant_effect:.0f}% of them '{t.tag}', and "
                    f"covering it lowers '{t.tag}' by {t.occlusion_drop:.2f} on average."
                ),
                advice=(
                    "See where the model looks in these photos (`tagloop explain`, or the "
                    "heat-maps on the Performance page). If the patch is a watermark, stamp, "
                    "label or background object rather than the thing itself: crop or remove "
                    "it, vary the background, and add photos of this tag without it (and of "
                    "other tags with it)."
                ),
                items=tuple({"path": p, "tag": t.tag} for p in t.examples),
                extra={
                    "tag": t.tag,
                    "box": {"left": left, "top": top, "right": right, "bottom": bottom},
                    "occlusion_drop": round(t.occlusion_drop, 4),
                    "transplant_effect": round(t.transplant_effect, 4),
                    "evidence_share": round(t.evidence_share, 4),
                },
            )
        )
    return found


def _calls(proba: np.ndarray, k: int, multilabel: bool) -> np.ndarray:
    if multilabel:
        return np.asarray(proba[:, k] >= 0.5)
    return np.asarray(proba.argmax(axis=1) == k)


def _where(box: tuple[float, float, float, float]) -> str:
    x = (box[0] + box[2]) / 2
    y = (box[1] + box[3]) / 2
    across = "left" if x < 1 / 3 else "right" if x > 2 / 3 else "centre"
    down = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
    if (across, down) == ("centre", "middle"):
        return "in the centre"
    if across == "centre":
        return f"at the {down}"
    if down == "middle":
        return f"at the {across}"
    return f"in the {down} {across} corner"
