"""The shortcut check's logic on a model whose rule is known (the real backbone's case is in
tests/integration/test_trust.py): a tag decided by a patch in one place is found, with the
right box; a tag decided by the whole photo is not; a coarse grid is not judged."""

from __future__ import annotations

import numpy as np

from tagloop.insights.shortcuts import Probe, ShortcutTest, find_shortcuts, probe_tags

SIZE, GRID = 64, 8
N = 20


def _photos(stamped: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 120, (N, SIZE, SIZE, 3)).astype(np.uint8)
    if stamped:
        pixels[:, 0:16, 48:64] = (250, 210, 0)
    return pixels


def _yellow(pixels: np.ndarray) -> np.ndarray:
    region = pixels[:, 0:16, 48:64].astype(int)
    return ((region[..., 0] > 200) & (region[..., 2] < 50)).mean(axis=(1, 2))


def _stamp_model(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tag 0 is 'the stamp is there'; its evidence sits in the stamp's cells."""
    s = _yellow(pixels)
    p0 = 0.05 + 0.9 * s
    heat = np.zeros((len(pixels), 2, GRID, GRID), np.float32)
    heat[:, 0, 0:2, 6:8] = s[:, None, None] + 0.01
    heat[:, 0, 3:5, 3:5] = 0.02  # a little evidence elsewhere
    heat[:, 1] = 0.1
    return np.stack([p0, 1 - p0], axis=1), heat


def _brightness_model(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tag 0 is 'a bright photo': the whole image decides."""
    b = pixels.mean(axis=(1, 2, 3)) / 255.0
    p0 = np.clip((b - 0.2) * 3, 0.02, 0.98)
    heat = np.repeat(pixels.mean(axis=3)[:, None, ::8, ::8], 2, axis=1)
    return np.stack([p0, 1 - p0], axis=1), heat.astype(np.float32)


def _run(model: Probe, own: np.ndarray, other: np.ndarray) -> list[ShortcutTest]:
    pixels = np.concatenate([own, other])
    Y = np.zeros((2 * N, 2), int)  # noqa: N806
    Y[:N, 0] = 1
    Y[N:, 1] = 1
    return probe_tags(
        model,
        lambda idx: pixels[list(idx)],
        Y,
        ["stamped", "plain"],
        [f"{i}.jpg" for i in range(2 * N)],
        multilabel=False,
    )


def test_a_patch_that_decides_a_tag_is_found_where_it_is() -> None:
    tests = _run(_stamp_model, _photos(True, 0), _photos(False, 1))
    found = find_shortcuts(tests)
    assert [f.extra["tag"] for f in found] == ["stamped"]
    box = found[0].extra["box"]
    assert box["left"] >= 0.5 and box["top"] == 0.0 and box["bottom"] <= 0.5
    assert found[0].extra["transplant_effect"] == 1.0
    assert found[0].extra["occlusion_drop"] > 0.8
    assert "top right corner" in found[0].message
    assert all(item["path"] in {f"{i}.jpg" for i in range(N)} for item in found[0].items)


def test_a_tag_decided_by_the_whole_photo_is_not_a_shortcut() -> None:
    bright = _photos(False, 0) + 120
    tests = _run(_brightness_model, bright, _photos(False, 1))
    assert {t.tag for t in tests} == {"stamped", "plain"}
    assert find_shortcuts(tests) == []


def test_a_coarse_grid_is_not_judged() -> None:
    def coarse(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        proba, heat = _stamp_model(pixels)
        return proba, heat[:, :, :4, :4]

    assert _run(coarse, _photos(True, 0), _photos(False, 1)) == []
