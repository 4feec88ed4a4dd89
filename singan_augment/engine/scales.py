"""Image pyramid: the per-scale sizes of SinGAN and antialiased float resizing.

Images inside the engine are NHWC (or HWC) float32 in [-1, 1]. Resizing is antialiased
bicubic in float; nothing is rounded through uint8.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from singan_augment.errors import InputError

from .config import PyramidConfig


def _ceil(x: float) -> int:
    return int(math.ceil(x - 1e-6))


def scale_shapes(
    height: int, width: int, config: PyramidConfig = PyramidConfig()
) -> list[tuple[int, int]]:
    """Spatial shapes of the pyramid, coarsest first, for an image of ``height`` x ``width``.

    Follows SinGAN: the finest scale's long side is capped at ``max_size``, and the factor is
    refitted so that the coarsest short side is ``min_size``.

    Raises:
        InputError: if the image's short side is below ``config.min_size``, or if ``max_size``
            shrinks the finest scale's short side below ``min_size`` (the "coarsest" scale would
            be larger than the finest: an inverted pyramid).
    """
    short, long = min(height, width), max(height, width)
    if short < config.min_size:
        raise InputError(
            f"image is {height}x{width}: its short side {short} is below the pyramid's "
            f"min_size {config.min_size}"
        )
    top = min(config.max_size / long, 1.0)
    h1, w1 = _ceil(height * top), _ceil(width * top)
    if min(h1, w1) < config.min_size:
        need = _ceil(config.min_size * long / short)
        raise InputError(
            f"image is {height}x{width}: max_size {config.max_size} shrinks its finest scale to "
            f"{h1}x{w1}, whose short side is below min_size {config.min_size}, so the pyramid "
            f"would be inverted; raise max_size to at least {need} or lower min_size"
        )
    f0 = config.scale_factor
    num_scales = _ceil(math.log(config.min_size / short) / math.log(f0)) + 1
    scale_to_stop = _ceil(math.log(min(config.max_size, long) / long) / math.log(f0))
    stop_scale = max(num_scales - scale_to_stop, 1)
    factor = (config.min_size / min(h1, w1)) ** (1.0 / stop_scale)
    shapes = []
    for i in range(stop_scale + 1):
        s = factor ** (stop_scale - i)
        shapes.append((max(_ceil(h1 * s), 1), max(_ceil(w1 * s), 1)))
    return shapes


def resize(image: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """Antialiased bicubic resize of an (H, W, C) or (N, H, W, C) float image to ``shape``."""
    shape = (int(shape[0]), int(shape[1]))
    if image.ndim == 3:
        target = (*shape, image.shape[2])
    elif image.ndim == 4:
        target = (image.shape[0], *shape, image.shape[3])
    else:
        raise InputError(f"resize expects HWC or NHWC, got shape {image.shape}")
    if tuple(image.shape) == target:
        return image
    return jax.image.resize(image, target, method="bicubic", antialias=True)


def resize_prev(image: jax.Array, shape: tuple[int, int], clamp: bool) -> jax.Array:
    """``resize``, then (if ``clamp``) clip to [-1, 1]: how a previous scale's image enters the
    next generator (``ModelConfig.clamp``)."""
    out = resize(image, shape)
    return jnp.clip(out, -1.0, 1.0) if clamp else out


def build_pyramid(
    image: jax.Array, shapes: list[tuple[int, int]], clamp: bool = False
) -> list[jax.Array]:
    """Resize an (H, W, C) image to every shape in ``shapes`` (coarsest first); with ``clamp``
    every level is clipped to [-1, 1] (bicubic ringing overshoots the range)."""
    return [resize_prev(image, s, clamp) for s in shapes]


def pad(x: jax.Array, amount: int) -> jax.Array:
    """Zero-pad the two spatial axes of an NHWC array by ``amount`` on every side."""
    return jnp.pad(x, ((0, 0), (amount, amount), (amount, amount), (0, 0)))
