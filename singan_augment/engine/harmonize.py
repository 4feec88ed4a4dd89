"""Injection at a chosen scale: harmonization, editing and structure-preserving variation.

``inject`` resizes an image into the pyramid at scale n (down to scale n-1, back up to n, as
the reference does), then runs the generators from n up with fresh noise. ``harmonize`` and
``edit`` inject a naive composite and blend the result back with a dilated, blurred paste mask,
so pixels far from the paste are returned unchanged.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from scipy import ndimage

from singan_augment.errors import InputError, ScaleError

from .channels import check_image
from .config import BlendConfig
from .generate import synthesize
from .pyramid import Pyramid
from .resolution import working_shape
from .sample import output_shapes, per_sample_keys
from .scales import resize

_AXES = {2: "H, W", 3: "D, H, W"}


def _check_injection_scale(pyramid: Pyramid, scale: int) -> int:
    pyramid.check_complete("injection")
    s = pyramid.check_scale(scale, "injection scale")
    if s < 1:
        raise ScaleError(
            f"injection scale must be >= 1 (scale 0 generates from noise alone); this pyramid allows 1..{pyramid.num_trained - 1}"
        )
    return s


def inject(
    pyramid: Pyramid,
    image: np.ndarray,
    scale: int,
    seed_or_key: int | jax.Array = 0,
    n: int = 1,
    *,
    spacing: Any = None,
) -> np.ndarray:
    """Structure-preserving variations of a real image.

    The image's coarse structure enters the pyramid at ``scale``; generators from ``scale`` up
    re-synthesise the finer texture with fresh noise. Higher scales change less.

    Args:
        image: (C, H, W) in the training range, C = pyramid channels, any H, W; (C, D, H, W)
            for a volume pyramid.
        spacing: (row, col) pixel spacing of ``image`` (or one number). When it and the
            pyramid's are known and differ, the image is resampled to the pyramid's spacing,
            injected there and resampled back (``engine.resolution``); when one is unknown and
            the sizes differ by more than 2x, a ``ResolutionWarning`` is issued once.
    Returns:
        (n, C, H, W) (volumes: (n, C, D, H, W)) float32 in the training range (label channels
        as [0, 1] probabilities).
    Raises:
        PyramidMismatchError/InputError: wrong channels, NaN/Inf; ScaleError: scale out of 1..N-1.
    """
    image = _check_against(pyramid, image, "image")
    hwc = jax.numpy.asarray(np.moveaxis(pyramid.channels.normalise(image), 0, -1))[None]
    out = inject_normalised(pyramid, hwc, scale, seed_or_key, n, spacing=spacing)
    arr = np.moveaxis(np.asarray(out), -1, 1)
    res = pyramid.channels.denormalise(arr, axis=1)
    li = pyramid.channels.label_indices
    if li:
        res[:, li] = np.clip(res[:, li], 0.0, 1.0)
    return res


def inject_normalised(
    pyramid: Pyramid,
    nhwc: jax.Array,
    scale: int,
    seed_or_key: int | jax.Array = 0,
    n: int = 1,
    *,
    spacing: Any = None,
) -> jax.Array:
    """JAX-in/JAX-out ``inject``: a normalised (1, H, W, C) image in [-1, 1] units ->
    (n, H, W, C) variations in the same units (no host round trip); (1, D, H, W, C) ->
    (n, D, H, W, C) for a volume pyramid. ``spacing`` as in ``inject``.

    Raises:
        ScaleError: scale out of 1..N-1; InputError: a malformed spacing.
    """
    s = _check_injection_scale(pyramid, scale)
    if nhwc.ndim != pyramid.spatial_dims + 2:
        raise InputError(
            f"a {pyramid.spatial_dims}-D pyramid needs a (1, {_AXES[pyramid.spatial_dims]}, C) "
            f"input, got shape {tuple(nhwc.shape)}"
        )
    size = tuple(int(v) for v in nhwc.shape[1:-1])
    work = working_shape(pyramid.spacing, pyramid.shapes[-1], size, spacing)
    if work != size:  # run at the pyramid's own resolution, then back onto the input's grid
        out = inject_normalised(
            pyramid, resize(nhwc, work), s, seed_or_key, n, spacing=pyramid.spacing
        )
        return resize(out, size)
    shapes = output_shapes(pyramid, size=size)
    prev = resize(resize(nhwc, shapes[s - 1]), shapes[s])  # down to scale s-1, back up to s
    return synthesize(
        pyramid.stages[s:],
        shapes[s:],
        per_sample_keys(seed_or_key, n),
        prev,
        pyramid.model_config,
        channels=pyramid.num_channels,
        first_scale=s,
    )


def _check_against(pyramid: Pyramid, image: np.ndarray, what: str) -> np.ndarray:
    from singan_augment.errors import PyramidMismatchError

    arr = np.asarray(image)
    nd = pyramid.spatial_dims
    if arr.ndim in (3, 4) and arr.ndim != nd + 1:
        kind = ("an image", "a volume")[arr.ndim - 3]
        raise PyramidMismatchError(
            f"{what} has shape {arr.shape}, {kind}, but this pyramid is {nd}-D and takes "
            f"(C, {_AXES[nd]}) arrays"
        )
    if arr.ndim == nd + 1 and arr.shape[0] != pyramid.num_channels:
        raise PyramidMismatchError(
            f"{what} has {arr.shape[0]} channels but the pyramid has {pyramid.num_channels} ({', '.join(pyramid.channels.names)})"
        )
    return check_image(arr, pyramid.num_channels, what, spatial_dims=nd)


def _paste_region(paste_mask: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The pasted region as an (H, W) (or (D, H, W)) bool array (values > 0.5), after checking
    the mask."""
    m = np.asarray(paste_mask)
    if m.dtype.kind not in "biuf":  # bool, int, uint, float; not timedelta ("m")
        raise InputError(f"mask must be boolean or real-valued, got dtype {m.dtype}")
    if shape is not None and m.shape != tuple(shape):
        raise InputError(
            f"mask shape {m.shape} does not match the composite's spatial shape {tuple(shape)}"
        )
    if m.ndim not in (2, 3):
        raise InputError(f"mask must be (H, W) or (D, H, W), got shape {m.shape}")
    if not np.all(np.isfinite(m.astype(np.float64))):
        raise InputError("mask contains non-finite values")
    m = m > 0.5 if m.dtype != bool else m
    if not m.any():
        raise InputError("mask is empty: nothing was pasted")
    return m


def blend_mask(
    paste_mask: np.ndarray, config: BlendConfig = BlendConfig.harmonization()
) -> np.ndarray:
    """Dilate the paste mask by a disk (a ball in 3-D), blur it with a Gaussian and normalise
    to max 1.

    Args:
        paste_mask: (H, W) (or (D, H, W)) boolean/0-1 mask of the pasted region.
    Returns:
        float32 in [0, 1] of the mask's shape; exactly 0 farther than radius + 4 sigma from
        the paste.
    """
    m = _paste_region(paste_mask)
    r = config.dilation_radius
    offsets = np.indices((2 * r + 1,) * m.ndim) - r
    disk = np.sum(offsets**2, axis=0) <= r**2
    dil = ndimage.binary_dilation(m, structure=disk)
    blur = ndimage.gaussian_filter(
        dil.astype(np.float64), config.sigma, truncate=4.0, mode="constant"
    )
    blur[blur < 1e-12] = 0.0
    return (blur / blur.max()).astype(np.float32)


def _soft(mask: np.ndarray, erosion: int, sigma: float) -> np.ndarray:
    m = ndimage.binary_erosion(mask, iterations=erosion) if erosion > 0 else mask
    w = m.astype(np.float64)
    return ndimage.gaussian_filter(w, sigma, mode="constant") if sigma > 0 else w


def blend_back(
    composite: np.ndarray,
    generated: np.ndarray,
    paste_mask: np.ndarray,
    config: BlendConfig = BlendConfig.harmonization(),
) -> np.ndarray:
    """Blend a generated image back into the composite it was injected from.

    Args:
        composite: (C, H, W) the naive paste ((C, D, H, W) for a volume).
        generated: the pyramid's output for it, same shape and units.
        paste_mask: (H, W) (or (D, H, W)) mask of the pasted object.
        config: blend mask size and what happens inside the object (``config.lesion``).
    Returns:
        float32 of the composite's shape; equal to ``composite`` farther than radius + 4 sigma
        from the paste.
    Raises:
        InputError: shapes disagree, an empty mask, NaN/Inf.
    """
    comp = np.asarray(composite, np.float64)
    gen = np.asarray(generated, np.float64)
    if comp.ndim not in (3, 4) or gen.shape != comp.shape:
        raise InputError(
            f"composite {comp.shape} and generated {gen.shape} must be the same (C, H, W) "
            "(or (C, D, H, W)) shape"
        )
    obj = _paste_region(paste_mask, comp.shape[1:])
    m = blend_mask(obj, config).astype(np.float64)
    if config.lesion == "keep_core":
        m = m * (1.0 - np.clip(_soft(obj, config.core_erosion, config.core_sigma), 0.0, 1.0))
    elif config.lesion == "restore_contrast":
        w = obj.astype(np.float64)
        s = config.contrast_sigma
        norm = ndimage.gaussian_filter(w, s, mode="constant")
        diff = ndimage.gaussian_filter((comp - gen) * w, (0,) + (s,) * w.ndim, mode="constant")
        low = np.where(norm > 1e-6, diff / np.maximum(norm, 1e-6), 0.0)
        # inside the object (edge softened by a 1 px Gaussian) the low-pass difference goes back
        gen = gen + np.clip(_soft(obj, 0, 1.0), 0.0, 1.0) * low
    return ((1.0 - m) * comp + m * gen).astype(np.float32)


def harmonize(
    pyramid: Pyramid,
    composite: np.ndarray,
    mask: np.ndarray,
    scale: int,
    seed_or_key: int | jax.Array = 0,
    *,
    blend: BlendConfig = BlendConfig.harmonization(),
    spacing: Any = None,
) -> np.ndarray:
    """Harmonize a naive paste: inject the composite at ``scale`` and blend with the mask.

    Args:
        composite: (C, H, W) naive paste in the training range, any H, W ((C, D, H, W) for
            a volume pyramid).
        mask: (H, W) (or (D, H, W)) paste mask of the composite's spatial shape.
        blend: the blend mask and what happens inside the pasted object; the default is the
            published blend (``BlendConfig.harmonization()``). ``BlendConfig.tumour()`` keeps a
            pasted lesion visible (``docs/lesion_fidelity.md``).
        spacing: pixel spacing of the composite, as in ``inject``; the blend itself is done on
            the composite's own grid, so pixels far from the paste stay exactly as they were.
    Returns:
        the blend of composite and generated image, of the composite's shape (``blend_back``).
    Raises:
        InputError: mask shape differs from the composite's, empty mask, NaN/Inf;
        PyramidMismatchError: channel count; ScaleError: scale out of range.
    """
    composite = _check_against(pyramid, composite, "composite")
    mask = _paste_region(mask, composite.shape[1:])  # refused before the generators run
    gen = inject(pyramid, composite, scale, seed_or_key, 1, spacing=spacing)[0]
    return blend_back(composite, gen, mask, blend)


def edit(
    pyramid: Pyramid,
    composite: np.ndarray,
    mask: np.ndarray,
    scale: int,
    seed_or_key: int | jax.Array = 0,
    *,
    spacing: Any = None,
) -> np.ndarray:
    """Editing variant of ``harmonize``: a wider blend mask (disk radius 20)."""
    return harmonize(
        pyramid, composite, mask, scale, seed_or_key, blend=BlendConfig.editing(), spacing=spacing
    )
