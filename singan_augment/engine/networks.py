"""Per-scale generator and discriminator as pure functions over parameter pytrees.

Both nets are ``num_layers`` 3x3 valid convolutions: the first ``num_layers - 1`` are
conv + BatchNorm + LeakyReLU(0.2); G ends in conv -> C channels + tanh and adds the
(padded, centre-cropped) previous image; D ends in conv -> 1 channel.

Layout: NHWC activations, HWIO weights. Volumes use the same nets with 3x3x3 convolutions:
NDHWC activations, DHWIO weights (``spatial_dims=3``); the rank of the weights says which.
Params: ``{"layers": [{"w", "b", "gamma", "beta"}, ..., {"w", "b"}]}``. BatchNorm state: ``[{"mean", "var"}, ...]`` (PyTorch running averages).
In training mode BN normalises with the batch statistics and updates the running averages
(momentum 0.1, unbiased variance); in eval mode it uses the running averages. Frozen
generators of coarser scales run in eval mode, as in the reference implementation.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from singan_augment.errors import InputError

from . import draws
from .config import ModelConfig

Params = dict[str, Any]
BatchStats = list[dict[str, jax.Array]]


def conv3x3(x: jax.Array, w: jax.Array, impl: str) -> jax.Array:
    """3x3 valid convolution, NHWC x HWIO -> NHWC, through the configured implementation; a
    3x3x3 one for NDHWC x DHWIO (rank-5) inputs."""
    if w.ndim == 5:
        from .conv import conv3x3x3_valid

        return conv3x3x3_valid(x, w, impl=impl)
    if impl == "xla":
        return lax.conv_general_dilated(
            x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    from .conv import conv3x3_valid

    return conv3x3_valid(x, w, impl=impl)


def check_spatial_dims(spatial_dims: int) -> int:
    """2 (images) or 3 (volumes).

    Raises:
        InputError: anything else.
    """
    if isinstance(spatial_dims, bool) or spatial_dims not in (2, 3):
        raise InputError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    return int(spatial_dims)


def _init_net(
    key: jax.Array, in_ch: int, width: int, out_ch: int, config: ModelConfig, spatial_dims: int
) -> tuple[Params, BatchStats]:
    nd = check_spatial_dims(spatial_dims)
    layers, stats = [], []
    chans = [in_ch] + [width] * (config.num_layers - 1) + [out_ch]
    keys = jax.random.split(key, 3 * config.num_layers)
    for i in range(config.num_layers):
        cin, cout = chans[i], chans[i + 1]
        kw, kb, kg = keys[3 * i : 3 * i + 3]
        # PyTorch's default conv bias init (kept by the reference): U(+-1/sqrt(fan_in))
        bound = 1.0 / (cin * 3**nd) ** 0.5
        layer = {
            "w": config.init_std * draws.normal(kw, (3,) * nd + (cin, cout)),
            "b": draws.uniform(kb, (cout,), -bound, bound),
        }
        if i < config.num_layers - 1:
            layer["gamma"] = 1.0 + config.init_std * draws.normal(kg, (cout,))
            layer["beta"] = jnp.zeros((cout,), jnp.float32)
            stats.append(
                {"mean": jnp.zeros((cout,), jnp.float32), "var": jnp.ones((cout,), jnp.float32)}
            )
        layers.append(layer)
    return {"layers": layers}, stats


def init_generator(
    key: jax.Array,
    channels: int,
    width: int,
    config: ModelConfig = ModelConfig(),
    spatial_dims: int = 2,
) -> tuple[Params, BatchStats]:
    """Fresh generator params and BN state for ``channels`` image channels and ``width``
    features; 3x3 kernels for images (``spatial_dims=2``), 3x3x3 for volumes (3)."""
    return _init_net(key, channels, width, channels, config, spatial_dims)


def init_discriminator(
    key: jax.Array,
    channels: int,
    width: int,
    config: ModelConfig = ModelConfig(),
    spatial_dims: int = 2,
) -> tuple[Params, BatchStats]:
    """Fresh discriminator params and BN state (the state is unused after training)."""
    return _init_net(key, channels, width, 1, config, spatial_dims)


def _batch_norm(x, layer, stat, train: bool, config: ModelConfig):
    if train:
        axes = tuple(range(x.ndim - 1))  # batch and spatial axes
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean(jnp.square(x - mean), axis=axes)
        n = math.prod(x.shape[:-1])
        unbiased = var * (n / max(n - 1, 1))
        m = config.bn_momentum
        new_stat = {
            "mean": (1 - m) * stat["mean"] + m * lax.stop_gradient(mean),
            "var": (1 - m) * stat["var"] + m * lax.stop_gradient(unbiased),
        }
    else:
        mean, var, new_stat = stat["mean"], stat["var"], stat
    y = (x - mean) * lax.rsqrt(var + config.bn_eps)
    return y * layer["gamma"] + layer["beta"], new_stat


def _trunk(params: Params, stats: BatchStats, x: jax.Array, train: bool, config: ModelConfig):
    new_stats = []
    layers = params["layers"]
    for layer, stat in zip(layers[:-1], stats):
        x = conv3x3(x, layer["w"], config.conv_impl) + layer["b"]
        x, s = _batch_norm(x, layer, stat, train, config)
        x = jnp.where(x >= 0, x, config.leaky_slope * x)
        new_stats.append(s)
    last = layers[-1]
    x = conv3x3(x, last["w"], config.conv_impl) + last["b"]
    return x, new_stats


def generator_apply(
    params: Params,
    stats: BatchStats,
    z_in: jax.Array,
    prev: jax.Array,
    *,
    train: bool,
    config: ModelConfig = ModelConfig(),
) -> tuple[jax.Array, BatchStats]:
    """One scale's generator.

    Args:
        z_in: (N, H + 2p, W + 2p, C) padded ``noise_amp * z + prev`` (volumes: (N, D + 2p,
            H + 2p, W + 2p, C)).
        prev: the padded upsampled image from the coarser scale, same shape.
    Returns:
        (N, H, W, C) (or (N, D, H, W, C)) image ``tanh(net(z_in)) + prev`` (centre crop) and
        the new BN state.
    """
    x, new_stats = _trunk(params, stats, z_in, train, config)
    p = config.pad
    crop = prev[(slice(None), *(slice(p, n - p) for n in prev.shape[1:-1]), slice(None))]
    return jnp.tanh(x) + crop, new_stats


def discriminator_apply(
    params: Params, x: jax.Array, *, config: ModelConfig = ModelConfig()
) -> jax.Array:
    """Patch discriminator in training mode (batch statistics): (N, H, W, C) -> (N, H-2L, W-2L, 1)
    (volumes: (N, D, H, W, C) -> (N, D-2L, H-2L, W-2L, 1))."""
    dummy = [
        {"mean": jnp.zeros(layer["b"].shape), "var": jnp.ones(layer["b"].shape)}
        for layer in params["layers"][:-1]
    ]
    out, _ = _trunk(params, dummy, x, True, config)
    return out
