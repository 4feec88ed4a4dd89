"""Draws compiled per size bucket are bit for bit the per-shape ``jax.random`` draws."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from singan_augment.engine import draws

SHAPES = [(5,), (25, 29, 3), (draws.MIN_SIZE,), (draws.MIN_SIZE + 1,), (3, 7, 9, 2), (40, 37, 1)]


def _keys(count: int, typed: bool) -> jax.Array:
    keys = jax.random.split(jax.random.PRNGKey(count), count)
    return jax.random.wrap_key_data(keys) if typed else keys


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("count", [1, 3, 4])
def test_normal_rows_are_the_per_shape_draws(count, shape, typed):
    keys = _keys(count, typed)
    want = np.stack([np.asarray(jax.random.normal(k, shape)) for k in keys])
    got = draws.normal_rows(keys, shape)
    assert got.shape == (count, *shape) and got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-0.3, 0.3)])
def test_uniform_rows_are_the_per_shape_draws(shape, bounds):
    keys = _keys(3, False)
    want = np.stack([np.asarray(jax.random.uniform(k, shape, np.float32, *bounds)) for k in keys])
    got = draws.uniform_rows(keys, shape, *bounds)
    assert got.shape == (3, *shape) and got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got), want)
    assert got.min() >= bounds[0] and got.max() < bounds[1]


def test_single_key_draws():
    key = jax.random.PRNGKey(11)
    np.testing.assert_array_equal(draws.normal(key, (6, 5)), jax.random.normal(key, (6, 5)))
    np.testing.assert_array_equal(
        draws.uniform(key, (6, 5), -1.0, 2.0), jax.random.uniform(key, (6, 5), minval=-1, maxval=2)
    )
