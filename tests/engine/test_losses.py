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


# jitted: one compile for every weight below (the weights are traced), where running the
# three-generator chain and its gradient op by op takes seconds
_LOSS = jax.jit(jax.value_and_grad(chain_generator_loss, has_aux=True), static_argnums=(9, 10))


def _grads(rec_weight: float = 10.0):
    params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real = _inputs()
    (loss, _), grads = _LOSS(
        params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real, rec_weight, SHAPES, MCFG
    )
    return float(loss), grads


def _rec_only_grads(rec_weight: float = 10.0):
    """The gradient of the reconstruction term alone."""
    params, stats, _, _, _, rec_prev, rec_noise_p, real = _inputs()

    def rec_term(params):
        rec, _ = run_chain(params, stats, rec_prev, rec_noise_p, SHAPES, MCFG, train=True)
        return rec_weight * jnp.mean(jnp.square(rec - real))

    return jax.jit(jax.grad(rec_term))(params)


def _close(a, b) -> bool:
    return all(
        np.allclose(x, y, rtol=1e-5, atol=1e-7)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def test_every_generator_of_the_chain_gets_both_terms():
    """ConSinGAN's concurrent loss: each generator's gradient is the adversarial term's plus
    the reconstruction term's (taken apart with ``rec_weight`` 0 and the term alone), and
    neither part is zero, the coarser generators' included. (Compiled and eager sums differ
    in float32 rounding, up to 5e-6 on the pre-BN biases, whose true gradient is 0.)"""
    _, full = _grads()
    _, adv = _grads(rec_weight=0.0)
    rec = _rec_only_grads()
    for j in range(len(SHAPES)):
        for f, a, r in zip(*(jax.tree.leaves(t[j]) for t in (full, adv, rec))):
            np.testing.assert_allclose(f, a + r, rtol=1e-4, atol=1e-5, err_msg=f"generator {j}")
        for part, name in ((adv[j], "adversarial"), (rec[j], "reconstruction")):
            biggest = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(part))
            assert biggest > 0.0, f"generator {j}: the {name} part is 0"


def _anchored(weights, anchor_reals=None):
    params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real = _inputs()
    if anchor_reals is None:
        ks = jax.random.split(jax.random.PRNGKey(11), len(SHAPES) - 1)
        anchor_reals = [jnp.tanh(jax.random.normal(k, (1, *s, C))) for k, s in zip(ks, SHAPES)]
    anchors = tuple((a, jnp.float32(w)) for a, w in zip(anchor_reals, weights))
    (loss, (aux, _)), grads = _LOSS(
        params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real, 10.0, SHAPES, MCFG,
        anchors=anchors,
    )  # fmt: skip
    return float(loss), aux, grads, anchor_reals


@pytest.mark.parametrize("weights", [(1.0, 0.0), (0.0, 2.5), (10.0, 40.0)])
def test_an_anchor_adds_each_coarser_reconstructions_own_error(weights):
    """The anchored loss is ConSinGAN's plus ``w_j * MSE(rec_j, real_j)`` for each coarser
    generator j, ``rec_j`` the reconstruction path cut after j (computed here on its own)."""
    plain, _ = _grads()
    loss, aux, _, reals = _anchored(weights)
    params, stats, _, _, _, rec_prev, rec_noise_p, _ = _inputs()
    mses = []
    for j, a in enumerate(reals):
        cut = slice(0, j + 1)
        rec_j, _ = run_chain(
            params[cut], stats[cut], rec_prev, rec_noise_p[cut], SHAPES[cut], MCFG, train=True
        )
        mses.append(float(jnp.mean(jnp.square(rec_j - a))))
    assert loss == pytest.approx(plain + sum(w * m for w, m in zip(weights, mses)), rel=1e-5)
    assert float(aux["rec_anchor"]) == pytest.approx(sum(mses), rel=1e-5)


def test_an_anchor_reaches_only_the_generators_at_and_below_its_scale():
    """An anchor at the coarsest generator moves the coarsest generator's gradient and leaves
    the finer ones' exactly as they were: the term depends on nothing above its scale."""
    _, _, plain, reals = _anchored((0.0, 0.0))
    _, _, grads, _ = _anchored((5.0, 0.0), reals)
    assert not _close(grads[0], plain[0])
    assert _close(grads[1], plain[1]) and _close(grads[2], plain[2])


def test_anchors_must_match_the_coarser_generators():
    params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real = _inputs()
    one = ((jnp.zeros((1, *SHAPES[0], C)), jnp.float32(1.0)),)
    with pytest.raises(ValueError, match="1 anchors for 2 coarser generators"):
        chain_generator_loss(
            params, stats, d, fake_prev, noise_p, rec_prev, rec_noise_p, real, 10.0, SHAPES,
            MCFG, anchors=one,
        )  # fmt: skip
