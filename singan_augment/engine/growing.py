"""A growing generator: ConSinGAN's architecture (Hinz et al., WACV 2021) as pure functions.

The SinGAN chain (``networks``, ``generate``) has one image-to-image generator per scale. Here
one generator covers the whole pyramid and gains a body stage per scale. The stages pass F =
``GrowingConfig.width`` features to each other; only the tail makes an image.

The pass through stages 0..n, for scales of spatial shapes s_0..s_n and L = ``stage_layers``:

* ``h = LReLU(conv(pad1(amp_0 * z_0)))``, with z_0 of shape (N, *s_0, C);
* ``f_0 = block_0(up(h, s_0 + 2L))``, of shape (N, *s_0, F);
* ``f_k = block_k(up(f_{k-1}, s_k + 2L) + amp_k * z_k) + up(f_{k-1}, s_k)``, with z_k of shape
  (N, *(s_k + 2L), F);
* ``x = tanh(conv(pad1(f_n)))``, of shape (N, *s_n, C), in [-1, 1].

``up`` is a linear resize with half-pixel centres (PyTorch's ``align_corners=False``); every
block is L valid 3x3 convolutions, each followed by a LeakyReLU. Stage 0's features are
stretched by 2L pixels rather than zero-padded, as ConSinGAN does for unconditional
generation, so that the borders vary too. The reconstruction input is the fixed map ``z_opt``
at stage 0 and zeros above it.

Params: ``{"head": layer, "stages": (stage, ...), "tail": layer}``, a stage a tuple of L layers,
a layer ``{"w": (3, 3, C_in, C_out) HWIO, "b": (C_out,)}``. Images only (2-D).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from singan_augment.errors import InputError

from . import draws
from .config import GrowingConfig
from .networks import conv3x3
from .scales import pad

GrowingParams = dict[str, Any]


def init_layer(key: jax.Array, cin: int, cout: int, std: float) -> dict[str, jax.Array]:
    """A 3x3 conv layer: weights N(0, ``std``), bias U(+-1/sqrt(fan_in)) (PyTorch's default)."""
    kw, kb = jax.random.split(key)
    bound = 1.0 / (cin * 9) ** 0.5
    return {
        "w": std * draws.normal(kw, (3, 3, cin, cout)),
        "b": draws.uniform(kb, (cout,), -bound, bound),
    }


def init_growing(
    key: jax.Array, channels: int, config: GrowingConfig = GrowingConfig()
) -> GrowingParams:
    """A fresh generator with one stage (scale 0) for ``channels`` image channels."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise InputError(f"channels must be a positive int, got {channels!r}")
    f, std = config.width, config.init_std
    keys = jax.random.split(key, config.stage_layers + 2)
    stage = tuple(init_layer(k, f, f, std) for k in keys[2:])
    return {
        "head": init_layer(keys[0], channels, f, std),
        "stages": (stage,),
        "tail": init_layer(keys[1], f, channels, std),
    }


def grow(params: GrowingParams) -> GrowingParams:
    """``params`` with one more stage, a copy of the last one (ConSinGAN's initialisation)."""
    stages = params["stages"]
    return {**params, "stages": (*stages, jax.tree.map(jnp.copy, stages[-1]))}


def num_stages(params: GrowingParams) -> int:
    return len(params["stages"])


def up(x: jax.Array, shape: Sequence[int]) -> jax.Array:
    """Linear resize of (N, H, W, F) features to the spatial ``shape`` (half-pixel centres)."""
    target = (x.shape[0], *(int(v) for v in shape), x.shape[-1])
    if tuple(x.shape) == target:
        return x
    return jax.image.resize(x, target, method="linear", antialias=False)


def block(layers: Sequence[dict[str, jax.Array]], x: jax.Array, config: GrowingConfig) -> jax.Array:
    """L valid 3x3 convs, each followed by a LeakyReLU: (N, H, W, F) -> (N, H-2L, W-2L, F)."""
    for layer in layers:
        x = conv3x3(x, layer["w"], config.conv_impl) + layer["b"]
        x = jnp.where(x >= 0, x, config.leaky_slope * x)
    return x


def growing_apply(
    params: GrowingParams,
    noises: Sequence[jax.Array],
    amps: Sequence[Any],
    shapes: Sequence[Sequence[int]],
    config: GrowingConfig = GrowingConfig(),
) -> jax.Array:
    """The generator's image at scale ``len(shapes) - 1``.

    Args:
        params: a generator with at least ``len(shapes)`` stages; stages past them are unused.
        noises: one map per stage: (N, *shapes[0], C), then (N, *(shapes[k] + 2L), F).
        amps: one noise amplitude per stage (scalars; ``amps[0]`` is 1 in training).
        shapes: the spatial shape of each scale, coarsest first.
    Returns:
        (N, *shapes[-1], C) in [-1, 1].
    """
    n = len(shapes)
    if not 1 <= n <= num_stages(params) or len(noises) != n or len(amps) != n:
        raise InputError(
            f"growing_apply: {n} scales, {len(noises)} noise maps, {len(amps)} amplitudes and "
            f"{num_stages(params)} stages; the first three must agree and fit the stages"
        )
    slope, big = config.leaky_slope, 2 * config.pad
    head = params["head"]
    h = conv3x3(pad(amps[0] * noises[0], 1), head["w"], config.conv_impl) + head["b"]
    h = jnp.where(h >= 0, h, slope * h)
    s0 = tuple(shapes[0])
    f = block(params["stages"][0], up(h, (s0[0] + big, s0[1] + big)), config)
    for k in range(1, n):
        s = tuple(shapes[k])
        x = up(f, (s[0] + big, s[1] + big)) + amps[k] * noises[k]
        f = block(params["stages"][k], x, config) + up(f, s)
    tail = params["tail"]
    return jnp.tanh(conv3x3(pad(f, 1), tail["w"], config.conv_impl) + tail["b"])


def noise_shapes(
    shapes: Sequence[Sequence[int]], channels: int, config: GrowingConfig
) -> list[tuple[int, ...]]:
    """The (H, W, channels) of each stage's noise map (without the batch axis)."""
    big = 2 * config.pad
    out = [(*(int(v) for v in shapes[0]), channels)]
    out += [(int(s[0]) + big, int(s[1]) + big, config.width) for s in shapes[1:]]
    return out


def draw_growing_noises(
    key: jax.Array,
    batch: int,
    shapes: Sequence[Sequence[int]],
    channels: int,
    config: GrowingConfig,
    *,
    shared: bool = True,
) -> list[jax.Array]:
    """Fresh unit noise for every stage (``noise_shapes``); ``shared``: stage 0 draws one
    channel and repeats it over the C image channels (SinGAN's coarsest noise)."""
    keys = jax.random.split(key, len(shapes))
    out = []
    for k, (kk, shape) in enumerate(zip(keys, noise_shapes(shapes, channels, config))):
        if k == 0 and shared:
            z = jax.random.normal(kk, (batch, *shape[:-1], 1), jnp.float32)
            out.append(jnp.broadcast_to(z, (batch, *shape)))
        else:
            out.append(jax.random.normal(kk, (batch, *shape), jnp.float32))
    return out


def reconstruction_noises(
    z_opt: jax.Array, shapes: Sequence[Sequence[int]], config: GrowingConfig
) -> list[jax.Array]:
    """The reconstruction input: ``z_opt`` (B, *shapes[0], C) at stage 0, zeros above."""
    b, channels = z_opt.shape[0], z_opt.shape[-1]
    rest = noise_shapes(shapes, channels, config)[1:]
    return [z_opt, *(jnp.zeros((b, *s), jnp.float32) for s in rest)]


def split_trainable(
    params: GrowingParams, stage: int, depth: int
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(trainable groups, frozen rest) while ``stage`` trains with ``depth`` stages at once.

    The groups are ``(head,)`` if stage 0 is among the trained stages, then the trained
    stages (coarsest first), then the tail. The rest holds the head (None when it trains)
    and the stages below the trained ones.
    """
    first = max(0, stage - depth + 1)
    head_trains = first == 0
    stages = params["stages"]
    groups = ((params["head"],) if head_trains else ()) + tuple(stages[first : stage + 1])
    frozen = {"head": None if head_trains else params["head"], "stages": tuple(stages[:first])}
    return (*groups, params["tail"]), frozen


def join_trainable(groups: Sequence[Any], frozen: dict[str, Any]) -> GrowingParams:
    """The inverse of ``split_trainable``."""
    groups = tuple(groups)
    if frozen["head"] is None:
        head, groups = groups[0], groups[1:]
    else:
        head = frozen["head"]
    return {"head": head, "stages": (*frozen["stages"], *groups[:-1]), "tail": groups[-1]}


def group_lr_factors(stage: int, depth: int, lr_scale: float) -> tuple[float, ...]:
    """Learning-rate factors of ``split_trainable``'s groups (ConSinGAN's): ``lr_scale`` to
    the power of a stage's distance below ``stage``; the head as stage 0; the tail 1."""
    first = max(0, stage - depth + 1)
    stages = [float(lr_scale ** (stage - j)) for j in range(first, stage + 1)]
    head = [float(lr_scale**stage)] if first == 0 else []
    return (*head, *stages, 1.0)
