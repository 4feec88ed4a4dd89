"""``engine.losses``: what reaches which generator (the values themselves are held to the torch
twin in ``test_equivalence``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_augment.engine.config import ModelConfig
from singan_augment.engine.generate import run_chain
from singan_augment.engine.losses import chain_generator_loss, scale_gradient
from singan_augment.engine.networks import init_discriminator, init_generator
from singan_augment.engine.scales import pad

C = 2
SHAPES = ((13, 15), (17, 19), (21, 23))
MCFG = ModelConfig(num_layers=2, nfc_init=8, nfc_max=8, conv_impl="xla")


def _inputs():
    gens = [init_generator(jax.random.PRNGKey(j), C, 8, MCFG) for j in range(len(SHAPES))]
    d = init_discriminator(jax.random.PRNGKey(9), C, 8, MCFG)[0]
    ks = jax.random.split(jax.random.PRNGKey(10), 2 + len(SHAPES))
    p = MCFG.pad
    fake_prev = 0.5 * jnp.tanh(jax.random.normal(ks[0], (1, *SHAPES[0], C)))
    noise_p = tuple(pad(0.3 * jax.random.normal(k, (1, *s, C)), p) for k, s in zip(ks[2:], SHAPES))
    rec_noise_p = (noise_p[0], *(jnp.zeros_like(z) for z in noise_p[1:]))
    real = jnp.tanh(jax.random.normal(ks[1], (1, *SHAPES[-1], C)))
    params = tuple(g[0] for g in gens)
    stats = tuple(g[1] for g in gens)
    return params, stats, d, fake_prev, noise_p, jnp.zeros_like(fake_prev), rec_noise_p, real


def _grads(adversarial_pull: float, rec_weight: float = 10.0):
    params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real = _inputs()
    fn = jax.value_and_grad(chain_generator_loss, has_aux=True)
    (loss, _), grads = fn(
        params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real, rec_weight,
        SHAPES, MCFG, adversarial_pull=adversarial_pull,
    )  # fmt: skip
    return float(loss), grads


def _rec_only_grads(rec_weight: float = 10.0):
    """The gradient of the reconstruction term alone."""
    params, stats, _, _, _, rec_prev, rec_noise_p, real = _inputs()

    def rec_term(params):
        rec, _ = run_chain(params, stats, rec_prev, rec_noise_p, SHAPES, MCFG, train=True)
        return rec_weight * jnp.mean(jnp.square(rec - real))

    return jax.grad(rec_term)(params)


def _close(a, b) -> bool:
    return all(
        np.allclose(x, y, rtol=1e-5, atol=1e-7)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


@pytest.mark.parametrize("share", [0.0, 0.3, 0.7])
def test_the_coarser_generators_get_the_reconstruction_and_a_share_of_the_adversarial_pull(share):
    loss_all, g_all = _grads(1.0)
    loss, g = _grads(share)
    rec_only = _rec_only_grads()
    assert loss == loss_all  # the value is the same loss; only its gradient is scaled
    for j in range(len(SHAPES) - 1):
        adv = jax.tree.map(lambda a, r: a - r, g_all[j], rec_only[j])
        want = jax.tree.map(lambda r, a: r + share * a, rec_only[j], adv)
        assert _close(g[j], want), f"generator {j}"
        assert not _close(g_all[j], rec_only[j]), f"generator {j}: the adversarial part is 0"
    # the trained scale's own generator gets both terms in full whatever the share
    assert _close(g[-1], g_all[-1])


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_without_a_reconstruction_weight_only_the_adversarial_pull_moves_coarser_ones(share):
    _, grads = _grads(share, rec_weight=0.0)
    _, full = _grads(1.0, rec_weight=0.0)
    lower = jax.tree.leaves(grads[:-1])
    assert any(float(jnp.abs(g).max()) > 0.0 for g in lower) == (share > 0)
    for g, f in zip(lower, jax.tree.leaves(full[:-1])):
        np.testing.assert_allclose(g, share * f, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("factor", [0.0, 0.25, 1.0, 2.0])
def test_scale_gradient_keeps_the_value_and_scales_the_gradient(factor):
    x = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.array([0.5, -1.5])}

    def f(t):
        u = scale_gradient(t, factor)
        return jnp.sum(jnp.sin(u["w"])) + jnp.sum(u["b"] ** 2)

    assert float(f(x)) == float(jnp.sum(jnp.sin(x["w"])) + jnp.sum(x["b"] ** 2))
    g = jax.grad(f)(x)
    np.testing.assert_allclose(g["w"], factor * jnp.cos(x["w"]), rtol=1e-6)
    np.testing.assert_allclose(g["b"], factor * 2 * x["b"], rtol=1e-6)
