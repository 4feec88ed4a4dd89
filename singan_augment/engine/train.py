"""Per-scale SinGAN training: one jitted iteration (3 D steps + 3 G steps), keys threaded.

``make_iteration`` builds the pure step ``(state, consts, key) -> (state, metrics)`` for one
scale (with ``TrainConfig.concurrent_stages`` > 1, for the generators of the finest scales so
far, trained together); ``run_iterations`` runs it for the scale's ``TrainConfig.scale_iters``. ``make_iteration(...,
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
from .generate import Stage, draw_noise, draw_noises, reconstruction, run_chain, run_scales
from .losses import chain_generator_loss, discriminator_loss
from .networks import BatchStats, Params
from .scales import pad, resize_prev
from .windows import random_window, take_window, window_size


class ScaleConsts(NamedTuple):
    """Per-image constants while training scale n. Arrays are (1, H, W, C) ((1, D, H, W, C)).

    With ``TrainConfig.concurrent_stages`` k > 1 the generators of scales ``n-k+1 .. n``
    train together; ``z_opt`` and ``rec_prev`` then belong to the first of them, scale
    ``n-k+1`` (for k = 1, scale n itself).
    """

    real: jax.Array  # the training image at scale n
    z_opt: jax.Array  # reconstruction noise of the first trainable scale (zeros above scale 0)
    rec_prev: jax.Array  # reconstruction entering the first trainable scale (zeros at scale 0)
    amp: jax.Array  # noise amplitude of scale n
    frozen: tuple[Stage, ...]  # the scales below the first trainable one
    lower_amps: tuple[jax.Array, ...] = ()  # noise amplitudes of scales n-k+1 .. n-1
    rec_weight: Any = 10.0  # alpha of scale n (``TrainConfig.scale_rec_weight``)
    # the window's coarser generators' variety at the scale's start (``window_variety``; 0
    # unless ``TrainConfig.concurrent_diversity_floor`` asks for it)
    variety_ref: Any = 0.0
    # with ``TrainConfig.concurrent_rec_anchor`` b > 0: the training image at each of scales
    # n-k+1 .. n-1 and b times its alpha (else empty)
    lower_reals: tuple[jax.Array, ...] = ()
    lower_anchor_weights: tuple[jax.Array, ...] = ()


class ScaleState(NamedTuple):
    """The trainable state of one scale. ``g_params`` / ``g_stats`` are one generator's, or,
    with ``TrainConfig.concurrent_stages`` > 1 past the coarsest scale, a tuple of the
    trainable generators' (coarsest first, scale n last)."""

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


def scale_groups(factors: Sequence[float]) -> optax.GradientTransformation:
    """Multiply the updates of group j of a tuple of parameter trees by ``factors[j]``
    (stateless): per-generator learning rates for concurrent training. After Adam, this is
    the same as giving group j the learning rate ``lr * factors[j]``."""
    factors = tuple(float(f) for f in factors)

    def update(updates, state, params=None):
        del params
        if len(updates) != len(factors):
            raise ValueError(f"scale_groups: {len(updates)} groups, {len(factors)} factors")
        scaled = tuple(
            jax.tree.map(lambda g, f=f: jnp.asarray(f, g.dtype) * g, u)
            for f, u in zip(factors, updates)
        )
        return scaled, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(
    config: TrainConfig,
    lr: float,
    steps_per_iter: int,
    drop_iter: int | None = None,
    group_factors: Sequence[float] | None = None,
) -> optax.GradientTransformation:
    """Adam(beta1, beta2) whose lr drops by ``lr_drop_factor`` at iteration ``drop_iter``
    (default: ``config.lr_drop_iter``; per scale: ``config.scale_iters(...)[1]``).
    ``group_factors``: the parameters are a tuple of trees and tree j's lr is ``lr *
    group_factors[j]`` (``scale_groups``)."""
    drop = config.lr_drop_iter if drop_iter is None else drop_iter
    parts = [
        optax.scale_by_adam(b1=config.beta1, b2=config.beta2, eps=1e-8),
        scale_by_dropping_lr(lr, config.lr_drop_factor, steps_per_iter * drop),
    ]
    if group_factors is not None:
        parts.append(scale_groups(group_factors))
    return optax.chain(*parts)


def g_optimizer(
    tcfg: TrainConfig, scale: int, drop_iter: int | None = None
) -> optax.GradientTransformation:
    """The generator optimiser of ``scale``: one group per trainable generator when
    ``tcfg.trainable_stages(scale)`` > 1, at ``tcfg.concurrent_lr_factors(scale)``."""
    if tcfg.trainable_stages(scale) == 1:
        return make_optimizer(tcfg, tcfg.lr_g, tcfg.g_steps, drop_iter)
    factors = tcfg.concurrent_lr_factors(scale)
    return make_optimizer(tcfg, tcfg.lr_g, tcfg.g_steps, drop_iter, factors)


def init_state(
    g: tuple[Params, BatchStats],
    d_params: Params,
    tcfg: TrainConfig,
    drop_iter: int | None = None,
    lower: Sequence[tuple[Params, BatchStats]] = (),
    scale: int | None = None,
) -> ScaleState:
    """Fresh optimiser states; the lr drops at iteration ``drop_iter`` (default
    ``tcfg.lr_drop_iter``; ``fit`` passes each scale's ``tcfg.scale_iters(...)[1]``).

    ``lower``: the (params, BN state) of the generators that train concurrently with ``g``,
    coarsest first (``tcfg.trainable_stages(scale) - 1`` of them); ``scale`` is then needed
    for their learning-rate factors.
    """
    d_tx = make_optimizer(tcfg, tcfg.lr_d, tcfg.d_steps, drop_iter)
    if not lower:
        g_tx = make_optimizer(tcfg, tcfg.lr_g, tcfg.g_steps, drop_iter)
        return ScaleState(g[0], g[1], d_params, g_tx.init(g[0]), d_tx.init(d_params))
    if scale is None or tcfg.trainable_stages(scale) != len(lower) + 1:
        raise ValueError(
            f"init_state: {len(lower)} lower generators, but scale {scale} trains "
            f"{None if scale is None else tcfg.trainable_stages(scale)} in all"
        )
    params = (*(p for p, _ in lower), g[0])
    stats = (*(s for _, s in lower), g[1])
    g_tx = g_optimizer(tcfg, scale, drop_iter)
    return ScaleState(params, stats, d_params, g_tx.init(params), d_tx.init(d_params))


def scaled_noise_p(
    keys: Sequence[jax.Array],
    amps: Sequence[Any],
    first: int,
    shapes: Sequence[tuple[int, ...]],
    channels: int,
    shared: bool,
    pad_width: int,
) -> tuple[jax.Array, ...]:
    """The noise inputs of the generators of scales ``first, first + 1, ...`` as
    ``generate.run_chain`` takes them: generator j's map (1, *shapes[first + j], C) drawn from
    ``keys[j]`` (one map shared across channels at scale 0 when ``shared``), times
    ``amps[j]``, zero-padded by ``pad_width``."""
    return tuple(
        pad(
            a * draw_noise(key, 1, shapes[first + j], channels, shared and first + j == 0),
            pad_width,
        )
        for j, (key, a) in enumerate(zip(keys, amps))
    )


VARIETY_REF_PAIRS = 16  # random input pairs that ``window_variety`` averages over


def window_variety(
    stages: Sequence[Stage],
    shapes: Sequence[tuple[int, ...]],
    first: int,
    scale: int,
    key: jax.Array,
    channels: int,
    shared: bool,
    mcfg: ModelConfig,
    pairs: int = VARIETY_REF_PAIRS,
) -> jax.Array:
    """The variety that ``TrainConfig.concurrent_diversity_weight``'s term measures, averaged:
    mean |y - y'| (in the [-1, 1] image range) of the output of ``stages[first:scale]`` (the
    concurrent window's coarser generators, in training mode, one input at a time, as in a
    step) for ``pairs`` pairs of random inputs (the image from the frozen scales below, and
    noise maps at the generators' amplitudes). Deterministic in ``key``."""
    lower = stages[first:scale]
    chain_shapes = [tuple(sh) for sh in shapes[first:scale]]
    amps = [st.amp for st in lower]

    def one(k: jax.Array) -> jax.Array:
        k_prev, k_noise = jax.random.split(k)
        prev = random_prev(stages[:first], shapes, k_prev, channels, shared, mcfg)
        keys = [jax.random.fold_in(k_noise, j) for j in range(len(lower))]
        noise_p = scaled_noise_p(keys, amps, first, shapes, channels, shared, mcfg.pad)
        y, _ = run_chain(
            [st.params for st in lower], [st.stats for st in lower], prev, noise_p,
            chain_shapes, mcfg, train=True,
        )  # fmt: skip
        return y

    ys = jax.jit(jax.vmap(one))(jax.random.split(key, 2 * pairs))
    return jnp.mean(jnp.abs(ys[:pairs] - ys[pairs:]))


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
    # The iteration count and lr-drop point live in the optimiser state and the scale's
    # reconstruction weight in ScaleConsts, so configs that differ only in them share one
    # compiled step. Of the concurrency settings the step needs only how many generators
    # train at this scale (k) and, when k > 1, their learning-rate scale: the published step
    # is also every schedule's step wherever k = 1.
    k = tcfg.trainable_stages(scale)
    step_cfg = dataclasses.replace(
        tcfg,
        concurrent_stages=k,
        concurrent_frozen_scales=0,
        concurrent_freeze_diversity=0.0,
        concurrent_lr_scale=tcfg.concurrent_lr_scale if k > 1 else TrainConfig.concurrent_lr_scale,
        concurrent_diversity_weight=(
            tcfg.concurrent_diversity_weight if k > 1 else TrainConfig.concurrent_diversity_weight
        ),
        concurrent_diversity_floor=(
            tcfg.concurrent_diversity_floor
            if k > 1 and tcfg.concurrent_diversity_weight > 0.0
            else TrainConfig.concurrent_diversity_floor
        ),
        rec_weight=TrainConfig.rec_weight,  # the scale's alpha comes in ScaleConsts
        rec_weight_growth=0.0,
        rec_weight_growth_scales=0,
        iters=1,
        iters_decay=0.0,
        iters_min=1,
        iters_by_scale=(),
        lr_drop_at=TrainConfig.lr_drop_at,
        plateau_window=0,
        plateau_tol=TrainConfig.plateau_tol,
        crop=tcfg.crop if window_size(shapes[scale], tcfg.crop) else 0,
        # the anchors' weights come in ScaleConsts: the step needs only whether there are any
        concurrent_rec_anchor=1.0 if k > 1 and tcfg.concurrent_rec_anchor > 0 else 0.0,
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
    k = tcfg.trainable_stages(scale)
    first = scale - k + 1  # the coarsest trainable scale
    chain_shapes = tuple(shapes[first : scale + 1])
    g_tx = g_optimizer(tcfg, scale)  # the lr drop comes from the state
    d_tx = make_optimizer(tcfg, tcfg.lr_d, tcfg.d_steps)
    p = mcfg.pad
    gp_every = tcfg.gp_every
    last_gp = (tcfg.d_steps - 1) // gp_every * gp_every  # the last D step with the penalty
    diverse = k > 1 and tcfg.concurrent_diversity_weight > 0.0  # the mode-seeking term
    win_size = window_size(shapes[scale], tcfg.crop)  # None: the whole scale (published)

    def step(state: ScaleState, consts: ScaleConsts, key: jax.Array):
        g_params, g_stats, d_params, g_opt, d_opt = state
        params = g_params if k > 1 else (g_params,)
        stats = g_stats if k > 1 else (g_stats,)
        k_noise, k_steps = jax.random.split(key)
        # One noise map per trainable scale per iteration; scale n's is drawn from k_noise
        # (as in the published schedule), the lower ones from k_noise folded with 1, 2, ...
        amps = (*consts.lower_amps, consts.amp)
        noise_keys = [jax.random.fold_in(k_noise, j + 1) for j in range(k - 1)] + [k_noise]
        fake_noise_p = scaled_noise_p(noise_keys, amps, first, shapes, channels, shared, p)
        rec_noise_p = (pad(amps[0] * consts.z_opt, p),) + tuple(
            jnp.zeros_like(z) for z in fake_noise_p[1:]
        )
        real = consts.real

        # The D and G steps are loops (lax.scan), not unrolled: the same computation, with a
        # third of the program to compile.
        def d_step(carry, xs):
            stats, d_params, d_opt, _ = carry
            key_d, j = xs if gp_every > 1 else (xs, 0)
            if win_size is None:
                k_prev, k_alpha = jax.random.split(key_d)
                window, real = None, consts.real
            else:  # each D step sees its own window of the scale
                k_prev, k_alpha, k_win = jax.random.split(key_d, 3)
                window = random_window(k_win, shapes[scale], win_size)
                real = take_window(consts.real, window)
            prev = random_prev(consts.frozen, shapes, k_prev, channels, shared, mcfg)
            fake, stats = run_chain(
                params, stats, prev, fake_noise_p, chain_shapes, mcfg, train=True, window=window
            )
            fake = jax.lax.stop_gradient(fake)
            alpha = jax.random.uniform(k_alpha, (), jnp.float32)
            d_grad = jax.grad(discriminator_loss, has_aux=True)
            if gp_every == 1:  # the published step, every D step penalised
                grads, aux = d_grad(d_params, real, fake, alpha, tcfg.gp_weight, mcfg)
            else:  # lazy: only every gp_every-th step pays for the second-order gradient
                grads, aux = jax.lax.cond(
                    j % gp_every == 0,
                    lambda: d_grad(d_params, real, fake, alpha, gp_every * tcfg.gp_weight, mcfg),
                    lambda: d_grad(
                        d_params, real, fake, alpha, tcfg.gp_weight, mcfg, penalty=False
                    ),
                )
            updates, d_opt = d_tx.update(grads, d_opt, d_params)
            d_params = optax.apply_updates(d_params, updates)
            return (stats, d_params, d_opt, prev), ((aux, prev) if diverse else aux)

        prev0 = jnp.zeros((real.shape[0], *chain_shapes[0], channels), jnp.float32)
        d_keys = jax.random.split(k_steps, tcfg.d_steps)
        (stats, d_params, d_opt, prev), d_aux = jax.lax.scan(
            d_step,
            (stats, d_params, d_opt, prev0),
            d_keys if gp_every == 1 else (d_keys, jnp.arange(tcfg.d_steps)),
        )
        diversity = {}
        if diverse:  # a second random input: the first D step's prev, and fresh noise maps
            d_aux, prevs = d_aux
            other_keys = [jax.random.fold_in(k_noise, 1000 + j) for j in range(k)]
            other_noise_p = scaled_noise_p(other_keys, amps, first, shapes, channels, shared, p)
            diversity = {
                "diversity_weight": float(tcfg.concurrent_diversity_weight),
                "other_prev": prevs[0],
                "other_noise_p": other_noise_p,
            }
            if tcfg.concurrent_diversity_floor > 0.0:
                diversity["variety_floor"] = tcfg.concurrent_diversity_floor * consts.variety_ref
        g_window = (  # one window for the iteration's G steps
            None
            if win_size is None
            else random_window(jax.random.fold_in(k_steps, 1), shapes[scale], win_size)
        )
        anchors = (
            tuple(zip(consts.lower_reals, consts.lower_anchor_weights))
            if tcfg.concurrent_rec_anchor > 0
            else ()
        )
        if gp_every > 1:  # the penalty reported is that of the last D step that computed one
            d_aux = {**d_aux, "gp": d_aux["gp"][last_gp : last_gp + 1]}

        def g_step(carry, _):
            params, stats, g_opt = carry
            grads, (aux, stats) = jax.grad(chain_generator_loss, has_aux=True)(
                params,
                stats,
                d_params,
                prev,
                fake_noise_p,
                consts.rec_prev,
                rec_noise_p,
                real,
                consts.rec_weight,
                chain_shapes,
                mcfg,
                window=g_window,
                anchors=anchors,
                **diversity,
            )
            grads, opt_params = (grads, params) if k > 1 else (grads[0], params[0])
            updates, g_opt = g_tx.update(grads, g_opt, opt_params)
            new = optax.apply_updates(opt_params, updates)
            return ((new if k > 1 else (new,)), stats, g_opt), aux

        (params, stats, g_opt), g_aux = jax.lax.scan(
            g_step, (params, stats, g_opt), None, length=tcfg.g_steps
        )
        metrics = {name: v[-1] for name, v in {**d_aux, **g_aux}.items()}
        if k == 1:
            params, stats = params[0], stats[0]
        return ScaleState(params, stats, d_params, g_opt, d_opt), metrics

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
    key: jax.Array | None = None,
    lower_reals: Sequence[jax.Array] | None = None,
) -> ScaleConsts:
    """Constants for training ``scale`` given the trained coarser ``stages`` and the fixed
    z_opt (with ``tcfg.concurrent_stages`` > 1: for the chain from scale
    ``scale - tcfg.trainable_stages(scale) + 1``). ``key`` draws the inputs of
    ``window_variety`` where ``tcfg.concurrent_diversity_floor`` needs it (and only there);
    ``lower_reals`` (the training image at scales 0 .. ``scale - 1``, e.g. ``Pyramid.reals``)
    is needed where ``tcfg.concurrent_rec_anchor`` anchors a coarser generator."""
    real = real[None] if real.ndim == len(shapes[0]) + 1 else real
    first = scale - tcfg.trainable_stages(scale) + 1

    def upsampled_rec(n: int) -> jax.Array:  # the reconstruction entering scale n
        if n == 0:
            return jnp.zeros((1, *shapes[0], real.shape[-1]), jnp.float32)
        rec = reconstruction(stages[:n], shapes, z_opt0, mcfg)
        return resize_prev(rec, shapes[n], mcfg.clamp)

    rec_prev = upsampled_rec(first)
    z_opt = z_opt0 if first == 0 else jnp.zeros_like(rec_prev)
    rec_prev_n = rec_prev if first == scale else upsampled_rec(scale)
    amp = noise_amplitude(real, rec_prev_n, scale, tcfg)
    lower_amps = tuple(jnp.asarray(stages[n].amp, jnp.float32) for n in range(first, scale))
    alpha = jnp.asarray(tcfg.scale_rec_weight(scale, shapes), jnp.float32)
    ref = jnp.float32(0.0)
    if (
        first < scale
        and tcfg.concurrent_diversity_weight > 0
        and tcfg.concurrent_diversity_floor > 0
    ):
        if key is None:
            raise ValueError("scale_consts: concurrent_diversity_floor needs a key")
        shared = tcfg.coarsest_noise == "shared"
        ref = window_variety(stages, shapes, first, scale, key, real.shape[-1], shared, mcfg)
    anchor_reals, anchor_weights = (), ()
    if first < scale and tcfg.concurrent_rec_anchor > 0:
        if lower_reals is None or len(lower_reals) < scale:
            raise ValueError(
                f"scale_consts: concurrent_rec_anchor needs the training image at scales "
                f"{first}..{scale - 1}"
            )
        anchor_reals = tuple(
            jnp.asarray(r if r.ndim == real.ndim else r[None], jnp.float32)
            for r in lower_reals[first:scale]
        )
        anchor_weights = tuple(
            jnp.asarray(tcfg.concurrent_rec_anchor * tcfg.scale_rec_weight(j, shapes), jnp.float32)
            for j in range(first, scale)
        )
    return ScaleConsts(
        real, z_opt, rec_prev, amp, tuple(stages[:first]), lower_amps, alpha, ref,
        anchor_reals, anchor_weights,
    )  # fmt: skip


SYNC_EACH_S = 0.5  # an iteration at least this long: the progress bar waits for each one
_FOLD = jax.jit(jax.random.fold_in)
_FOLD_BATCHED = jax.jit(jax.vmap(jax.random.fold_in, in_axes=(0, None)))


def drop_lr_now(state: ScaleState) -> ScaleState:
    """The same state with both optimisers' learning-rate drop moved to their current count."""

    def now(opt):  # (adam, drop[, group scales])
        adam, drop, *rest = opt
        return (adam, DropState(drop.count, drop.count), *rest)

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
    # Iterations are dispatched asynchronously. Where one takes long enough (large scales), wait
    # for each so that the bar moves with the work, not in jumps of ``log_every``.
    sync_each = False
    while i < total:
        state, metrics = iteration(state, consts, fold(key, i))
        if i == 0:
            jax.block_until_ready(state)
            t_first = time.perf_counter()
        elif progress and (i == 1 or sync_each):
            jax.block_until_ready(metrics)
            sync_each = sync_each or time.perf_counter() - t_first > SYNC_EACH_S
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
