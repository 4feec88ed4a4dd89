"""The pyramid's forward pass: frozen generators run coarse to fine.

Shared by training (random and reconstruction inputs from the coarser scales), sampling and
harmonization. Frozen generators run with BatchNorm in eval mode (running averages), as the
reference implementation does after each scale is trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from singan_augment.errors import InputError

from .config import ModelConfig
from .networks import generator_apply
from .scales import pad, resize_prev


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
    p = config.pad
    for stage, shape, z in zip(stages, shapes, noises):
        prev = jnp.zeros_like(z) if prev is None else resize_prev(prev, shape, config.clamp)
        prev_p = pad(prev, p)
        prev, _ = generator_apply(
            stage.params,
            stage.stats,
            pad(stage.amp * z, p) + prev_p,
            prev_p,
            train=False,
            config=config,
        )
    return prev
