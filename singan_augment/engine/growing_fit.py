"""Training and sampling the growing generator (``growing``), ConSinGAN's way.

Stage n trains after stage n - 1, with the last ``TrainConfig.concurrent_stages`` stages, the
tail (and the head while stage 0 is among them) updated together; a coarser stage's learning
rate is scaled by ``concurrent_lr_scale`` per stage of distance (``growing.group_lr_factors``).
One iteration is one noise draw, ``d_steps`` critic steps on that fake (WGAN-GP, a random
scalar alpha per step) and ``g_steps`` generator steps, each recomputing the fake:
``-mean D(G(z)) + alpha_n * MSE(G(z_rec), real_n)``. The critics are the engine's per-scale
SinGAN critics (``networks``, ``ModelConfig`` widths); stage n's starts from stage n - 1's
when the width is the same (the published rule), else fresh. Iteration counts, learning
rates, their drop and alpha_n come from ``TrainConfig`` as for the SinGAN chain
(``scale_iters``, ``scale_rec_weight``), so a schedule's counts mean the same here.

Noise amplitudes: 1 at stage 0; at stage n ``noise_amp_init`` times the RMSE between the
training image at scale n and the reconstruction made by the new (copied, untrained) stage.

Keys: everything is drawn from ``random_key(seed)`` folded with fixed numbers (``z_opt``: 0;
stage n: n + 1, then 0 for the stage's initialisation and 1 for its iterations), so a run
resumed from a finished stage continues exactly as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from singan_augment.errors import InputError

from .channels import ChannelSpec, check_image
from .config import GrowingConfig, ModelConfig, PyramidConfig, TrainConfig
from .generate import random_key
from .growing import (
    GrowingParams,
    draw_growing_noises,
    group_lr_factors,
    grow,
    growing_apply,
    init_growing,
    join_trainable,
    reconstruction_noises,
    split_trainable,
)
from .losses import discriminator_loss
from .networks import Params, discriminator_apply, init_discriminator
from .scales import build_pyramid, pyramid_shapes
from .train import make_optimizer, run_iterations


class GrowingModel(NamedTuple):
    """A growing generator and what sampling and resuming need.

    ``params`` is None before stage 0 has trained. ``reals`` are the normalised training images, (1, *shapes[k], C) each; ``amps`` has one
    amplitude per trained stage; ``critic`` is the last trained stage's (kept for resume).
    """

    params: GrowingParams
    amps: tuple[float, ...]
    z_opt: jax.Array
    shapes: tuple[tuple[int, int], ...]
    reals: tuple[jax.Array, ...]
    spec: ChannelSpec
    growing_config: GrowingConfig
    model_config: ModelConfig
    train_config: TrainConfig
    seed: int
    critic: Params | None = None

    @property
    def num_trained(self) -> int:
        return len(self.amps)

    @property
    def complete(self) -> bool:
        return self.num_trained == len(self.shapes)

    @property
    def num_channels(self) -> int:
        return self.spec.num_channels


class GrowingConsts(NamedTuple):
    real: jax.Array  # (1, *s_n, C)
    z_opt: jax.Array  # (1, *s_0, C)
    amps: jax.Array  # (n + 1,)
    frozen: dict[str, Any]  # ``split_trainable``'s frozen rest
    rec_weight: jax.Array  # alpha_n


class GrowingState(NamedTuple):
    groups: tuple[Any, ...]  # ``split_trainable``'s trainable groups
    d_params: Params
    g_opt: Any
    d_opt: Any


def init_growing_model(
    image: np.ndarray,
    seed: int,
    *,
    channel_names: Sequence[str] | None = None,
    label_channels: Sequence[str] = (),
    growing_config: GrowingConfig = GrowingConfig(),
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    pyramid_config: PyramidConfig = PyramidConfig(),
) -> GrowingModel:
    """An untrained model of a (C, H, W) image: the engine's pyramid of scales and normalised
    reals (clamped as ``model_config.clamp`` says), and ``z_opt``.

    Raises:
        InputError: a bad image (rank, NaN/Inf, too small), channel names or seed.
    """
    image = check_image(image)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InputError(f"seed must be an int, got {seed!r}")
    spec = ChannelSpec.from_image(
        image, list(channel_names) if channel_names else None, tuple(label_channels)
    )
    shapes = tuple(
        tuple(int(v) for v in s) for s in pyramid_shapes(image.shape[1:], pyramid_config)
    )
    hwc = jnp.asarray(np.moveaxis(spec.normalise(image), 0, -1))
    reals = tuple(r[None] for r in build_pyramid(hwc, shapes, model_config.clamp))
    shared = train_config.coarsest_noise == "shared"
    z_opt = draw_growing_noises(
        jax.random.fold_in(random_key(int(seed)), 0), 1, shapes[:1], image.shape[0],
        growing_config, shared=shared,
    )[0]  # fmt: skip
    return GrowingModel(
        None, (), z_opt, shapes, reals, spec, growing_config, model_config, train_config,
        int(seed),
    )  # fmt: skip


def reconstruct(model: GrowingModel, params: GrowingParams, stages: int) -> jax.Array:
    """The reconstruction (1, *shapes[stages - 1], C) through the first ``stages`` stages."""
    return _reconstruction(model.shapes[:stages], model.growing_config)(params, model.z_opt)


@lru_cache(maxsize=32)
def _reconstruction(shapes, gcfg) -> Callable:
    def rec(params, z_opt):
        noises = reconstruction_noises(z_opt, shapes, gcfg)
        amps = [1.0] * len(shapes)  # the reconstruction's noise above stage 0 is zero
        return growing_apply(params, noises, amps, shapes, gcfg)

    return jax.jit(rec)


def reconstruction_rmse(model: GrowingModel, params: GrowingParams, stage: int) -> float:
    """RMSE ([-1, 1] units) of the reconstruction through stages 0..``stage`` against the
    training image at that scale."""
    rec = reconstruct(model, params, stage + 1)
    return float(jnp.sqrt(jnp.mean(jnp.square(rec - model.reals[stage]))))


def stage_start(model: GrowingModel, stage: int) -> tuple[GrowingParams, float, Params]:
    """(generator params, noise amplitude, critic params) that training ``stage`` starts from."""
    key = jax.random.fold_in(jax.random.fold_in(random_key(model.seed), stage + 1), 0)
    k_g, k_d = jax.random.split(key)
    mcfg, c = model.model_config, model.num_channels
    if stage == 0:
        params, amp = init_growing(k_g, c, model.growing_config), 1.0
    else:
        params = grow(model.params)
        amp = model.train_config.noise_amp_init * reconstruction_rmse(model, params, stage)
    width = mcfg.nfc(stage)
    if stage > 0 and model.critic is not None and mcfg.nfc(stage - 1) == width:
        critic = model.critic
    else:
        critic = init_discriminator(k_d, c, width, mcfg)[0]
    return params, amp, critic


def make_growing_iteration(
    stage: int,
    shapes: Sequence[Sequence[int]],
    channels: int,
    gcfg: GrowingConfig,
    mcfg: ModelConfig,
    tcfg: TrainConfig,
) -> Callable:
    """The jitted iteration of ``stage``: ``(GrowingState, GrowingConsts, key) -> (state,
    metrics)``; built once per process for the same arguments."""
    shapes = tuple(tuple(int(v) for v in s) for s in shapes[: stage + 1])
    return _growing_iteration(stage, shapes, int(channels), gcfg, mcfg, _step_config(tcfg))


def _step_config(tcfg: TrainConfig) -> TrainConfig:
    # what the compiled step reads of TrainConfig; counts, drops and alpha come in the state
    return TrainConfig(
        d_steps=tcfg.d_steps, g_steps=tcfg.g_steps, lr_g=tcfg.lr_g, lr_d=tcfg.lr_d,
        beta1=tcfg.beta1, beta2=tcfg.beta2, lr_drop_factor=tcfg.lr_drop_factor,
        gp_weight=tcfg.gp_weight, coarsest_noise=tcfg.coarsest_noise,
        concurrent_stages=tcfg.concurrent_stages, concurrent_lr_scale=tcfg.concurrent_lr_scale,
    )  # fmt: skip


def optimizers(stage: int, tcfg: TrainConfig, drop_iter: int):
    """(generator, critic) optimisers of ``stage``: Adam with the lr drop at ``drop_iter``;
    the generator's groups at ``group_lr_factors``."""
    factors = group_lr_factors(stage, tcfg.concurrent_stages, tcfg.concurrent_lr_scale)
    g_tx = make_optimizer(tcfg, tcfg.lr_g, tcfg.g_steps, drop_iter, factors)
    d_tx = make_optimizer(tcfg, tcfg.lr_d, tcfg.d_steps, drop_iter)
    return g_tx, d_tx


def growing_generator_loss(
    groups: tuple[Any, ...],
    frozen: dict[str, Any],
    d_params: Params,
    noises: Sequence[jax.Array],
    rec_noises: Sequence[jax.Array],
    amps: Sequence[Any],
    real: jax.Array,
    rec_weight: Any,
    shapes: Sequence[Sequence[int]],
    gcfg: GrowingConfig,
    mcfg: ModelConfig,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``-mean D(G(noises)) + rec_weight * MSE(G(rec_noises), real)`` as a function of the
    trainable groups (``split_trainable``), and its two terms."""
    params = join_trainable(groups, frozen)
    fake = growing_apply(params, noises, amps, shapes, gcfg)
    adv = -jnp.mean(discriminator_apply(d_params, fake, config=mcfg))
    rec = jnp.mean(jnp.square(growing_apply(params, rec_noises, amps, shapes, gcfg) - real))
    return adv + rec_weight * rec, {"g_adv": adv, "rec": rec}


def iteration_draws(
    key: jax.Array,
    shapes: Sequence[Sequence[int]],
    channels: int,
    gcfg: GrowingConfig,
    shared: bool,
    d_steps: int,
) -> tuple[list[jax.Array], jax.Array]:
    """An iteration's randomness from its key: one noise map per stage (batch 1,
    ``draw_growing_noises``) and the critic steps' penalty mixing weights, (d_steps,) in [0, 1)."""
    k_noise, k_d = jax.random.split(key)
    noises = draw_growing_noises(k_noise, 1, shapes, channels, gcfg, shared=shared)
    alphas = jax.vmap(lambda k: jax.random.uniform(k, (), jnp.float32))(
        jax.random.split(k_d, d_steps)
    )
    return noises, alphas


@lru_cache(maxsize=32)
def _growing_iteration(stage, shapes, channels, gcfg, mcfg, tcfg) -> Callable:
    g_tx, d_tx = optimizers(stage, tcfg, 1)  # the drop boundary lives in the state
    shared = tcfg.coarsest_noise == "shared"

    def step(state: GrowingState, consts: GrowingConsts, key: jax.Array):
        groups, d_params, g_opt, d_opt = state
        noises, alphas = iteration_draws(key, shapes, channels, gcfg, shared, tcfg.d_steps)
        rec_noises = reconstruction_noises(consts.z_opt, shapes, gcfg)
        amps = consts.amps
        real = consts.real

        fake = growing_apply(join_trainable(groups, consts.frozen), noises, amps, shapes, gcfg)
        fake = jax.lax.stop_gradient(fake)

        def d_step(carry, alpha):
            d_params, d_opt = carry
            grads, aux = jax.grad(discriminator_loss, has_aux=True)(
                d_params, real, fake, alpha, tcfg.gp_weight, mcfg
            )
            updates, d_opt = d_tx.update(grads, d_opt, d_params)
            return (optax.apply_updates(d_params, updates), d_opt), aux

        (d_params, d_opt), d_aux = jax.lax.scan(d_step, (d_params, d_opt), alphas)

        def g_step(carry, _):
            groups, g_opt = carry
            grads, aux = jax.grad(growing_generator_loss, has_aux=True)(
                groups, consts.frozen, d_params, noises, rec_noises, amps, real,
                consts.rec_weight, shapes, gcfg, mcfg,
            )  # fmt: skip
            updates, g_opt = g_tx.update(grads, g_opt, groups)
            return (optax.apply_updates(groups, updates), g_opt), aux

        (groups, g_opt), g_aux = jax.lax.scan(g_step, (groups, g_opt), None, length=tcfg.g_steps)
        metrics = {name: v[-1] for name, v in {**d_aux, **g_aux}.items()}
        return GrowingState(groups, d_params, g_opt, d_opt), metrics

    return jax.jit(step)


StageCallback = Callable[[GrowingModel, int, dict[str, float]], None]


def fit_growing(
    image: np.ndarray,
    seed: int,
    *,
    channel_names: Sequence[str] | None = None,
    label_channels: Sequence[str] = (),
    growing_config: GrowingConfig = GrowingConfig(),
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(concurrent_stages=3),
    pyramid_config: PyramidConfig = PyramidConfig(),
    resume: GrowingModel | None = None,
    on_stage_done: StageCallback | None = None,
    progress: bool = True,
) -> GrowingModel:
    """Train a growing generator on a (C, H, W) image, stage by stage.

    ``on_stage_done(model, stage, summary)`` runs after every stage (a checkpoint: the model
    is complete up to that stage); ``resume`` continues such a model, with the same result as
    an uninterrupted run. ``summary`` has the last losses, ``s_per_iter``, ``iters_run`` and
    ``rec_rmse`` (the stage's reconstruction against its training image, [-1, 1] units).

    Raises:
        InputError: bad image or seed, or a ``resume`` model of another image or config.
    """
    fresh = init_growing_model(
        image, seed, channel_names=channel_names, label_channels=label_channels,
        growing_config=growing_config, model_config=model_config, train_config=train_config,
        pyramid_config=pyramid_config,
    )  # fmt: skip
    model = fresh
    if resume is not None:
        same = (
            resume.shapes == fresh.shapes
            and resume.seed == fresh.seed
            and resume.spec == fresh.spec
            and (resume.growing_config, resume.model_config, resume.train_config)
            == (growing_config, model_config, train_config)
            and all(bool(jnp.array_equal(a, b)) for a, b in zip(resume.reals, fresh.reals))
        )
        if not same:
            raise InputError(
                "resume: the checkpoint was trained on another image, seed or configuration"
            )
        model = resume
    shapes, tcfg = model.shapes, train_config
    for stage in range(model.num_trained, len(shapes)):
        params, amp, critic = stage_start(model, stage)
        iters, drop = tcfg.scale_iters(stage, shapes)
        groups, frozen = split_trainable(params, stage, tcfg.concurrent_stages)
        g_tx, d_tx = optimizers(stage, tcfg, drop)
        state = GrowingState(groups, critic, g_tx.init(groups), d_tx.init(critic))
        amps = (*model.amps, amp)
        consts = GrowingConsts(
            model.reals[stage], model.z_opt, jnp.asarray(amps, jnp.float32), frozen,
            jnp.asarray(tcfg.scale_rec_weight(stage, shapes), jnp.float32),
        )  # fmt: skip
        step = make_growing_iteration(
            stage, shapes, model.num_channels, growing_config, model_config, tcfg
        )
        key = jax.random.fold_in(jax.random.fold_in(random_key(model.seed), stage + 1), 1)
        h, w = shapes[stage]
        state, summary = run_iterations(
            step, state, consts, key, iters, desc=f"stage {stage} ({h}x{w})", progress=progress
        )
        params = join_trainable(state.groups, frozen)
        model = model._replace(params=params, amps=amps, critic=state.d_params)
        summary["rec_rmse"] = reconstruction_rmse(model, params, stage)
        if on_stage_done is not None:
            on_stage_done(model, stage, summary)
    return model


def sample_growing(
    model: GrowingModel, seed: int, n: int, *, start_scale: int = 0, batch: int = 10
) -> np.ndarray:
    """``n`` samples (n, C, H, W) in the image's data range from a trained model.

    Stages below ``start_scale`` take the reconstruction input (``z_opt``, then zeros), so
    the layout is the training image's up to that scale; fresh noise from there on. Sample i
    depends on ``seed`` and i only, not on ``n`` or ``batch``.

    Raises:
        InputError: an incomplete model, or ``start_scale`` outside 0 .. num_scales - 1.
    """
    if not model.complete:
        raise InputError(
            f"sample_growing: the model has {model.num_trained} of {len(model.shapes)} "
            "stages trained"
        )
    if isinstance(start_scale, bool) or not 0 <= int(start_scale) < len(model.shapes):
        raise InputError(f"start_scale must be in 0..{len(model.shapes) - 1}, got {start_scale!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive int, got {n!r}")
    gcfg, shapes = model.growing_config, model.shapes
    shared = model.train_config.coarsest_noise == "shared"
    rec = reconstruction_noises(model.z_opt, shapes, gcfg)
    start = int(start_scale)
    fn = _sampler(shapes, model.num_channels, gcfg, shared, start)
    root = random_key(int(seed))
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(n))
    out = [
        np.asarray(fn(model.params, jnp.asarray(model.amps), rec, keys[i : i + batch]))
        for i in range(0, n, batch)
    ]
    x = np.concatenate(out)  # (n, H, W, C) in [-1, 1]
    return model.spec.denormalise(np.moveaxis(x, -1, 1), axis=1)


@lru_cache(maxsize=16)
def _sampler(shapes, channels, gcfg, shared, start) -> Callable:
    def one(params, amps, rec, key):
        fresh = draw_growing_noises(key, 1, shapes, channels, gcfg, shared=shared)
        zs = [*rec[:start], *fresh[start:]]
        return growing_apply(params, zs, amps, shapes, gcfg)[0]

    return jax.jit(jax.vmap(one, in_axes=(None, None, None, 0)))


__all__ = [
    "GrowingConsts",
    "GrowingModel",
    "GrowingState",
    "fit_growing",
    "growing_generator_loss",
    "init_growing_model",
    "iteration_draws",
    "make_growing_iteration",
    "reconstruct",
    "reconstruction_rmse",
    "sample_growing",
    "stage_start",
]
