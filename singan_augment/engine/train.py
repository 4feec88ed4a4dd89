"""Per-scale SinGAN training: one jitted iteration (3 D steps + 3 G steps), keys threaded.

``make_iteration`` builds the pure step ``(state, consts, key) -> (state, metrics)`` for one
scale; ``run_iterations`` runs it for the scale's ``TrainConfig.scale_iters``. ``make_iteration(...,
batched=True)`` vmaps the same step over K images of the same size (one pyramid each).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .config import ModelConfig, TrainConfig
from .generate import Stage, draw_noise, draw_noises, reconstruction, run_scales
from .losses import discriminator_loss, generator_loss
from .networks import BatchStats, Params, generator_apply
from .scales import pad, resize_prev


class ScaleConsts(NamedTuple):
    """Per-image constants while training scale n. Arrays are (1, H, W, C) ((1, D, H, W, C))."""

    real: jax.Array
    z_opt: jax.Array  # reconstruction noise: fixed noise at scale 0, zeros above
    rec_prev: jax.Array  # reconstruction from the coarser scales, upsampled (zeros at scale 0)
    amp: jax.Array  # noise amplitude of this scale
    frozen: tuple[Stage, ...]  # trained coarser scales


class ScaleState(NamedTuple):
    g_params: Params
    g_stats: BatchStats
    d_params: Params
    g_opt: Any
    d_opt: Any


class DropState(NamedTuple):
    """Update count and the count at which the learning rate drops (an array, so that one
    compiled step serves every iteration count)."""

    count: jax.Array
    boundary: jax.Array


def scale_by_dropping_lr(lr: float, factor: float, boundary: int) -> optax.GradientTransformation:
    """Multiply updates by ``-lr`` before update number ``boundary`` and by ``-lr * factor``
    from then on (optax's ``scale_by_learning_rate`` with a step schedule, but with the
    boundary kept in the state rather than baked into the compiled step)."""
    low = lr * factor

    def init(params):
        del params
        return DropState(jnp.zeros([], jnp.int32), jnp.asarray(boundary, jnp.int32))

    def update(updates, state, params=None):
        del params
        step = -jnp.where(state.count >= state.boundary, low, lr)
        updates = jax.tree.map(lambda g: jnp.asarray(step, g.dtype) * g, updates)
        return updates, DropState(state.count + 1, state.boundary)

    return optax.GradientTransformation(init, update)


def make_optimizer(
    config: TrainConfig, lr: float, steps_per_iter: int, drop_iter: int | None = None
) -> optax.GradientTransformation:
    """Adam(beta1, beta2) whose lr drops by ``lr_drop_factor`` at iteration ``drop_iter``
    (default: ``config.lr_drop_iter``; per scale: ``config.scale_iters(...)[1]``)."""
    drop = config.lr_drop_iter if drop_iter is None else drop_iter
    return optax.chain(
        optax.scale_by_adam(b1=config.beta1, b2=config.beta2, eps=1e-8),
        scale_by_dropping_lr(lr, config.lr_drop_factor, steps_per_iter * drop),
    )


def init_state(
    g: tuple[Params, BatchStats],
    d_params: Params,
    tcfg: TrainConfig,
    drop_iter: int | None = None,
) -> ScaleState:
    """Fresh optimiser states; the lr drops at iteration ``drop_iter`` (default
    ``tcfg.lr_drop_iter``; ``fit`` passes each scale's ``tcfg.scale_iters(...)[1]``)."""
    g_tx = make_optimizer(tcfg, tcfg.lr_g, tcfg.g_steps, drop_iter)
    d_tx = make_optimizer(tcfg, tcfg.lr_d, tcfg.d_steps, drop_iter)
    return ScaleState(g[0], g[1], d_params, g_tx.init(g[0]), d_tx.init(d_params))


def random_prev(
    frozen: Sequence[Stage],
    shapes: Sequence[tuple[int, int]],
    key: jax.Array,
    channels: int,
    shared: bool,
    mcfg: ModelConfig,
) -> jax.Array:
    """A random image from the coarser scales, upsampled to ``shapes[len(frozen)]`` (zeros at scale 0)."""
    n = len(frozen)
    if n == 0:
        return jnp.zeros((1, *shapes[0], channels), jnp.float32)
    noises = draw_noises(key, 1, shapes[:n], channels, shared)
    return resize_prev(run_scales(frozen, shapes[:n], noises, None, mcfg), shapes[n], mcfg.clamp)


def make_iteration(
    scale: int,
    shapes: Sequence[tuple[int, int]],
    channels: int,
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    *,
    batched: bool = False,
) -> Callable:
    """The jitted training iteration for ``scale``: ``(state, consts, key) -> (state, metrics)``.

    With ``batched=True`` the state, consts and key carry a leading K axis (one pyramid each).
    The function depends only on these (static) arguments, so it is built once per process and
    shared: a second pyramid of the same shapes and configs is neither traced nor compiled again.
    """
    # The iteration count and lr-drop point live in the optimiser state, so configs that
    # differ only in them share one compiled step; the scale's own reconstruction weight is
    # resolved here, so the step reads ``rec_weight`` only.
    step_cfg = dataclasses.replace(
        tcfg,
        rec_weight=tcfg.scale_rec_weight(scale, shapes),
        rec_weight_growth=0.0,
        rec_weight_growth_scales=0,
        iters=1,
        iters_decay=0.0,
        iters_min=1,
        lr_drop_at=TrainConfig.lr_drop_at,
        plateau_window=0,
        plateau_tol=TrainConfig.plateau_tol,
    )
    key = (
        int(scale),
        tuple(tuple(int(v) for v in s) for s in shapes),
        int(channels),
        mcfg,
        step_cfg,
    )
    return _iteration(*key, bool(batched))


@lru_cache(maxsize=64)
def _iteration(
    scale: int,
    shapes: tuple[tuple[int, int], ...],
    channels: int,
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    batched: bool,
) -> Callable:
    shapes = list(shapes)
    shared = tcfg.coarsest_noise == "shared"
    g_tx = make_optimizer(tcfg, tcfg.lr_g, tcfg.g_steps)  # the lr drop comes from the state
    d_tx = make_optimizer(tcfg, tcfg.lr_d, tcfg.d_steps)
    p = mcfg.pad

    def step(state: ScaleState, consts: ScaleConsts, key: jax.Array):
        g_params, g_stats, d_params, g_opt, d_opt = state
        k_noise, k_steps = jax.random.split(key)
        noise = draw_noise(k_noise, 1, shapes[scale], channels, shared and scale == 0)
        real = consts.real

        # The D and G steps are loops (lax.scan), not unrolled: the same computation, with a
        # third of the program to compile.
        def d_step(carry, k):
            g_stats, d_params, d_opt, _ = carry
            k_prev, k_alpha = jax.random.split(k)
            prev = random_prev(consts.frozen, shapes, k_prev, channels, shared, mcfg)
            prev_p = pad(prev, p)
            fake, g_stats = generator_apply(
                g_params,
                g_stats,
                pad(consts.amp * noise, p) + prev_p,
                prev_p,
                train=True,
                config=mcfg,
            )
            fake = jax.lax.stop_gradient(fake)
            alpha = jax.random.uniform(k_alpha, (), jnp.float32)
            grads, aux = jax.grad(discriminator_loss, has_aux=True)(
                d_params, real, fake, alpha, tcfg.gp_weight, mcfg
            )
            updates, d_opt = d_tx.update(grads, d_opt, d_params)
            d_params = optax.apply_updates(d_params, updates)
            return (g_stats, d_params, d_opt, prev), aux

        prev0 = jnp.zeros((real.shape[0], *shapes[scale], channels), jnp.float32)
        (g_stats, d_params, d_opt, prev), d_aux = jax.lax.scan(
            d_step, (g_stats, d_params, d_opt, prev0), jax.random.split(k_steps, tcfg.d_steps)
        )
        prev_p = pad(prev, p)
        fake_in = pad(consts.amp * noise, p) + prev_p
        rec_prev_p = pad(consts.rec_prev, p)
        rec_in = pad(consts.amp * consts.z_opt, p) + rec_prev_p

        def g_step(carry, _):
            g_params, g_stats, g_opt = carry
            grads, (aux, g_stats) = jax.grad(generator_loss, has_aux=True)(
                g_params,
                g_stats,
                d_params,
                fake_in,
                prev_p,
                rec_in,
                rec_prev_p,
                real,
                tcfg.rec_weight,
                mcfg,
            )
            updates, g_opt = g_tx.update(grads, g_opt, g_params)
            g_params = optax.apply_updates(g_params, updates)
            return (g_params, g_stats, g_opt), aux

        (g_params, g_stats, g_opt), g_aux = jax.lax.scan(
            g_step, (g_params, g_stats, g_opt), None, length=tcfg.g_steps
        )
        metrics = {k: v[-1] for k, v in {**d_aux, **g_aux}.items()}
        return ScaleState(g_params, g_stats, d_params, g_opt, d_opt), metrics

    if batched:
        step = jax.vmap(step)
    return jax.jit(step)


def noise_amplitude(
    real: jax.Array, rec_prev: jax.Array, scale: int, tcfg: TrainConfig
) -> jax.Array:
    """1 at scale 0; else ``noise_amp_init * RMSE(real, upsampled reconstruction)``."""
    if scale == 0:
        return jnp.asarray(1.0, jnp.float32)
    return tcfg.noise_amp_init * jnp.sqrt(jnp.mean(jnp.square(real - rec_prev)))


def scale_consts(
    scale: int,
    real: jax.Array,
    stages: Sequence[Stage],
    shapes: Sequence[tuple[int, int]],
    z_opt0: jax.Array,
    tcfg: TrainConfig,
    mcfg: ModelConfig,
) -> ScaleConsts:
    """Constants for training ``scale`` given the trained coarser ``stages`` and the fixed z_opt."""
    real = real[None] if real.ndim == len(shapes[0]) + 1 else real
    if scale == 0:
        rec_prev = jnp.zeros_like(real)
        z_opt = z_opt0
    else:
        rec = reconstruction(stages[:scale], shapes, z_opt0, mcfg)
        rec_prev = resize_prev(rec, shapes[scale], mcfg.clamp)
        z_opt = jnp.zeros_like(real)
    amp = noise_amplitude(real, rec_prev, scale, tcfg)
    return ScaleConsts(real, z_opt, rec_prev, amp, tuple(stages[:scale]))


_FOLD = jax.jit(jax.random.fold_in)
_FOLD_BATCHED = jax.jit(jax.vmap(jax.random.fold_in, in_axes=(0, None)))


def drop_lr_now(state: ScaleState) -> ScaleState:
    """The same state with both optimisers' learning-rate drop moved to their current count."""

    def now(opt):
        adam, drop = opt
        return (adam, DropState(drop.count, drop.count))

    return state._replace(g_opt=now(state.g_opt), d_opt=now(state.d_opt))


def run_iterations(
    iteration: Callable,
    state: ScaleState,
    consts: ScaleConsts,
    key: jax.Array,
    iters: int,
    *,
    desc: str = "",
    progress: bool = True,
    log_every: int = 25,
    plateau: tuple[int, float, int, float] | None = None,
) -> tuple[ScaleState, dict[str, float]]:
    """Run ``iters`` iterations with per-iteration keys ``fold_in(key, i)``; returns the final
    state and a summary (last losses, seconds per iteration after compilation, ``iters_run``).

    ``plateau = (window, tol, drop_iter, drop_at)`` stops early on a plateau of the
    reconstruction loss (``TrainConfig.plateau_window``): at each window's end before
    ``drop_iter``, a relative fall below ``tol`` from the previous window's mean drops the lr
    now and leaves ``ceil(done * (1 - drop_at) / drop_at)`` iterations. Deterministic: the
    decision depends only on the losses, which depend only on the seed.
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=iters, desc=desc, disable=not progress, leave=False, unit="it")
    t_first = None
    metrics = {}
    fold = _FOLD_BATCHED if key.ndim == 2 else _FOLD
    total, i = iters, 0
    window_recs: list = []
    prev_mean = None
    if plateau is not None:
        window, tol, drop_iter, drop_at = plateau
    while i < total:
        state, metrics = iteration(state, consts, fold(key, i))
        if i == 0:
            jax.block_until_ready(state)
            t_first = time.perf_counter()
        if progress and (i % log_every == 0 or i == total - 1):
            m = {k: float(np.mean(v)) for k, v in metrics.items()}
            bar.set_postfix(D=f"{m['d_total']:.3f}", G=f"{m['g_adv']:.3f}", rec=f"{m['rec']:.4f}")
        bar.update(1)
        i += 1
        if plateau is not None and total == iters:
            window_recs.append(metrics["rec"])
            if i % window == 0 and i < drop_iter:
                mean = float(np.mean(np.stack([np.asarray(r) for r in window_recs])))
                window_recs = []
                if prev_mean is not None and prev_mean - mean < tol * prev_mean:
                    state = drop_lr_now(state)
                    total = i + int(np.ceil(i * (1.0 - drop_at) / max(drop_at, 1e-9)))
                    bar.total = total
                    bar.refresh()
                prev_mean = mean
    bar.close()
    jax.block_until_ready(state)
    elapsed = time.perf_counter() - (t_first or time.perf_counter())
    summary = {k: float(np.mean(v)) for k, v in metrics.items()}
    summary["s_per_iter"] = elapsed / max(total - 1, 1)
    summary["iters_run"] = float(total)
    return state, summary
