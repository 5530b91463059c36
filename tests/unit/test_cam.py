"""Class-activation maps are an exact split of a linear head's logits over positions."""

from __future__ import annotations

import numpy as np
import pytest

from tagloop.embed.cam import class_maps, positive_share
from tagloop.serve.explain import Explanation, overlay, strength


@pytest.mark.parametrize("gem_p", [1.0, 3.0])
def test_maps_sum_to_the_logits_minus_the_bias(gem_p: float) -> None:
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 6, (4, 10, 5, 5)).astype(np.float32)
    weight = rng.normal(0, 1, (3, 10))
    pooled = (maps.astype(np.float64) ** gem_p).mean(axis=(2, 3)) ** (1 / gem_p)
    heat = class_maps(maps, weight, gem_p)
    assert heat.shape == (4, 3, 5, 5)
    np.testing.assert_allclose(heat.sum(axis=(2, 3)), pooled @ weight.T, rtol=1e-4, atol=1e-4)


def test_a_channel_in_one_place_puts_the_evidence_there() -> None:
    maps = np.zeros((1, 2, 4, 4), np.float32)
    maps[0, 0, 3, 0] = 5.0  # channel 0 only bottom left
    maps[0, 1] = 1.0  # channel 1 everywhere
    heat = class_maps(maps, np.array([[1.0, 0.0], [0.0, 1.0]]), 3.0)
    share = positive_share(heat)[0]
    assert share[0, 3, 0] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(share[1], np.full((4, 4), 1 / 16), atol=1e-6)


def test_the_overlay_is_the_photo_where_nothing_speaks_for_the_tag() -> None:
    pixels = np.full((32, 32, 3), 128, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 3] = 2.0
    found = Explanation("a", 0, 0.9, heat, pixels)
    assert found.peak == (0.875, 0.125)
    v = strength(heat, 32)
    assert v.max() == pytest.approx(1.0) and v[31, 0] == 0.0
    drawn = np.asarray(overlay(found), np.int16)
    assert drawn.shape == (32, 32, 3)
    hot, cold = drawn[4, 28], drawn[28, 4]
    assert np.abs(hot - 128).sum() > np.abs(cold - 128).sum()
