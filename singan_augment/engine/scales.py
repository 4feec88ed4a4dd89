"""Image pyramid: the per-scale sizes of SinGAN and antialiased float resizing.

Images inside the engine are NHWC (or HWC) float32 in [-1, 1]; volumes NDHWC (or DHWC). Resizing is antialiased
bicubic in float; nothing is rounded through uint8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from singan_augment.errors import InputError

from .config import PyramidConfig


def _ceil(x: float) -> int:
    return int(math.ceil(x - 1e-6))


def format_shape(shape: Sequence[int]) -> str:
    """A spatial shape as people write it: ``(54, 64, 52)`` -> ``"54x64x52"``."""
    return "x".join(str(int(v)) for v in shape)


def pyramid_shapes(
    spatial: Sequence[int], config: PyramidConfig = PyramidConfig()
) -> list[tuple[int, ...]]:
    """Spatial shapes of the pyramid, coarsest first, for an image of shape ``spatial``
    ((H, W), or (D, H, W) for a volume).

    Follows SinGAN: the finest scale's longest side is capped at ``max_size``, and the factor
    is refitted so that the coarsest shortest side is ``min_size``. Every axis is scaled by
    the same factor. With ``config.num_scales`` set, that many scales, evenly spaced in log
    size between the two.

    Raises:
        InputError: if the shortest side is below ``config.min_size``, or if ``max_size``
            shrinks the finest scale's shortest side below ``min_size`` (the "coarsest" scale
            would be larger than the finest: an inverted pyramid), or if a fixed
            ``num_scales`` would give two scales the same shape.
    """
    spatial = tuple(int(v) for v in spatial)
    short, long = min(spatial), max(spatial)
    if short < config.min_size:
        raise InputError(
            f"image is {format_shape(spatial)}: its short side {short} is below the pyramid's "
            f"min_size {config.min_size}"
        )
    top = min(config.max_size / long, 1.0)
    finest = tuple(_ceil(v * top) for v in spatial)
    if min(finest) < config.min_size:
        need = _ceil(config.min_size * long / short)
        raise InputError(
            f"image is {format_shape(spatial)}: max_size {config.max_size} shrinks its finest scale to "
            f"{format_shape(finest)}, whose short side is below min_size {config.min_size}, so the "
            f"pyramid would be inverted; raise max_size to at least {need} or lower min_size"
        )
    if config.num_scales:
        stop_scale = config.num_scales - 1
    else:
        f0 = config.scale_factor
        num_scales = _ceil(math.log(config.min_size / short) / math.log(f0)) + 1
        scale_to_stop = _ceil(math.log(min(config.max_size, long) / long) / math.log(f0))
        stop_scale = max(num_scales - scale_to_stop, 1)
    factor = (config.min_size / min(finest)) ** (1.0 / stop_scale)
    shapes = []
    for i in range(stop_scale + 1):
        s = factor ** (stop_scale - i)
        shapes.append(tuple(max(_ceil(v * s), 1) for v in finest))
    if config.num_scales and len(set(shapes)) < len(shapes):
        raise InputError(
            f"num_scales {config.num_scales} is too many for an image whose scales run from "
            f"{format_shape(shapes[0])} to {format_shape(finest)}: two scales would have the "
            "same shape; use fewer scales or a smaller min_size"
        )
    return shapes


def scale_shapes(
    height: int, width: int, config: PyramidConfig = PyramidConfig()
) -> list[tuple[int, int]]:
    """``pyramid_shapes((height, width), config)``: the scales of a 2-D image."""
    return pyramid_shapes((height, width), config)


def resize(image: jax.Array, shape: Sequence[int]) -> jax.Array:
    """Antialiased bicubic resize of a float image to the spatial ``shape``.

    ``image`` is channels-last with an optional leading batch axis: (H, W, C) or (N, H, W, C)
    for a 2-D ``shape``, (D, H, W, C) or (N, D, H, W, C) for a 3-D one (tricubic).
    """
    shape = tuple(int(v) for v in shape)
    nd = len(shape)
    if image.ndim == nd + 1:
        target = (*shape, image.shape[-1])
    elif image.ndim == nd + 2:
        target = (image.shape[0], *shape, image.shape[-1])
    else:
        layout = "HWC or NHWC" if nd == 2 else "DHWC or NDHWC"
        raise InputError(f"resize to a {nd}-D shape expects {layout}, got shape {image.shape}")
    if tuple(image.shape) == target:
        return image
    return jax.image.resize(image, target, method="bicubic", antialias=True)


def resize_prev(image: jax.Array, shape: Sequence[int], clamp: bool) -> jax.Array:
    """``resize``, then (if ``clamp``) clip to [-1, 1]: how a previous scale's image enters the
    next generator (``ModelConfig.clamp``)."""
    out = resize(image, shape)
    return jnp.clip(out, -1.0, 1.0) if clamp else out


def build_pyramid(
    image: jax.Array, shapes: Sequence[Sequence[int]], clamp: bool = False
) -> list[jax.Array]:
    """Resize an (H, W, C) (or (D, H, W, C)) image to every shape in ``shapes`` (coarsest first); with ``clamp``
    every level is clipped to [-1, 1] (bicubic ringing overshoots the range)."""
    return [resize_prev(image, s, clamp) for s in shapes]


def pad(x: jax.Array, amount: int) -> jax.Array:
    """Zero-pad the spatial axes of an NHWC (or NDHWC) array by ``amount`` on every side."""
    return jnp.pad(x, ((0, 0), *((amount, amount),) * (x.ndim - 2), (0, 0)))
