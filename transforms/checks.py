"""Argument and input checks shared by the MONAI and TorchIO transforms.

Every check raises :class:`~singan_augment.errors.InputError` naming the argument or input and
the problem, and returns the value in the form the transforms use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from singan_augment.errors import InputError

MODES = ("sample", "inject")
SLICE_CHOICES = ("all", "center", "random")


def check_input(x: Any, name: str = "input") -> torch.Tensor:
    """Validate one transform input: a real-valued (or boolean) tensor/array of shape
    (C, H, W) or (C, H, W, D) with no empty axis. Returns it as a tensor (no copy).

    Raises:
        InputError: naming the input and the problem (type, dtype, rank, empty axis).
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":  # bool, int, uint, float; not timedelta ("m")
            raise InputError(f"{name} must be a real-valued array, got dtype {x.dtype}")
        x = torch.as_tensor(x)
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a tensor or array, got {type(x).__name__}")
    if x.is_complex():
        raise InputError(f"{name} must be real-valued, got dtype {x.dtype}")
    if x.ndim not in (3, 4):
        raise InputError(
            f"{name} must be channel-first (C, H, W) or (C, H, W, D), got shape {tuple(x.shape)}"
        )
    if 0 in x.shape:
        raise InputError(f"{name} is empty: shape {tuple(x.shape)}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or Inf values")
    return x


def checked_counts(named: Mapping[str, Any]) -> dict[str, int]:
    """``check_input`` every named input; return each one's channel count."""
    return {k: int(check_input(v, f"input {k!r}").shape[0]) for k, v in named.items()}


def parse_scale_range(start_scale: int | Sequence[int]) -> tuple[int, int]:
    """An int or an inclusive (lo, hi) range of scales."""
    if isinstance(start_scale, bool):
        raise InputError(f"start_scale must be an int or (lo, hi), got {start_scale!r}")
    if isinstance(start_scale, int | np.integer):
        return int(start_scale), int(start_scale)
    try:
        lo, hi = (int(v) for v in start_scale)
    except (TypeError, ValueError):
        raise InputError(f"start_scale must be an int or (lo, hi), got {start_scale!r}") from None
    if lo > hi:
        raise InputError(f"start_scale range must have lo <= hi, got {start_scale!r}")
    return lo, hi


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES` (``"sample"``, ``"inject"``)."""
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def check_spatial_axis(axis: Any) -> int | None:
    """``None`` (2D inputs) or the volume axis 0, 1 or 2 that slices are taken along."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer) or axis not in (0, 1, 2):
        raise InputError(f"spatial_axis must be None, 0, 1 or 2, got {axis!r}")
    return int(axis)


def check_slices(slices: Any) -> Any:
    """``slices`` if it is one of :data:`SLICE_CHOICES` or an int (a slice index)."""
    if isinstance(slices, bool) or not (
        slices in SLICE_CHOICES or isinstance(slices, int | np.integer)
    ):
        raise InputError(f"slices must be one of {SLICE_CHOICES} or an int, got {slices!r}")
    return slices


__all__ = [
    "MODES",
    "SLICE_CHOICES",
    "check_input",
    "check_mode",
    "check_slices",
    "check_spatial_axis",
    "checked_counts",
    "parse_scale_range",
]
