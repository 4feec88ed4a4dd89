"""``display_image``: the report's (and the benchmarks') way to show a (C, ...) image."""

from __future__ import annotations

import numpy as np
import pytest

from singan_augment.expansion.report import display_image


@pytest.mark.parametrize(("channels", "shape"), [(1, (6, 7)), (3, (6, 7, 3)), (4, (6, 7))])
def test_display_image_shape_and_range(channels, shape):
    rng = np.random.default_rng(channels)
    real = rng.normal(size=(channels, 6, 7)) * np.arange(1, channels + 1)[:, None, None]
    out = display_image(real * 1.5, real)  # outside the real's range: clipped
    assert out.shape == shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    same = display_image(real, real)
    assert same.min() == pytest.approx(0.0) and same.max() == pytest.approx(1.0)


def test_display_image_stretches_each_channel_to_the_real_range():
    real = np.stack([np.linspace(0, 1, 12), np.linspace(-5, 5, 12), np.zeros(12)]).reshape(3, 3, 4)
    out = display_image(real, real)
    np.testing.assert_allclose(out[..., 0], out[..., 1])  # two ranges, one picture
    assert np.isfinite(out).all() and (out[..., 2] == 0).all()  # a flat channel: no NaN


def test_display_image_volume_shows_the_middle_slice():
    vol = np.arange(5, dtype=float)[None, :, None, None] * np.ones((1, 5, 2, 3))
    np.testing.assert_allclose(display_image(vol, vol), np.full((2, 3), 0.5))
