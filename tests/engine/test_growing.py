"""The growing generator (engine.growing) against its PyTorch twin, and its bookkeeping."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from singan_augment.engine.config import GrowingConfig
from singan_augment.engine.growing import (
    draw_growing_noises,
    group_lr_factors,
    grow,
    growing_apply,
    init_growing,
    join_trainable,
    noise_shapes,
    reconstruction_noises,
    split_trainable,
)
from singan_augment.errors import InputError
from singan_augment.testing.torch_growing import GrowingGenerator, load_growing_jax

SHAPES = ((9, 11), (12, 14), (15, 19))
C = 3
APPLY = jax.jit(growing_apply, static_argnums=(3, 4))  # one program, not op by op


def t(x) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def perturbed(params, key, scale=0.05):
    """``params`` with every leaf moved by noise, so that copied stages differ."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    )


def grown(n, cfg, key=0):
    p = init_growing(jax.random.PRNGKey(key), C, cfg)
    for _ in range(n - 1):
        p = grow(p)
    return perturbed(p, jax.random.PRNGKey(key + 100))


@pytest.mark.parametrize("n", [1, 3])  # no stage loop; the loop twice
@pytest.mark.parametrize(
    "cfg",
    [
        GrowingConfig(width=8),
        GrowingConfig(width=6, stage_layers=2, leaky_slope=0.2, conv_impl="xla"),
    ],
)
def test_forward_equals_the_torch_twin(n, cfg):
    params = grown(n, cfg)
    noises = draw_growing_noises(jax.random.PRNGKey(1), 2, SHAPES[:n], C, cfg, shared=False)
    amps = [1.0, 0.3, 0.7][:n]
    ours = APPLY(params, noises, amps, SHAPES[:n], cfg)
    G = load_growing_jax(GrowingGenerator(C, cfg.width, cfg.stage_layers, cfg.leaky_slope), params)
    with torch.no_grad():
        theirs = G([t(z) for z in noises], amps, SHAPES[:n])
    assert ours.shape == (2, *SHAPES[n - 1], C)
    np.testing.assert_allclose(np.asarray(ours), theirs.numpy().transpose(0, 2, 3, 1), atol=2e-5)
    assert float(jnp.max(jnp.abs(ours))) <= 1.0


def test_the_noise_reaches_every_stage():
    """Each stage's noise changes the output (none is dropped on the way)."""
    cfg = GrowingConfig(width=8, conv_impl="xla")
    params = grown(3, cfg)
    zs = draw_growing_noises(jax.random.PRNGKey(2), 1, SHAPES, C, cfg)
    base = APPLY(params, zs, [1.0, 0.5, 0.5], SHAPES, cfg)
    for k in range(3):
        other = list(zs)
        other[k] = zs[k] + 1.0
        moved = APPLY(params, other, [1.0, 0.5, 0.5], SHAPES, cfg)
        assert float(jnp.max(jnp.abs(moved - base))) > 1e-4, k


def test_noise_shapes_and_the_shared_coarsest_map():
    cfg = GrowingConfig(width=8)
    zs = draw_growing_noises(jax.random.PRNGKey(0), 2, SHAPES, C, cfg, shared=True)
    assert [z.shape[1:] for z in zs] == noise_shapes(SHAPES, C, cfg)
    assert zs[1].shape == (2, 12 + 6, 14 + 6, 8)
    assert np.all(np.asarray(zs[0][..., 0]) == np.asarray(zs[0][..., 2]))
    rec = reconstruction_noises(zs[0][:1], SHAPES, cfg)
    assert all(float(jnp.abs(z).max()) == 0.0 for z in rec[1:])


def test_grow_copies_the_last_stage():
    p = grown(2, GrowingConfig(width=4))
    q = grow(p)
    assert len(q["stages"]) == 3
    for a, b in zip(jax.tree.leaves(q["stages"][2]), jax.tree.leaves(p["stages"][1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert q["stages"][:2] == p["stages"]


@pytest.mark.parametrize(
    "stage, depth, factors",
    [
        (0, 3, (1.0, 1.0, 1.0)),  # head, stage 0, tail
        (1, 3, (0.1, 0.1, 1.0, 1.0)),
        (2, 3, (0.01, 0.01, 0.1, 1.0, 1.0)),
        (3, 3, (0.01, 0.1, 1.0, 1.0)),  # the head is frozen from here
        (3, 1, (1.0, 1.0)),
        (4, 2, (0.5, 1.0, 1.0)),
    ],
)
def test_split_join_and_learning_rate_factors(stage, depth, factors):
    lr_scale = 0.5 if depth == 2 else 0.1
    params = grown(stage + 1, GrowingConfig(width=4))
    groups, frozen = split_trainable(params, stage, depth)
    assert len(groups) == len(factors)
    np.testing.assert_allclose(group_lr_factors(stage, depth, lr_scale), factors)
    assert (frozen["head"] is None) == (stage < depth)
    assert len(frozen["stages"]) == max(0, stage - depth + 1)
    back = join_trainable(groups, frozen)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        assert a is b


def test_bad_inputs_raise_input_errors():
    cfg = GrowingConfig(width=4)
    params = grown(2, cfg)
    zs = draw_growing_noises(jax.random.PRNGKey(0), 1, SHAPES[:2], C, cfg)
    with pytest.raises(InputError, match="2 stages"):
        growing_apply(params, zs + zs[:1], [1.0] * 3, SHAPES, cfg)
    with pytest.raises(InputError, match="amplitudes"):
        growing_apply(params, zs, [1.0], SHAPES[:2], cfg)
    with pytest.raises(InputError, match="channels"):
        init_growing(jax.random.PRNGKey(0), 0, cfg)
    with pytest.raises(InputError, match="GrowingConfig.width"):
        GrowingConfig(width=0)
    with pytest.raises(InputError, match="GrowingConfig.conv_impl"):
        GrowingConfig(conv_impl="fft")
    assert GrowingConfig.from_dict(cfg.to_dict()) == cfg
