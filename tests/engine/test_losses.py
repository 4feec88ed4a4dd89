"""``engine.losses``: what reaches which generator (the values themselves are held to the torch
twin in ``test_equivalence``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_augment.engine.config import ModelConfig
from singan_augment.engine.generate import run_chain
from singan_augment.engine.losses import chain_generator_loss
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


def _grads(adversarial_lower: bool, rec_weight: float = 10.0):
    params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real = _inputs()
    fn = jax.value_and_grad(chain_generator_loss, has_aux=True)
    (loss, _), grads = fn(
        params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real, rec_weight,
        SHAPES, MCFG, adversarial_lower=adversarial_lower,
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


def test_a_reconstruction_pull_trains_the_coarser_generators_by_the_reconstruction_alone():
    loss_all, g_all = _grads(True)
    loss_rec, g_rec = _grads(False)
    rec_only = _rec_only_grads()
    assert loss_rec == loss_all  # the value is the same loss; only its gradient is routed
    for j in range(len(SHAPES) - 1):
        assert _close(g_rec[j], rec_only[j]), f"generator {j}"
        assert not _close(g_all[j], rec_only[j]), f"generator {j}: the adversarial part is 0"
    # the trained scale's own generator gets both terms either way
    assert _close(g_rec[-1], g_all[-1])


@pytest.mark.parametrize("adversarial_lower", [True, False])
def test_without_a_reconstruction_weight_only_the_adversarial_pull_moves_coarser_ones(
    adversarial_lower,
):
    _, grads = _grads(adversarial_lower, rec_weight=0.0)
    lower = jax.tree.leaves(grads[:-1])
    moved = any(float(jnp.abs(g).max()) > 0.0 for g in lower)
    assert moved == adversarial_lower
