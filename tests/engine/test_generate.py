"""The frozen forward pass: the per-scale compiled form (``synthesize``, ``reconstruction``)
computes what the traced chain (``run_scales`` with ``draw_noises``) computes, and the
sampling noise drawn in size buckets is bit for bit ``draw_noise``'s."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from singan_augment.engine.generate import (
    draw_noise,
    draw_noises,
    noise_per_key,
    reconstruction,
    run_scales,
    synthesize,
)
from singan_augment.engine.scales import resize
from singan_augment.testing import TINY_MODEL, TINY_PYRAMID, tiny_image, untrained_pyramid


@pytest.mark.parametrize("shared", [False, True])
def test_noise_per_key_is_draw_noise_per_key(shared):
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    got = noise_per_key(keys, shape=(25, 28), channels=3, shared=shared)
    want = np.concatenate([np.asarray(draw_noise(k, 1, (25, 28), 3, shared)) for k in keys])
    assert got.shape == (3, 25, 28, 3)
    np.testing.assert_array_equal(np.asarray(got), want)


@pytest.fixture(scope="module")
def pyr():
    return untrained_pyramid(tiny_image(), model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID)


def chain(pyr, keys, prev, first, shared_coarsest):
    """The reference: each sample's noise from draw_noises and the whole chain traced at once."""
    shapes = pyr.shapes[first:]

    def one(key):
        noises = draw_noises(key, 1, shapes, pyr.num_channels, shared_coarsest, first_scale=first)
        return run_scales(pyr.stages[first:], shapes, noises, prev, pyr.model_config)[0]

    return jax.jit(jax.vmap(one))(keys)


@pytest.mark.parametrize("first", [0, 1, 2])
def test_synthesize_matches_the_traced_chain(pyr, first):
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    prev = None if first == 0 else resize(pyr.reals[first - 1][None], pyr.shapes[first])
    got = synthesize(
        pyr.stages[first:],
        pyr.shapes[first:],
        keys,
        prev,
        pyr.model_config,
        channels=pyr.num_channels,
        first_scale=first,
        shared_coarsest=True,
    )
    want = chain(pyr, keys, prev, first, True)
    assert got.shape == (3, *pyr.shapes[-1], pyr.num_channels)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)


def test_a_samples_stream_does_not_depend_on_the_batch(pyr):
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    kw = dict(channels=pyr.num_channels, shared_coarsest=True)
    three = synthesize(pyr.stages, pyr.shapes, keys, None, pyr.model_config, **kw)
    one = synthesize(pyr.stages, pyr.shapes, keys[1:2], None, pyr.model_config, **kw)
    np.testing.assert_allclose(np.asarray(one[0]), np.asarray(three[1]), atol=1e-5)
    assert not np.allclose(np.asarray(three[0]), np.asarray(three[1]))


@pytest.mark.parametrize("upto", [1, 3])
def test_reconstruction_matches_the_traced_chain(pyr, upto):
    z_opt = pyr.z_opt
    noises = [z_opt] + [np.zeros((1, *s, pyr.num_channels), np.float32) for s in pyr.shapes[1:upto]]
    want = jax.jit(lambda st, zs: run_scales(st, pyr.shapes[:upto], zs, None, pyr.model_config))(
        pyr.stages[:upto], noises
    )
    got = reconstruction(pyr.stages[:upto], pyr.shapes, z_opt, pyr.model_config)
    assert got.shape == (1, *pyr.shapes[upto - 1], pyr.num_channels)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
