"""SinGAN's losses: WGAN-GP for D, adversarial + reconstruction for G.

All inputs are NHWC. Inputs to G are already zero-padded (see ``generate``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import ModelConfig
from .networks import (
    BatchStats,
    Params,
    discriminator_apply,
    discriminator_apply_many,
    generator_apply,
    generator_apply_many,
)


def gradient_penalty(
    d_params: Params, real: jax.Array, fake: jax.Array, alpha: jax.Array, config: ModelConfig
) -> jax.Array:
    """WGAN-GP term (unweighted): mean over pixels of (||dD/dx||_2 over channels - 1)^2,
    at ``x = alpha * real + (1 - alpha) * fake`` with a scalar ``alpha``."""
    x = alpha * real + (1.0 - alpha) * fake
    grad = jax.grad(lambda v: jnp.sum(discriminator_apply(d_params, v, config=config)))(x)
    norm = jnp.sqrt(jnp.sum(jnp.square(grad), axis=-1))
    return jnp.mean(jnp.square(norm - 1.0))


def discriminator_loss(
    d_params: Params,
    real: jax.Array,
    fake: jax.Array,
    alpha: jax.Array,
    gp_weight: float,
    config: ModelConfig,
    fuse: int = 0,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``-mean D(real) + mean D(fake) + gp_weight * GP``; D runs once per input (own batch stats)."""
    if fuse == 3:
        x = alpha * real + (1.0 - alpha) * fake

        def slot(v, want_grad):
            out, vjp = jax.vjp(lambda u: discriminator_apply(d_params, u, config=config), v)
            return out, vjp(want_grad * jnp.ones_like(out))[0]

        outs, grads = jax.vmap(slot)(jnp.stack([real, fake, x]), jnp.array([0.0, 0.0, 1.0]))
        err_real, err_fake = -jnp.mean(outs[0]), jnp.mean(outs[1])
        norm = jnp.sqrt(jnp.sum(jnp.square(grads[2]), axis=-1))
        gp = jnp.mean(jnp.square(norm - 1.0))
    else:
        if fuse == 2:
            outs = discriminator_apply_many(d_params, jnp.stack([real, fake]), config=config)
            err_real, err_fake = -jnp.mean(outs[0]), jnp.mean(outs[1])
        else:
            err_real = -jnp.mean(discriminator_apply(d_params, real, config=config))
            err_fake = jnp.mean(discriminator_apply(d_params, fake, config=config))
        gp = gradient_penalty(d_params, real, fake, alpha, config)
    total = err_real + err_fake + gp_weight * gp
    return total, {"d_real": err_real, "d_fake": err_fake, "gp": gp, "d_total": total}


def generator_loss(
    g_params: Params,
    g_stats: BatchStats,
    d_params: Params,
    fake_in: jax.Array,
    fake_prev: jax.Array,
    rec_in: jax.Array,
    rec_prev: jax.Array,
    real: jax.Array,
    rec_weight: float,
    config: ModelConfig,
    fuse: bool = False,
) -> tuple[jax.Array, tuple[dict[str, jax.Array], BatchStats]]:
    """``-mean D(G(fake_in)) + rec_weight * MSE(G(rec_in), real)``.

    G runs in training mode twice (random input, then reconstruction input), each call with
    its own batch statistics; the BN running averages are threaded through both.
    """
    if fuse:
        (fake, rec), g_stats = generator_apply_many(
            g_params,
            g_stats,
            jnp.stack([fake_in, rec_in]),
            jnp.stack([fake_prev, rec_prev]),
            config=config,
        )
    else:
        fake, g_stats = generator_apply(
            g_params, g_stats, fake_in, fake_prev, train=True, config=config
        )
        rec, g_stats = generator_apply(
            g_params, g_stats, rec_in, rec_prev, train=True, config=config
        )
    err_adv = -jnp.mean(discriminator_apply(d_params, fake, config=config))
    rec_mse = jnp.mean(jnp.square(rec - real))
    total = err_adv + rec_weight * rec_mse
    return total, ({"g_adv": err_adv, "rec": rec_mse, "g_total": total}, g_stats)
