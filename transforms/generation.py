"""The engine through the bridge: sample or inject on layout tensors and named inputs.

:func:`apply_named` maps named inputs onto the pyramid (:mod:`.channel_map`), cuts the layout
tensor into planes (:mod:`.planes`), runs the engine on them and splits the result back.
JAX and the engine are imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from singan_augment.errors import InputError, PyramidMismatchError

from .bridge import check_jax_usable, jax_to_torch, torch_to_jax
from .channel_map import build_layout, resolve_mapping, split_layout
from .checks import check_mode, checked_counts
from .planes import denormalise_planes, normalise_planes, plan_planes, put_planes, take_planes
from .pyramids import resolve_scale
from .spacing import plane_spacing


def inject_normalised(
    pyramid: Any, nhwc: Any, scale: int, key: Any, spacing: tuple[float, float] | None = None
) -> Any:
    """One structure-preserving variation of a normalised (1, H, W, C) JAX image at ``scale``
    (the engine's ``harmonize.inject_normalised``); returns (1, H, W, C) in [-1, 1] units."""
    from singan_augment.engine.harmonize import inject_normalised as engine_inject

    return engine_inject(pyramid, nhwc, scale, key, 1, spacing=spacing)


def run_engine(
    pyramid: Any,
    planes: torch.Tensor,
    mode: str,
    scale: int,
    seed: int,
    spacing: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Run the engine on (S, C, A, B) planes in the training range ((1, C, X, Y, Z) for a 3D
    pyramid); returns the same shape, label channels as one-hot 0/1. ``sample`` uses only the
    shape; ``inject`` the values.
    Deterministic in ``seed``; the S planes get independent streams split from it.
    ``spacing``: the planes' (row, col) pixel spacing, if known: the pyramid then runs at its
    own recorded spacing and the result is resampled back (``engine.resolution``); label
    channels are decoded after that resampling, so they come back as clean 0/1 masks."""
    import jax
    import jax.numpy as jnp

    from singan_augment.engine.resolution import warn_if_unmatched
    from singan_augment.engine.sample import sample_normalised

    check_jax_usable()
    spec = pyramid.channels
    s, c = planes.shape[:2]
    size = tuple(int(v) for v in planes.shape[2:])
    if c != pyramid.num_channels:
        raise PyramidMismatchError(
            f"input has {c} channels but the pyramid has {pyramid.num_channels} ({', '.join(spec.names)})"
        )
    key = jax.random.PRNGKey(int(seed) % (2**32))
    if mode == "sample":
        warn_if_unmatched(pyramid.spacing, pyramid.shapes[-1], size, spacing)
        out = sample_normalised(pyramid, key, s, start_scale=scale, size=size, spacing=spacing)
    else:
        xj, _ = torch_to_jax(normalise_planes(spec, planes))
        keys = jax.random.split(key, s)
        outs = [
            inject_normalised(pyramid, xj[i : i + 1], scale, keys[i], spacing) for i in range(s)
        ]
        out = outs[0] if s == 1 else jnp.concatenate(outs, axis=0)
    return denormalise_planes(spec, jax_to_torch(out))


def apply_named(
    pyramid: Any,
    named: Mapping[str, torch.Tensor],
    *,
    label_name: str | None = None,
    channel_map: Mapping[str, Sequence[str]] | None = None,
    **kwargs: Any,
) -> dict[str, torch.Tensor]:
    """Map named (c, *spatial) tensors onto the pyramid, transform, and split them back.

    Raises:
        InputError (see ``check_input``), PyramidMismatchError: inputs that do not fit.
    """
    counts = checked_counts(named)
    mapping = resolve_mapping(pyramid.channels, counts, label_name, channel_map)
    # values are needed in sample mode too: planes that are not transformed are kept
    x = build_layout(pyramid.channels, named, mapping, need_values=True)
    return split_layout(apply_layout(pyramid, x, **kwargs), named, mapping)


def apply_layout(
    pyramid: Any,
    x: torch.Tensor,
    *,
    mode: str,
    scale: int,
    seed: int,
    spatial_axis: int | None = None,
    slices: Any = "all",
    slice_u: float = 0.0,
    transpose: bool = False,
    spacing: tuple[float, ...] | None = None,
) -> torch.Tensor:
    """Transform a (C, *spatial) layout tensor (float32) with the pyramid; same shape out.
    ``spacing``: the input's spatial pixel spacing (one per spatial axis), or None."""
    mode = check_mode(mode)
    if x.shape[0] != pyramid.num_channels:
        raise PyramidMismatchError(
            f"input has {x.shape[0]} channels but the pyramid has {pyramid.num_channels} "
            f"({', '.join(pyramid.channels.names)})"
        )
    planes = plan_planes(x.shape, spatial_axis, slices, slice_u, transpose, pyramid.spatial_dims)
    scale = resolve_scale(pyramid, scale, mode)
    p = take_planes(x, planes)
    if min(p.shape[2:]) < 4:
        raise InputError(f"planes of size {tuple(p.shape[2:])} are too small for the pyramid")
    out = run_engine(pyramid, p, mode, scale, seed, plane_spacing(spacing, planes))
    return put_planes(x, out, planes)


__all__ = ["apply_layout", "apply_named", "inject_normalised", "run_engine"]
