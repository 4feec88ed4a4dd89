"""Random draws compiled once per size bucket instead of once per shape.

``jax.random.normal(key, shape)`` compiles a kernel for every new shape (0.2-0.6 s each on
these CPUs), and sampling at many sizes, initialising nets of many widths and testing draw
many shapes. With JAX's partitionable threefry (``jax_threefry_partitionable``, the default),
a key's draw at each element depends only on the element's flat index, so the draw of a shape
is the first ``prod(shape)`` values of a longer flat draw from the same key. The functions
here draw a power-of-two length (at least ``MIN_SIZE``) for a power-of-two number of keys and
slice: the same values bit for bit, one compile per bucket, for at most twice the draw's
time and transient memory (4x when the key count is also rounded up). Without the
partitionable threefry they draw per shape.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

# The smallest flat draw: sizes are rounded up to a power of two from here.
MIN_SIZE = 1024


def _power_of_two(n: int, least: int = 1) -> int:
    return max(least, 1 << max(n - 1, 0).bit_length())


@partial(jax.jit, static_argnames=("draw", "size"))
def _flat(keys: jax.Array, *args: jax.Array, draw, size: int) -> jax.Array:
    return jax.vmap(lambda k: draw(k, (size,), jnp.float32, *args))(keys)


def _rows(draw, keys: jax.Array, shape: tuple[int, ...], *args: jax.Array) -> jax.Array:
    """(N, *shape): row i is ``draw(keys[i], shape, float32, *args)`` for a ``jax.random``
    sampler ``draw`` that maps bits to values element by element."""
    shape = tuple(int(v) for v in shape)
    if not jax.config.jax_threefry_partitionable:
        return jax.vmap(lambda k: draw(k, shape, jnp.float32, *args))(keys)
    count, size = int(keys.shape[0]), int(np.prod(shape))
    rows = _power_of_two(count)
    if rows > count:  # pad with copies of the first key; their rows are dropped below
        keys = jnp.concatenate([keys, jnp.repeat(keys[:1], rows - count, axis=0)])
    drawn = _flat(keys, *args, draw=draw, size=_power_of_two(size, MIN_SIZE))
    return drawn[:count, :size].reshape(count, *shape)


def normal_rows(keys: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """(N, *shape) float32 standard normal; row i is ``jax.random.normal(keys[i], shape)``.

    Args:
        keys: (N,) PRNG keys (raw ``uint32[N, 2]`` or typed).
        shape: the shape of one row.
    """
    return _rows(jax.random.normal, keys, shape)


def uniform_rows(
    keys: jax.Array, shape: tuple[int, ...], minval: float, maxval: float
) -> jax.Array:
    """(N, *shape) float32 in [minval, maxval); row i is
    ``jax.random.uniform(keys[i], shape, float32, minval, maxval)``."""
    return _rows(jax.random.uniform, keys, shape, jnp.float32(minval), jnp.float32(maxval))


def normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``jax.random.normal(key, shape)`` (float32), compiled per size bucket."""
    return normal_rows(key[None], shape)[0]


def uniform(key: jax.Array, shape: tuple[int, ...], minval: float, maxval: float) -> jax.Array:
    """``jax.random.uniform(key, shape, float32, minval, maxval)``, compiled per size bucket."""
    return uniform_rows(key[None], shape, minval, maxval)[0]
