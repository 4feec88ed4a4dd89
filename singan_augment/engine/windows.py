"""Random training windows: a scale trained on crops of itself (``TrainConfig.crop``).

SinGAN's critic is a patch discriminator and its generators are fully convolutional, so a
scale's generator output inside a window depends only on its padded input inside that window
grown by the generator's margin (``ModelConfig.pad``). Training on a window therefore runs
the same networks on fewer pixels: the adversarial and reconstruction terms become their
means over the window instead of the whole scale. What a window does change is the
BatchNorm statistics of the trained generator, which are the window's in training mode.

Shapes are spatial only (``(H, W)`` or ``(D, H, W)``); arrays are NHWC (or NDHWC).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Window(NamedTuple):
    """A window of a scale: ``starts`` (one int32 scalar per spatial axis, in output pixels)
    and its static ``size`` (one int per spatial axis)."""

    starts: tuple[jax.Array, ...]
    size: tuple[int, ...]


def window_size(shape: Sequence[int], crop: int) -> tuple[int, ...] | None:
    """The window trained at a scale of spatial ``shape`` with ``TrainConfig.crop`` c:
    ``min(c, side)`` along each axis, or None where there is nothing to crop (c = 0, or
    the window would cover the whole scale)."""
    if crop <= 0:
        return None
    size = tuple(min(int(crop), int(s)) for s in shape)
    return None if size == tuple(int(s) for s in shape) else size


def random_window(key: jax.Array, shape: Sequence[int], size: Sequence[int]) -> Window:
    """A window of ``size`` at a uniformly random position inside a scale of ``shape``
    (every position equally likely, the window always whole)."""
    keys = jax.random.split(key, len(shape))
    starts = tuple(
        jax.random.randint(k, (), 0, int(s) - int(w) + 1, dtype=jnp.int32)
        for k, s, w in zip(keys, shape, size)
    )
    return Window(starts, tuple(int(w) for w in size))


def take_window(x: jax.Array, window: Window, margin: int = 0) -> jax.Array:
    """The part of ``x`` (N, *spatial, C) under ``window``, grown by ``margin`` pixels on every
    side: (N, *(size + 2 * margin), C). With ``margin`` p, ``x`` is an input padded by p, and
    the window's starts are still in unpadded (output) coordinates."""
    starts = (jnp.int32(0), *window.starts, jnp.int32(0))
    sizes = (x.shape[0], *(w + 2 * margin for w in window.size), x.shape[-1])
    return jax.lax.dynamic_slice(x, starts, sizes)
