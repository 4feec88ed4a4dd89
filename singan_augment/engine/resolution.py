"""Physical resolution: run a pyramid at the pixel spacing it was trained at.

A pyramid learns patch statistics at the pixel spacing of its training image. Given an image
with another spacing (an 80 px pyramid of a 1 mm slice, applied to a 0.33 mm, 240 px slice),
its generators would see every structure three times larger than they were trained on. With
both spacings known, injection, harmonization and sampling resample the input to the
pyramid's spacing (the same physical extent), generate there, and resample back.

Spacings are (row, col) physical sizes of one pixel, in any unit as long as it is the same one
for the pyramid and the input (NIfTI: mm). ``Pyramid.spacing`` is that of the finest scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from singan_augment.errors import InputError, ResolutionWarning

RESAMPLE_TOLERANCE = 0.05
"""Spacings that agree within this relative difference are treated as equal (no resampling)."""

WARN_SIZE_FACTOR = 2.0
"""Without spacings, an input whose side lengths differ from the pyramid's by more than this
factor gets one ``ResolutionWarning`` per process."""

_warned = False


def check_spacing(spacing: Any, what: str = "spacing") -> tuple[float, float] | None:
    """Validate a (row, col) spacing: None, one positive number (isotropic) or two.

    Raises:
        InputError: naming ``what`` and the value.
    """
    if spacing is None:
        return None
    scalar = isinstance(spacing, int | float | np.number) and not isinstance(spacing, bool)
    vals = (spacing, spacing) if scalar else spacing
    if isinstance(vals, str | bytes):
        raise InputError(f"{what} must be None or one or two positive numbers, got {spacing!r}")
    try:
        vals = tuple(float(v) for v in vals)
    except (TypeError, ValueError):
        raise InputError(
            f"{what} must be None or one or two positive numbers, got {spacing!r}"
        ) from None
    if len(vals) != 2 or not all(math.isfinite(v) and v > 0 for v in vals):
        raise InputError(
            f"{what} must be None or one or two positive finite numbers (row, col), got {spacing!r}"
        )
    return vals


def finest_spacing(
    spacing: Any, image_shape: Sequence[int], finest_shape: Sequence[int]
) -> tuple[float, float] | None:
    """Spacing of the pyramid's finest scale, given the training image's (H, W) and spacing
    (the finest scale is the image resized to at most ``max_size``)."""
    s = check_spacing(spacing)
    if s is None:
        return None
    return (
        s[0] * image_shape[0] / finest_shape[0],
        s[1] * image_shape[1] / finest_shape[1],
    )


def working_shape(
    pyramid_spacing: tuple[float, float] | None,
    pyramid_shape: Sequence[int],
    shape: Sequence[int],
    spacing: Any,
    *,
    warn: bool = True,
) -> tuple[int, int]:
    """The (H, W) at which the pyramid should see an input of ``shape`` px at ``spacing``.

    With both spacings known and different (beyond ``RESAMPLE_TOLERANCE``): the same physical
    extent at the pyramid's spacing, ``round(H * spacing / pyramid_spacing)`` (at least 1).
    Otherwise ``shape`` itself, and with ``warn`` see ``warn_if_unmatched``.

    Raises:
        InputError: a malformed spacing.
    """
    s = check_spacing(spacing)
    h, w = int(shape[0]), int(shape[1])
    if s is not None and pyramid_spacing is not None:
        ratio = (s[0] / pyramid_spacing[0], s[1] / pyramid_spacing[1])
        if all(abs(r - 1.0) <= RESAMPLE_TOLERANCE for r in ratio):
            return h, w
        return max(1, round(h * ratio[0])), max(1, round(w * ratio[1]))
    if warn:
        warn_if_unmatched(pyramid_spacing, pyramid_shape, (h, w), s)
    return h, w


def warn_if_unmatched(
    pyramid_spacing: tuple[float, float] | None,
    pyramid_shape: Sequence[int],
    shape: Sequence[int],
    spacing: Any,
) -> None:
    """One ``ResolutionWarning`` per process when a spacing is unknown (so the resolutions
    cannot be matched) and a side of ``shape`` differs from the pyramid's finest by more than
    ``WARN_SIZE_FACTOR``."""
    if check_spacing(spacing) is not None and pyramid_spacing is not None:
        return
    h, w = int(shape[0]), int(shape[1])
    ph, pw = pyramid_shape
    factor = max(h / ph, ph / h, w / pw, pw / w)
    if factor > WARN_SIZE_FACTOR:
        unknown = "the pyramid's" if pyramid_spacing is None else "the input's"
        _warn_once(
            f"an input of {h}x{w} px was given to a pyramid trained at {ph}x{pw} px "
            f"({factor:.1f}x apart) and {unknown} pixel spacing is unknown: the generators "
            "will see structures at another scale than they were trained on. Pass spacing= "
            "(or train with --spacing / a NIfTI) to resample."
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
