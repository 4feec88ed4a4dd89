"""Pixel spacing of framework inputs, and of the 2D planes a pyramid sees.

The engine runs a pyramid at the pixel spacing it was trained at when both that and the
input's spacing are known (``singan_augment.engine.resolution``). Here the input's spacing is
read from its affine: a MONAI ``MetaTensor``'s ``affine`` or a TorchIO image's. An affine that
is exactly the identity is what both frameworks attach to data that came without one, so it
counts as *unknown*, not as 1 mm.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .planes import Planes


def affine_spacing(affine: Any, rank: int) -> tuple[float, ...] | None:
    """Voxel sizes of the first ``rank`` spatial axes (column norms of the affine's linear
    part), or None for a missing, identity or degenerate affine."""
    if affine is None:
        return None
    a = np.asarray(affine.detach().cpu() if hasattr(affine, "detach") else affine, np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        return None
    if np.array_equal(a, np.eye(a.shape[0])):
        return None
    lin = a[:-1, :-1]
    sizes = np.linalg.norm(lin, axis=0)
    if rank > sizes.size:
        return None
    out = sizes[:rank]
    if not np.all(np.isfinite(out)) or np.any(out <= 0):
        return None
    return tuple(float(v) for v in out)


def tensor_spacing(x: Any) -> tuple[float, ...] | None:
    """Spacing of a (C, *spatial) tensor that carries an ``affine`` (MONAI MetaTensor), else None."""
    return affine_spacing(getattr(x, "affine", None), x.ndim - 1) if hasattr(x, "ndim") else None


def plane_spacing(spacing: tuple[float, ...] | None, planes: Planes) -> tuple[float, ...] | None:
    """(row, col) spacing of the planes ``take_planes`` cuts, given the input's spatial
    spacing; all of the input's spacing when it is seen whole (a 2D image, or a volume given
    to a 3D pyramid)."""
    if spacing is None:
        return None
    if planes.axis is None:
        ab = tuple(spacing)
    else:
        rest = [s for i, s in enumerate(spacing[:3]) if i != planes.axis - 1]
        ab = (rest[0], rest[1])
    return (*ab[:-2], ab[-1], ab[-2]) if planes.transpose else ab


__all__ = ["affine_spacing", "plane_spacing", "tensor_spacing"]
