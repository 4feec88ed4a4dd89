"""SinGAN's losses: WGAN-GP for D, adversarial + reconstruction for G.

All inputs are NHWC. Inputs to G are already zero-padded (see ``generate``).
``chain_generator_loss`` is ``generator_loss`` for several generators trained together
(``TrainConfig.concurrent_stages``); with one generator it computes the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from .config import ModelConfig
from .generate import run_chain, run_chain_outputs
from .networks import BatchStats, Params, discriminator_apply, generator_apply
from .scales import resize_prev
from .windows import Window, take_window


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
    *,
    penalty: bool = True,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``-mean D(real) + mean D(fake) + gp_weight * GP``; D runs once per input (own batch stats).

    ``penalty=False`` leaves the GP out (a lazily regularised step, ``TrainConfig.gp_every``):
    the loss is the critic's alone and the ``"gp"`` entry is 0, not a measurement.
    """
    err_real = -jnp.mean(discriminator_apply(d_params, real, config=config))
    err_fake = jnp.mean(discriminator_apply(d_params, fake, config=config))
    if penalty:
        gp = gradient_penalty(d_params, real, fake, alpha, config)
        total = err_real + err_fake + gp_weight * gp
    else:
        gp, total = jnp.zeros(()), err_real + err_fake
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
) -> tuple[jax.Array, tuple[dict[str, jax.Array], BatchStats]]:
    """``-mean D(G(fake_in)) + rec_weight * MSE(G(rec_in), real)``.

    G runs in training mode twice (random input, then reconstruction input), each call with
    its own batch statistics; the BN running averages are threaded through both.
    """
    fake, g_stats = generator_apply(
        g_params, g_stats, fake_in, fake_prev, train=True, config=config
    )
    err_adv = -jnp.mean(discriminator_apply(d_params, fake, config=config))
    rec, g_stats = generator_apply(g_params, g_stats, rec_in, rec_prev, train=True, config=config)
    rec_mse = jnp.mean(jnp.square(rec - real))
    total = err_adv + rec_weight * rec_mse
    return total, ({"g_adv": err_adv, "rec": rec_mse, "g_total": total}, g_stats)


def chain_generator_loss(
    params: tuple[Params, ...],
    stats: tuple[BatchStats, ...],
    d_params: Params,
    fake_prev: jax.Array,
    fake_noise_p: Sequence[jax.Array],
    rec_prev: jax.Array,
    rec_noise_p: Sequence[jax.Array],
    real: jax.Array,
    rec_weight: float,
    shapes: Sequence[tuple[int, ...]],
    config: ModelConfig,
    *,
    diversity_weight: float = 0.0,
    other_prev: jax.Array | None = None,
    other_noise_p: Sequence[jax.Array] | None = None,
    variety_floor: jax.Array | None = None,
    window: Window | None = None,
    anchors: Sequence[tuple[jax.Array, jax.Array]] = (),
) -> tuple[jax.Array, tuple[dict[str, jax.Array], tuple[BatchStats, ...]]]:
    """``-mean D(chain(fake)) + rec_weight * MSE(chain(rec), real)`` through the generators
    ``params`` (coarsest first; ``generate.run_chain``), all in training mode. Both terms'
    gradients reach every generator of the chain (ConSinGAN's concurrent training).

    Args:
        fake_prev, rec_prev: (1, *shapes[0], C) images entering the first generator on the
            random and the reconstruction path (unpadded).
        fake_noise_p, rec_noise_p: per generator, its padded scaled noise on each path.
        real: (1, *shapes[-1], C).
        diversity_weight, other_prev, other_noise_p: with w > 0 (``TrainConfig.
            concurrent_diversity_weight``; needs two or more generators), the loss also has
            ``-w * log(mean |y - y'|)``, y the coarser generators' output on the random path
            and y' theirs on a second random input (``other_prev``, ``other_noise_p``, shaped
            as ``fake_prev``, ``fake_noise_p``); reported as ``"variety"`` (mean |y - y'|, in
            the [-1, 1] image range).
        variety_floor: None for that plain log term; a variety v_f (scalar, same units)
            makes it the floor ``w * max(0, log v_f - log(mean |y - y'|))``
            (``TrainConfig.concurrent_diversity_floor``).
        window: None, or a window of ``shapes[-1]`` (``TrainConfig.crop``): both terms are
            then taken over it (the last generator confined to it, ``real`` cut to it); the
            coarser generators still run whole.
        anchors: () (ConSinGAN's loss), or one ``(real_j, weight_j)`` per coarser generator,
            coarsest first (``TrainConfig.concurrent_rec_anchor``): the loss then also has
            ``sum_j weight_j * MSE(rec_j, real_j)``, ``rec_j`` the reconstruction path's output
            after generator j and ``real_j`` (1, *shapes[j], C); reported as ``"rec_anchor"``
            (the unweighted sum of those MSEs).
    """
    if anchors and len(anchors) != len(params) - 1:
        raise ValueError(
            f"chain_generator_loss: {len(anchors)} anchors for {len(params) - 1} coarser generators"
        )
    if diversity_weight > 0.0:
        fake, stats, variety = _random_path_and_variety(
            params, stats, fake_prev, fake_noise_p, other_prev, other_noise_p, shapes, config,
            window,
        )  # fmt: skip
    else:
        fake, stats = run_chain(
            params, stats, fake_prev, fake_noise_p, shapes, config, train=True, window=window
        )
    err_adv = -jnp.mean(discriminator_apply(d_params, fake, config=config))
    recs, stats = run_chain_outputs(
        params, stats, rec_prev, rec_noise_p, shapes, config, train=True, window=window
    )
    if window is not None:
        real = take_window(real, window)
    rec_mse = jnp.mean(jnp.square(recs[-1] - real))
    total = err_adv + rec_weight * rec_mse
    aux = {"g_adv": err_adv, "rec": rec_mse}
    if anchors:
        mses = [jnp.mean(jnp.square(r - a)) for r, (a, _) in zip(recs, anchors)]
        total = total + sum(w * m for m, (_, w) in zip(mses, anchors))
        aux["rec_anchor"] = sum(mses)
    if diversity_weight > 0.0:
        log_variety = jnp.log(variety + 1e-8)
        if variety_floor is None:
            term = -log_variety
        else:
            term = jnp.maximum(jnp.log(variety_floor + 1e-8) - log_variety, 0.0)
        total = total + diversity_weight * term
        aux["variety"] = variety
    return total, ({**aux, "g_total": total}, stats)


def _random_path_and_variety(
    params, stats, fake_prev, fake_noise_p, other_prev, other_noise_p, shapes, config, window
):
    """The random path of ``chain_generator_loss`` run in two parts, the coarser generators
    and then the last one, so that the coarser generators' output y is at hand; the same
    arithmetic as the one-part chain. Returns (output, new BN states, mean |y - y'|), y' the
    coarser generators' output on the second input, whose BN states are discarded (train mode
    normalises by the batch's own statistics, so they do not change its output)."""
    if len(params) < 2 or other_prev is None or other_noise_p is None:
        raise ValueError(
            "the mode-seeking term needs two or more generators and a second random input"
        )
    lower = slice(0, len(params) - 1)
    mid, low_stats = run_chain(
        params[lower], stats[lower], fake_prev, fake_noise_p[lower], shapes[lower], config,
        train=True,
    )  # fmt: skip
    mid_other, _ = run_chain(
        params[lower], stats[lower], other_prev, other_noise_p[lower], shapes[lower], config,
        train=True,
    )  # fmt: skip
    fake, last_stats = run_chain(
        params[-1:], stats[-1:], resize_prev(mid, shapes[-1], config.clamp), fake_noise_p[-1:],
        shapes[-1:], config, train=True, window=window,
    )  # fmt: skip
    return fake, (*low_stats, *last_stats), jnp.mean(jnp.abs(mid - mid_other))
