"""The pyramid's forward pass: frozen generators run coarse to fine.

Shared by training (random and reconstruction inputs from the coarser scales), sampling and
harmonization. Frozen generators run with BatchNorm in eval mode (running averages), as the
reference implementation does after each scale is trained.

Two forms of the same computation: ``run_scales`` is the chain for use inside a traced
function (the training step); ``synthesize`` and ``reconstruction`` run it one jitted scale at
a time (``frozen_scale``), so sampling from any start scale, injecting at any scale and
reconstructing all reuse one compiled function per scale instead of compiling a chain each.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from singan_augment.errors import InputError

from .config import ModelConfig
from .draws import normal_rows
from .networks import generator_apply
from .scales import pad, resize_prev
from .windows import Window, take_window


class Stage(NamedTuple):
    """One trained scale: generator params, BN running averages, and noise amplitude."""

    params: Any
    stats: Any
    amp: jax.Array


SEED_RANGE = (-(2**63), 2**63 - 1)


def random_key(seed_or_key: Any) -> jax.Array:
    """A JAX PRNG key from an int seed (any 64-bit signed value) or an existing key.

    Raises:
        InputError: anything else (floats, strings, bools, out-of-range ints, malformed keys).
    """
    if isinstance(seed_or_key, bool):
        raise InputError(f"seed must be an int or a JAX key, got {seed_or_key!r}")
    if isinstance(seed_or_key, int | np.integer):
        if not SEED_RANGE[0] <= int(seed_or_key) <= SEED_RANGE[1]:
            raise InputError(f"seed {seed_or_key} does not fit in 64 bits")
        return jax.random.PRNGKey(int(seed_or_key))
    if isinstance(seed_or_key, jax.Array):
        if jnp.issubdtype(seed_or_key.dtype, jax.dtypes.prng_key) and seed_or_key.ndim == 0:
            return seed_or_key
        if seed_or_key.dtype == jnp.uint32 and seed_or_key.shape == (2,):
            return seed_or_key
    raise InputError(
        f"seed must be an int or a JAX key (uint32[2]), got {type(seed_or_key).__name__}"
        + (
            f" {seed_or_key.dtype}{tuple(seed_or_key.shape)}"
            if hasattr(seed_or_key, "shape")
            else ""
        )
    )


def draw_noise(
    key: jax.Array, batch: int, shape: tuple[int, int], channels: int, shared: bool
) -> jax.Array:
    """Standard normal noise (N, H, W, C); ``shared`` draws one channel and repeats it C times."""
    if shared:
        z = jax.random.normal(key, (batch, *shape, 1), jnp.float32)
        return jnp.broadcast_to(z, (batch, *shape, channels))
    return jax.random.normal(key, (batch, *shape, channels), jnp.float32)


def draw_noises(
    key: jax.Array,
    batch: int,
    shapes: Sequence[tuple[int, int]],
    channels: int,
    shared_coarsest: bool,
    first_scale: int = 0,
) -> list[jax.Array]:
    """Fresh noise maps for scales ``first_scale .. first_scale + len(shapes) - 1``."""
    keys = jax.random.split(key, max(len(shapes), 1))
    return [
        draw_noise(k, batch, s, channels, shared_coarsest and (first_scale + i == 0))
        for i, (k, s) in enumerate(zip(keys, shapes))
    ]


def run_scales(
    stages: Sequence[Stage],
    shapes: Sequence[tuple[int, int]],
    noises: Sequence[jax.Array],
    prev: jax.Array | None,
    config: ModelConfig,
) -> jax.Array:
    """Run frozen generators in order. ``prev`` is the image entering the first of them
    (None = zeros, i.e. the coarsest scale); it is resized to each scale's shape (and clamped
    to [-1, 1] if ``config.clamp``).

    Returns the (N, H, W, C) output of the last stage.
    """
    if not stages:
        return prev
    first = noises[0]
    prev = jnp.zeros_like(first) if prev is None else resize_prev(prev, shapes[0], config.clamp)
    out, _ = run_chain(
        [s.params for s in stages],
        [s.stats for s in stages],
        prev,
        [pad(s.amp * z, config.pad) for s, z in zip(stages, noises)],
        shapes,
        config,
        train=False,
    )
    return out


def run_chain(
    params: Sequence[Any],
    stats: Sequence[Any],
    prev: jax.Array,
    noise_p: Sequence[jax.Array],
    shapes: Sequence[tuple[int, ...]],
    config: ModelConfig,
    *,
    train: bool,
    window: Window | None = None,
) -> tuple[jax.Array, tuple[Any, ...]]:
    """Generators run coarse to fine with their BN state threaded: the trainable part of a
    pyramid (one generator in the published schedule; several with
    ``TrainConfig.concurrent_stages``).

    Args:
        params, stats: per generator, coarsest first.
        prev: (N, *shapes[0], C) image entering the first generator, already at its size
            (zeros at the coarsest scale); it is resized (and clamped) between generators.
        noise_p: per generator, its scaled noise, zero-padded: (N, *(shape + 2 * pad), C).
        shapes: the output shape of each generator.
        window: None, or a window of ``shapes[-1]`` (``windows.Window``) to which the last
            generator is confined (``TrainConfig.crop``): it runs on its padded input inside
            the window grown by ``config.pad``, so its output is the window's part of the
            whole output (bit for bit in eval mode; in training mode its BatchNorm
            statistics are the window's).
    Returns:
        ((N, *shapes[-1], C) output of the last generator, or (N, *window.size, C) with a
        window; the new BN state of each).
    """
    outs, new_stats = run_chain_outputs(
        params, stats, prev, noise_p, shapes, config, train=train, window=window
    )
    return outs[-1], new_stats


def run_chain_outputs(
    params: Sequence[Any],
    stats: Sequence[Any],
    prev: jax.Array,
    noise_p: Sequence[jax.Array],
    shapes: Sequence[tuple[int, ...]],
    config: ModelConfig,
    *,
    train: bool,
    window: Window | None = None,
) -> tuple[tuple[jax.Array, ...], tuple[Any, ...]]:
    """``run_chain`` keeping every generator's output: ((N, *shapes[j], C) per generator j,
    coarsest first, the last one windowed as in ``run_chain``; the new BN state of each)."""
    p = config.pad
    outs, new_stats = [], []
    last = len(shapes) - 1
    for j, (prm, st, z_p, shape) in enumerate(zip(params, stats, noise_p, shapes)):
        if j > 0:
            prev = resize_prev(prev, shape, config.clamp)
        prev_p = pad(prev, p)
        z_in = z_p + prev_p
        if window is not None and j == last:
            z_in, prev_p = take_window(z_in, window, p), take_window(prev_p, window, p)
        prev, st = generator_apply(prm, st, z_in, prev_p, train=train, config=config)
        outs.append(prev)
        new_stats.append(st)
    return tuple(outs), tuple(new_stats)


@partial(jax.jit, static_argnames=("shape", "config"))
def frozen_scale(
    stage: Stage,
    prev: jax.Array | None,
    z: jax.Array,
    *,
    shape: tuple[int, ...],
    config: ModelConfig,
) -> jax.Array:
    """One frozen scale on a batch: ``run_scales`` of a single stage, compiled once per scale
    (stage shapes, batch size, ``shape``, ``config``).

    Args:
        prev: (N or 1, *coarser, C) image from the scale below, resized (and clamped) here;
            None for the coarsest scale (zeros). A batch of one is shared by all N samples.
        z: (N, *shape, C) unit noise; it is scaled by ``stage.amp`` here.
    Returns:
        (N, *shape, C).
    """
    if prev is not None and prev.shape[0] != z.shape[0]:
        prev = jnp.broadcast_to(prev, (z.shape[0], *prev.shape[1:]))
    return run_scales([stage], [shape], [z], prev, config)


@partial(jax.jit, static_argnames=("count",))
def split_each(keys: jax.Array, count: int) -> jax.Array:
    """Split each of N keys into ``count``: (N, count) keys, as ``draw_noises`` splits one."""
    return jax.vmap(lambda k: jax.random.split(k, count))(keys)


def noise_per_key(
    keys: jax.Array, *, shape: tuple[int, ...], channels: int, shared: bool
) -> jax.Array:
    """(N, *shape, C) unit noise: map i is ``draw_noise(keys[i], 1, shape, C, shared)``
    (drawn by ``normal_rows``)."""
    shape = tuple(int(v) for v in shape)
    z = normal_rows(keys, (*shape, 1 if shared else channels))
    return jnp.broadcast_to(z, (z.shape[0], *shape, channels)) if shared else z


def synthesize(
    stages: Sequence[Stage],
    shapes: Sequence[tuple[int, ...]],
    keys: jax.Array,
    prev: jax.Array | None,
    config: ModelConfig,
    *,
    channels: int,
    first_scale: int = 0,
    shared_coarsest: bool = False,
) -> jax.Array:
    """Fresh-noise samples through frozen ``stages`` (scales ``first_scale``,
    ``first_scale + 1``, ...), one compiled scale at a time.

    Sample i's noise is what ``draw_noises(keys[i], 1, shapes, ...)`` draws, so its stream does
    not depend on how many samples share the call.

    Args:
        shapes: the output shape of each stage.
        keys: (N,) PRNG keys, one per sample.
        prev: (1 or N, *shape, C) image entering the first stage; None at the coarsest scale.
        shared_coarsest: scale 0 draws one noise channel repeated C times.
    Returns:
        (N, *shapes[-1], C).
    """
    per_scale = split_each(keys, max(len(stages), 1))
    for i, (stage, shape) in enumerate(zip(stages, shapes)):
        shape = tuple(int(v) for v in shape)
        shared = shared_coarsest and first_scale + i == 0
        z = noise_per_key(per_scale[:, i], shape=shape, channels=channels, shared=shared)
        prev = frozen_scale(stage, prev, z, shape=shape, config=config)
    return prev


def reconstruction(
    stages: Sequence[Stage],
    shapes: Sequence[tuple[int, ...]],
    z_opt: jax.Array,
    config: ModelConfig,
) -> jax.Array:
    """The reconstruction path through ``stages`` (``z_opt`` (1, *shapes[0], C) at scale 0,
    zero noise above), one compiled scale at a time.

    Returns:
        (1, *shapes[len(stages) - 1], C).
    """
    prev = None
    for i, (stage, shape) in enumerate(zip(stages, shapes)):
        shape = tuple(int(v) for v in shape)
        z = z_opt if i == 0 else jnp.zeros((z_opt.shape[0], *shape, z_opt.shape[-1]), jnp.float32)
        prev = frozen_scale(stage, prev, z, shape=shape, config=config)
    return prev
