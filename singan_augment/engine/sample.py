"""Sampling from a trained pyramid: any start scale, any output size, N samples per call.

Outputs are channel-first numpy arrays in the training image's intensity range. Label
channels are also decoded to a discrete label map (see ``channels.decode_labels``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import numpy as np

from singan_augment.errors import InputError

from .channels import decode_labels
from .config import LabelDecodeConfig
from .generate import random_key, reconstruction, synthesize
from .pyramid import Pyramid
from .resolution import working_shape
from .scales import resize

MAX_SAMPLES_PER_CALL = 1024
MAX_OUTPUT_PIXELS = 4096 * 4096
_LIMIT = "4096x4096 pixels or 256x256x256 voxels"


def _tuple_of(value, n: int, ok) -> bool:
    try:
        return (
            len(value) == n
            and not any(isinstance(v, bool) for v in value)
            and all(ok(v) for v in value)
        )
    except TypeError:
        return False


class Samples(NamedTuple):
    """``images``: (N, C, H, W) float32 in the training range (label channels as [0, 1]
    probabilities); ``labels``: (N, H, W) uint8 decoded label maps, or None without label
    channels. Volume pyramids give (N, C, D, H, W) and (N, D, H, W)."""

    images: np.ndarray
    labels: np.ndarray | None


def output_shapes(
    pyramid: Pyramid,
    size: tuple[int, ...] | None = None,
    factors: tuple[float, ...] | None = None,
) -> tuple[tuple[int, ...], ...]:
    """Per-scale shapes for an output of ``size`` (H, W) or ``factors`` (vertical, horizontal)
    times the training size; the noise maps of every scale scale by the same factors. A volume
    pyramid takes (D, H, W) and three factors.

    Raises:
        InputError: both or invalid size/factors, or a size whose coarsest scale is under 3 px.
    """
    finest = pyramid.shapes[-1]
    nd = len(finest)
    count, axes = ("two", "(H, W)") if nd == 2 else ("three", "(D, H, W)")
    if size is not None and factors is not None:
        raise InputError("give either size or factors, not both")
    if size is not None:
        if not _tuple_of(size, nd, lambda v: isinstance(v, int | np.integer) and v >= 1):
            raise InputError(f"size must be {count} positive integers {axes}, got {size!r}")
        if math.prod(int(v) for v in size) > MAX_OUTPUT_PIXELS:
            raise InputError(f"output size {tuple(size)} is too large (max {_LIMIT})")
        f = tuple(v / n for v, n in zip(size, finest))
    elif factors is not None:
        if not _tuple_of(
            factors,
            nd,
            lambda v: isinstance(v, int | float | np.number) and math.isfinite(v) and v > 0,
        ):
            raise InputError(f"factors must be {count} positive finite numbers, got {factors!r}")
        if math.prod(factors) * math.prod(finest) > MAX_OUTPUT_PIXELS:
            raise InputError(f"factors {tuple(factors)} make the output too large (max {_LIMIT})")
        f = tuple(float(v) for v in factors)
    else:
        return pyramid.shapes
    shapes = tuple(
        tuple(max(math.ceil(n * g - 1e-6), 1) for n, g in zip(shape, f)) for shape in pyramid.shapes
    )
    if size is not None:
        shapes = (*shapes[:-1], tuple(int(v) for v in size))
    if min(shapes[0]) < 3:
        raise InputError(f"output size too small: the coarsest scale would be {shapes[0]}")
    if math.prod(shapes[-1]) > MAX_OUTPUT_PIXELS:
        raise InputError(f"output size {shapes[-1]} is too large (max {_LIMIT})")
    return shapes


def per_sample_keys(seed_or_key, n: int) -> jax.Array:
    """``n`` independent PRNG keys, shape (n, 2), from a seed or a key; ``n`` is checked."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InputError(f"number of samples must be an int >= 1, got {n!r}")
    if n > MAX_SAMPLES_PER_CALL:
        raise InputError(
            f"at most {MAX_SAMPLES_PER_CALL} samples per call, got {n}: draw in batches"
        )
    return jax.random.split(random_key(seed_or_key), int(n))


def to_output(
    pyramid: Pyramid, nhwc: jax.Array, decode: LabelDecodeConfig | None = LabelDecodeConfig()
) -> Samples:
    """(N, H, W, C) (or (N, D, H, W, C)) normalised engine output -> ``Samples`` in the
    training range."""
    arr = np.moveaxis(np.asarray(jax.device_get(nhwc)), -1, 1)
    images = pyramid.channels.denormalise(arr, axis=1)
    li = pyramid.channels.label_indices
    if li:
        images[:, li] = np.clip(images[:, li], 0.0, 1.0)
    labels = None
    if li and decode is not None:
        labels = np.stack([decode_labels(img[li], decode) for img in images])
    return Samples(images, labels)


def sample_normalised(
    pyramid: Pyramid,
    seed_or_key: int | jax.Array,
    n: int = 1,
    *,
    start_scale: int = 0,
    size: tuple[int, int] | None = None,
    factors: tuple[float, float] | None = None,
    spacing: Any = None,
) -> jax.Array:
    """Like ``sample`` but returns the raw (N, H, W, C) (volumes: (N, D, H, W, C)) engine
    output in [-1, 1]-normalised units."""
    pyramid.check_complete("sampling")
    start = pyramid.check_scale(start_scale, "start_scale")
    if spacing is not None:
        if size is None:
            raise InputError("spacing is the spacing of the output grid: give size with it")
        work = working_shape(pyramid.spacing, pyramid.shapes[-1], size, spacing, warn=False)
        if work != tuple(int(v) for v in size):
            out = sample_normalised(pyramid, seed_or_key, n, start_scale=start_scale, size=work)
            return resize(out, size)
    shapes = output_shapes(pyramid, size, factors)
    mcfg = pyramid.model_config
    prev = None
    if start > 0:
        rec = reconstruction(pyramid.stages[:start], pyramid.shapes, pyramid.z_opt, mcfg)
        prev = resize(rec, shapes[start])
    return synthesize(
        pyramid.stages[start:],
        shapes[start:],
        per_sample_keys(seed_or_key, n),
        prev,
        mcfg,
        channels=pyramid.num_channels,
        first_scale=start,
        shared_coarsest=pyramid.train_config.coarsest_noise == "shared",
    )


def sample(
    pyramid: Pyramid,
    seed_or_key: int | jax.Array,
    n: int = 1,
    *,
    start_scale: int = 0,
    size: tuple[int, int] | None = None,
    factors: tuple[float, float] | None = None,
    decode: LabelDecodeConfig | None = LabelDecodeConfig(),
    spacing: Any = None,
) -> Samples:
    """Draw ``n`` random samples.

    Scales below ``start_scale`` follow the reconstruction path (so the coarse layout is the
    training image's); scales from ``start_scale`` on get fresh noise. Deterministic under a
    seed (an int or a JAX key).

    Args:
        size: output (H, W); or ``factors``: (vertical, horizontal) multiples of the training
            size. A volume pyramid takes (D, H, W) and three factors.
        spacing: the (row, col) pixel spacing of the ``size`` grid ((slice, row, col)). When it and the pyramid's
            spacing are known and differ, samples are drawn at the pyramid's own spacing over
            the same physical extent and resampled onto the grid (``engine.resolution``).
    Returns:
        ``Samples(images (N, C, H, W), labels (N, H, W) or None)``; with a leading D after C
        (and N) for a volume pyramid.
    Raises:
        ScaleError: start_scale out of range; InputError: bad size/factors or n < 1.
    """
    out = sample_normalised(
        pyramid, seed_or_key, n, start_scale=start_scale, size=size, factors=factors,
        spacing=spacing,
    )  # fmt: skip
    return to_output(pyramid, out, decode)


__all__ = ["Samples", "sample", "sample_normalised", "output_shapes", "to_output"]
