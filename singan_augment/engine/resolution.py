"""Physical resolution: run a pyramid at the pixel spacing it was trained at.

A pyramid learns patch statistics at the pixel spacing of its training image. Given an image
with another spacing (an 80 px pyramid of a 1 mm slice, applied to a 0.33 mm, 240 px slice),
its generators would see every structure three times larger than they were trained on. With
both spacings known, injection, harmonization and sampling resample the input to the
pyramid's spacing (the same physical extent), generate there, and resample back.

Spacings are (row, col) physical sizes of one pixel ((slice, row, col) of a voxel), in any unit as long as it is the same one
for the pyramid and the input (NIfTI: mm). ``Pyramid.spacing`` is that of the finest scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from singan_augment.errors import InputError, ResolutionWarning

from .scales import format_shape

RESAMPLE_TOLERANCE = 0.05
"""Spacings that agree within this relative difference are treated as equal (no resampling)."""

WARN_SIZE_FACTOR = 2.0
"""Without spacings, an input whose side lengths differ from the pyramid's by more than this
factor gets one ``ResolutionWarning`` per process."""

_warned = False


def check_spacing(spacing: Any, what: str = "spacing", dims: int = 2) -> tuple[float, ...] | None:
    """Validate a spacing: None, one positive number (isotropic) or ``dims`` of them ((row,
    col) for an image, (slice, row, col) for a volume).

    Raises:
        InputError: naming ``what`` and the value.
    """
    if spacing is None:
        return None
    axes = "(row, col)" if dims == 2 else "(slice, row, col)"
    count = "two" if dims == 2 else "three"
    scalar = isinstance(spacing, int | float | np.number) and not isinstance(spacing, bool)
    vals = (spacing,) * dims if scalar else spacing
    if isinstance(vals, str | bytes):
        raise InputError(f"{what} must be None or one or {count} positive numbers, got {spacing!r}")
    try:
        vals = tuple(float(v) for v in vals)
    except (TypeError, ValueError):
        raise InputError(
            f"{what} must be None or one or {count} positive numbers, got {spacing!r}"
        ) from None
    if len(vals) != dims or not all(math.isfinite(v) and v > 0 for v in vals):
        raise InputError(
            f"{what} must be None or one or {count} positive finite numbers {axes}, got {spacing!r}"
        )
    return vals


def finest_spacing(
    spacing: Any, image_shape: Sequence[int], finest_shape: Sequence[int]
) -> tuple[float, ...] | None:
    """Spacing of the pyramid's finest scale, given the training image's spatial shape and
    spacing (the finest scale is the image resized to at most ``max_size``)."""
    s = check_spacing(spacing, dims=len(finest_shape))
    if s is None:
        return None
    return tuple(v * n / f for v, n, f in zip(s, image_shape, finest_shape))


def working_shape(
    pyramid_spacing: tuple[float, ...] | None,
    pyramid_shape: Sequence[int],
    shape: Sequence[int],
    spacing: Any,
    *,
    warn: bool = True,
) -> tuple[int, ...]:
    """The spatial shape at which the pyramid should see an input of ``shape`` px at ``spacing``.

    With both spacings known and different (beyond ``RESAMPLE_TOLERANCE``): the same physical
    extent at the pyramid's spacing, ``round(H * spacing / pyramid_spacing)`` per axis (at
    least 1). Otherwise ``shape`` itself, and with ``warn`` see ``warn_if_unmatched``.

    Raises:
        InputError: a malformed spacing.
    """
    shape = tuple(int(v) for v in shape)
    s = check_spacing(spacing, dims=len(shape))
    if s is not None and pyramid_spacing is not None:
        ratio = tuple(a / b for a, b in zip(s, pyramid_spacing))
        if all(abs(r - 1.0) <= RESAMPLE_TOLERANCE for r in ratio):
            return shape
        return tuple(max(1, round(n * r)) for n, r in zip(shape, ratio))
    if warn:
        warn_if_unmatched(pyramid_spacing, pyramid_shape, shape, s)
    return shape


def warn_if_unmatched(
    pyramid_spacing: tuple[float, ...] | None,
    pyramid_shape: Sequence[int],
    shape: Sequence[int],
    spacing: Any,
) -> None:
    """One ``ResolutionWarning`` per process when a spacing is unknown (so the resolutions
    cannot be matched) and a side of ``shape`` differs from the pyramid's finest by more than
    ``WARN_SIZE_FACTOR``."""
    shape = tuple(int(v) for v in shape)
    if check_spacing(spacing, dims=len(shape)) is not None and pyramid_spacing is not None:
        return
    factor = max(max(n / p, p / n) for n, p in zip(shape, pyramid_shape))
    if factor > WARN_SIZE_FACTOR:
        unknown = "the pyramid's" if pyramid_spacing is None else "the input's"
        _warn_once(
            f"an input of {format_shape(shape)} px was given to a pyramid trained at "
            f"{format_shape(pyramid_shape)} px ({factor:.1f}x apart) and {unknown} pixel spacing is "
            "unknown: the generators will see structures at another scale than they were "
            "trained on. Pass spacing= (or train with --spacing / a NIfTI) to resample."
        )


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message, ResolutionWarning, stacklevel=5)


def reset_warning() -> None:
    """Let the next unmatched-resolution call warn again (for tests and long sessions)."""
    global _warned
    _warned = False


__all__ = [
    "RESAMPLE_TOLERANCE",
    "WARN_SIZE_FACTOR",
    "check_spacing",
    "finest_spacing",
    "reset_warning",
    "warn_if_unmatched",
    "working_shape",
]
