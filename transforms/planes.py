"""2D planes of inputs: which planes of a (C, *spatial) input a 2D pyramid sees, and the
normalisation between a layout's training range and the engine's [-1, 1] NHWC planes.

A 3D (volume) pyramid sees the whole (C, X, Y, Z) input as one "plane", in the axis order it
is given (the order the pyramid was trained in; ``transpose`` applies to 2D planes only): it
generates whole volumes, so there is no slice axis to choose.

Volumes: a 2D pyramid works on planes. A (C, A, B) input is one plane. A (C, X, Y, Z) input
needs a slice axis: ``spatial_axis`` (0, 1 or 2, counted over the spatial dims) or, when it is
None, the single spatial axis of size 1 (a 2D image saved as a volume); otherwise
:class:`~singan_augment.errors.InputError` is raised - a plane is never guessed. ``slices``
chooses which planes along that axis are transformed: ``"all"`` (slice-wise, each slice an
independent draw), ``"center"``, ``"random"`` or an int index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from singan_augment.errors import InputError

from .bridge import numpy_to_torch
from .checks import check_slices


@dataclass(frozen=True)
class Planes:
    """Where the 2D planes of an input live: slice axis (in tensor dims) and indices."""

    axis: int | None  # tensor dim of the slice axis; None for a 2D input
    indices: tuple[int, ...]
    transpose: bool


def plan_planes(
    shape: Sequence[int],
    spatial_axis: int | None,
    slices: Any,
    slice_u: float,
    transpose: bool,
    spatial_dims: int = 2,
) -> Planes:
    """Decide which planes of a (C, *spatial) input the pyramid sees: 2D planes for a 2D
    pyramid (``spatial_dims=2``), the whole volume for a 3D one.

    ``slice_u`` in [0, 1) picks the slice for ``slices="random"`` (drawn by the caller's RNG).

    Raises:
        InputError: a volume with no slice axis given and none of size 1, a bad axis or index,
        or an input that is neither 2D nor 3D; for a 3D pyramid, an input that is not a
        volume, or a slice axis given.
    """
    sp = list(shape[1:])
    if spatial_dims == 3:
        if len(sp) != 3:
            raise InputError(
                f"a 3D (volume) pyramid needs a (C, X, Y, Z) volume, got shape {tuple(shape)}"
            )
        if spatial_axis is not None:
            raise InputError(
                "spatial_axis and slices choose the planes of a 2D pyramid; a 3D pyramid "
                f"generates the whole volume (got spatial_axis={spatial_axis})"
            )
        return Planes(None, (0,), False)  # volumes keep their axis order (transpose: 2D only)
    if len(sp) == 2:
        return Planes(None, (0,), transpose)
    if len(sp) != 3:
        raise InputError(f"expected (C, H, W) or (C, H, W, D), got shape {tuple(shape)}")
    if spatial_axis is None:
        singles = [i for i, n in enumerate(sp) if n == 1]
        if len(singles) != 1:
            raise InputError(
                f"a 3D volume of spatial shape {tuple(sp)} was given to a 2D pyramid: set "
                "spatial_axis (0, 1 or 2; the axis the slices are taken along) and slices "
                "('all', 'center', 'random' or an index). The plane is never guessed."
            )
        ax = singles[0]
    else:
        ax = int(spatial_axis)
        if ax < 0:
            ax += 3
        if not 0 <= ax < 3:
            raise InputError(f"spatial_axis must be 0, 1 or 2 for a 3D volume, got {spatial_axis}")
    n = sp[ax]
    slices = check_slices(slices)
    if slices == "all":
        idx = tuple(range(n))
    elif slices == "center":
        idx = (n // 2,)
    elif slices == "random":
        idx = (min(int(slice_u * n), n - 1),)
    else:
        i = int(slices) + (n if slices < 0 else 0)
        if not 0 <= i < n:
            raise InputError(f"slice index {slices} out of range for {n} slices along axis {ax}")
        idx = (i,)
    return Planes(ax + 1, idx, transpose)


def take_planes(x: torch.Tensor, planes: Planes) -> torch.Tensor:
    """(C, *spatial) -> (S, C, A, B) planes (transposed to the pyramid's (H, W) if asked);
    (1, C, X, Y, Z) for a volume seen whole."""
    if planes.axis is None:
        p = x[None]
    else:
        p = x.movedim(planes.axis, 0)[list(planes.indices)]
    return p.transpose(-1, -2) if planes.transpose else p


def put_planes(x: torch.Tensor, p: torch.Tensor, planes: Planes) -> torch.Tensor:
    """Inverse of ``take_planes``: a copy of ``x`` with the planes replaced by ``p``."""
    if planes.transpose:
        p = p.transpose(-1, -2)
    if planes.axis is None:
        return p[0].contiguous()
    out = x.clone()
    out.movedim(planes.axis, 0)[list(planes.indices)] = p.to(out.dtype)
    return out


def _channel_view(values: Sequence[float], rank: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, -1, *([1] * (rank - 2)))


def normalise_planes(spec: Any, p: torch.Tensor) -> torch.Tensor:
    """(S, C, A, B) training range -> (S, A, B, C) in [-1, 1], compact NHWC memory
    ((S, C, X, Y, Z) -> (S, X, Y, Z, C) for volumes)."""
    lo, hi = _channel_view(spec.low, p.ndim), _channel_view(spec.high, p.ndim)
    n = (p.to(torch.float32) - lo) / (hi - lo) * 2.0 - 1.0
    return n.movedim(1, -1).contiguous()


def denormalise_planes(spec: Any, nhwc: torch.Tensor, decode: Any = None) -> torch.Tensor:
    """(S, A, B, C) engine output -> (S, C, A, B) training range ((S, X, Y, Z, C) ->
    (S, C, X, Y, Z) for volumes); label channels decoded to one-hot 0/1 masks with the
    engine's hysteresis rule (``channels.decode_labels``)."""
    from singan_augment.engine.channels import decode_labels
    from singan_augment.engine.config import LabelDecodeConfig

    lo, hi = _channel_view(spec.low, nhwc.ndim), _channel_view(spec.high, nhwc.ndim)
    out = (nhwc.movedim(-1, 1) + 1.0) * 0.5 * (hi - lo) + lo
    li = spec.label_indices
    if li:
        probs = out[:, li].clamp(0.0, 1.0)
        cfg = decode or LabelDecodeConfig()
        for s in range(out.shape[0]):
            lab = numpy_to_torch(decode_labels(probs[s].numpy(), cfg))
            for j, i in enumerate(li):
                out[s, i] = (lab == j + 1).to(torch.float32)
    return out


__all__ = [
    "Planes",
    "denormalise_planes",
    "normalise_planes",
    "plan_planes",
    "put_planes",
    "take_planes",
]
