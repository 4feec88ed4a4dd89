"""Tumour insertion: paste a tumour patch into a brain image and harmonize it with the pyramid.

A patch is either procedural (:func:`singan_augment.tumour.make_tumour`: necrotic core 1,
enhancing rim 2, oedema 3) or an entry of a user's tumour bank. :func:`tumour_plane` scales,
rotates and pastes it into one (C, A, B) plane inside the brain mask and harmonizes the result
with the engine (``harmonize``) at the injection scale; :func:`tumour_named` does that on
named inputs and the planes of volumes (see :mod:`.planes`). With a 3-D (volume) pyramid the
"plane" is the whole (C, X, Y, Z) volume and the procedural lesion is 3-D (nested irregular
balls), pasted and harmonized in 3-D. Everything random about one insertion is in
:class:`TumourParams`, so a call can be replayed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from singan_augment.engine.config import BlendConfig
from singan_augment.errors import InputError, PyramidMismatchError

from .bridge import check_jax_usable, numpy_to_torch, plain_tensor
from .channel_map import build_layout, resolve_mapping, split_layout
from .checks import checked_counts
from .planes import plan_planes, put_planes, take_planes
from .pyramids import resolve_scale
from .spacing import plane_spacing


@dataclass(frozen=True)
class TumourPatchData:
    """One tumour patch ready to paste (generated, or a normalised bank entry)."""

    image: np.ndarray  # (C, s, s) float32 in [0, 1]; (C, s, s, s) in 3-D
    label: np.ndarray  # (s, s) uint8, 0 outside; (s, s, s) in 3-D
    mask: np.ndarray  # like label, bool


def make_patch(
    seed: int, size: int, contrasts: Sequence[str], spatial_dims: int = 2
) -> TumourPatchData:
    """A procedural tumour patch from :func:`singan_augment.tumour.make_tumour`, deterministic
    in ``seed``: (C, s, s) image (``spatial_dims=3``: (C, s, s, s)) with one channel per name in
    ``contrasts``, s = max(size, 16) (its minimum). Contrast names it does not know get random
    levels drawn from the seed (``unknown_contrasts="random"``)."""
    from singan_augment.tumour import make_tumour

    t = make_tumour(
        int(seed),
        max(int(size), 16),
        tuple(contrasts),
        unknown_contrasts="random",
        spatial_dims=spatial_dims,
    )
    return TumourPatchData(
        np.asarray(t.image, np.float32), np.asarray(t.label, np.uint8), np.asarray(t.mask, bool)
    )


def bank_patch(entry: Any, channels: int, tumour_label: int) -> TumourPatchData:
    """Normalise one bank entry: ``(image (C,s,s) in [0,1], mask or label (s,s))`` or an object
    with ``image``/``label``/``mask`` attributes. A binary mask gets label ``tumour_label``."""
    if hasattr(entry, "image"):
        image, lab = entry.image, getattr(entry, "label", None)
        mask = getattr(entry, "mask", None)
        lab = mask if lab is None else lab
    else:
        image, lab = entry
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = np.repeat(image[None], channels, 0)
    lab = np.asarray(lab)
    if image.ndim != 3 or image.shape[0] != channels or lab.shape != image.shape[1:]:
        raise InputError(
            f"tumour bank entry has image {image.shape} and mask {lab.shape}; expected "
            f"({channels}, s, s) and (s, s)"
        )
    if lab.dtype == bool or lab.max() <= 1:
        lab = np.where(lab > 0.5, tumour_label, 0)
    lab = lab.astype(np.uint8)
    return TumourPatchData(np.clip(image, 0, 1), lab, lab > 0)


def transform_patch(p: TumourPatchData, zoom: float, angle: float) -> TumourPatchData:
    """Scale and rotate a patch (linear for the image, nearest for the label); a 3-D patch
    turns in its last two axes."""
    from scipy import ndimage

    img, lab = p.image, p.label
    nd = lab.ndim
    if abs(zoom - 1.0) > 1e-6:
        img = ndimage.zoom(img, (1,) + (zoom,) * nd, order=1)
        lab = ndimage.zoom(lab, zoom, order=0)
    if abs(angle) > 1e-6:
        img = ndimage.rotate(img, angle, axes=(nd - 1, nd), order=1, reshape=True)
        lab = ndimage.rotate(lab, angle, axes=(nd - 2, nd - 1), order=0, reshape=True)
    return TumourPatchData(np.clip(img, 0, 1).astype(np.float32), lab.astype(np.uint8), lab > 0)


@dataclass(frozen=True)
class TumourParams:
    """Everything random about one tumour insertion (so a call can be replayed)."""

    seed: int  # engine noise
    patch_seed: int  # procedural patch / bank index
    loc_u: float  # picks the centre among candidate pixels
    slice_u: float
    zoom: float
    angle: float
    patch_size: int


def brain_mask_from(image_planes: np.ndarray, threshold: float | None) -> np.ndarray:
    """(C, A, B) -> (A, B) bool: first channel above ``threshold`` (default: 10% of its range
    above its minimum)."""
    ch = image_planes[0]
    t = ch.min() + 0.1 * (ch.max() - ch.min()) if threshold is None else threshold
    return ch > t


def pick_centre(mask: np.ndarray, radius: float, u: float) -> tuple[int, ...]:
    """A pixel of ``mask`` at least ``radius`` from its edge if any, chosen by ``u`` in [0, 1)."""
    from scipy import ndimage

    if not mask.any():
        raise InputError("the brain mask is empty: cannot choose a tumour location")
    dist = ndimage.distance_transform_edt(mask)
    cand = np.argwhere(dist >= radius)
    if len(cand) == 0:
        cand = np.argwhere(dist >= dist.max())
    return tuple(int(v) for v in cand[min(int(u * len(cand)), len(cand) - 1)])


def paste(
    image: np.ndarray,
    label: np.ndarray,
    brain: np.ndarray,
    patch: TumourPatchData,
    centre: tuple[int, int],
    label_map: Mapping[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naive paste of ``patch`` centred at ``centre`` (cropped at the borders, kept inside the
    brain). Patch intensities [0, 1] map to each channel's 1st..99th brain percentile.

    Returns (composite (C, A, B), new label (A, B), paste mask (A, B) bool); with a 3-D
    patch, (C, X, Y, Z) and (X, Y, Z).
    """
    c, spatial = image.shape[0], image.shape[1:]
    lo = [int(ct) - n // 2 for ct, n in zip(centre, patch.label.shape)]
    dst = tuple(slice(max(a, 0), min(a + n, m)) for a, n, m in zip(lo, patch.label.shape, spatial))
    src = tuple(slice(d.start - a, d.stop - a) for d, a in zip(dst, lo))
    pm = np.zeros(spatial, bool)
    pl = np.zeros(spatial, np.uint8)
    pi = np.zeros((c, *spatial), np.float32)
    if all(d.start < d.stop for d in dst):
        pm[dst] = patch.mask[src]
        pl[dst] = patch.label[src]
        pi[(slice(None), *dst)] = patch.image[(slice(None), *src)]
    pm &= brain
    if not pm.any():
        raise InputError("the tumour patch does not overlap the brain mask")
    comp = image.copy()
    region = brain if brain.sum() > 16 else np.ones_like(brain)
    for ch in range(c):
        lo, hi = np.percentile(image[ch][region], [1, 99])
        comp[ch][pm] = lo + pi[ch][pm] * (hi - lo)
    new_label = label.copy()
    mapped = pl.copy()  # labels not in label_map keep their value
    for src, dst in label_map.items():
        mapped[pl == src] = dst
    sel = pm & (pl > 0)
    new_label[sel] = mapped[sel]
    return comp, new_label, pm


def tumour_plane(
    pyramid: Any,
    image: np.ndarray,
    label: np.ndarray,
    brain: np.ndarray | None,
    params: TumourParams,
    *,
    injection_scale: int,
    bank: Sequence[Any] | None,
    location: tuple[int, int] | None,
    label_map: Mapping[int, int],
    threshold: float | None,
    tumour_label: int,
    blend: BlendConfig | None = None,
    spacing: tuple[float, float] | None = None,
    lesion: str = "keep_core",
) -> tuple[np.ndarray, np.ndarray]:
    """Insert and harmonize one tumour in one plane.

    Args:
        image: (C_img, A, B) image channels (the pyramid's image channels, in order).
        label: (A, B) integer label map (zeros if there is none).
        blend: how the harmonized image is blended back (default
            ``BlendConfig.tumour(lesion, spatial_dims)`` for the plane's dimensionality, which
            keeps the lesion's core from the paste).
        spacing: the plane's (row, col) pixel spacing, if known (the pyramid then runs at its
            own recorded spacing; the paste and the label stay on the input's grid).
    Returns:
        (image, label) of the same shapes: harmonized image; label with the tumour classes set
        inside the pasted mask and untouched outside.
    """
    from singan_augment.engine.harmonize import harmonize

    check_jax_usable()
    spec = pyramid.channels
    img_idx, lab_idx = spec.image_indices, spec.label_indices
    if image.shape[0] != len(img_idx):
        raise PyramidMismatchError(
            f"{image.shape[0]} image channels given; the pyramid has {len(img_idx)} "
            f"({[spec.names[i] for i in img_idx]})"
        )
    nd = image.ndim - 1
    if bank and nd == 3:
        raise InputError("a tumour bank holds 2-D patches; a 3-D pyramid uses procedural lesions")
    if bank:
        entry = bank[params.patch_seed % len(bank)]
        patch = bank_patch(entry, image.shape[0], tumour_label)
    else:
        names = [spec.names[i] for i in img_idx]
        patch = make_patch(params.patch_seed, params.patch_size, names, spatial_dims=nd)
    patch = transform_patch(patch, params.zoom, params.angle)
    if brain is None:
        brain = brain_mask_from(image, threshold)
    if brain.shape != image.shape[1:]:
        raise InputError(
            f"brain mask shape {brain.shape} differs from the image's {image.shape[1:]}"
        )
    radius = 0.3 * max(patch.label.shape)
    centre = location if location is not None else pick_centre(brain, radius, params.loc_u)
    if len(centre) != nd or not all(0 <= c < n for c, n in zip(centre, image.shape[1:])):
        raise InputError(f"tumour location {centre} is outside the plane {image.shape[1:]}")
    comp, new_label, pm = paste(image, label, brain.astype(bool), patch, centre, label_map)
    full = np.zeros((spec.num_channels, *image.shape[1:]), np.float32)
    full[img_idx] = comp
    for j, i in enumerate(lab_idx):  # pyramids with label channels see the new label map
        full[i] = (new_label == j + 1) if len(lab_idx) > 1 else (new_label > 0)
    s = resolve_scale(pyramid, injection_scale, "inject")
    blend = BlendConfig.tumour(lesion, spatial_dims=nd) if blend is None else blend
    out = harmonize(pyramid, full, pm, s, int(params.seed) % (2**32), blend=blend, spacing=spacing)
    return out[img_idx], new_label


def tumour_named(
    pyramid: Any,
    images: Mapping[str, torch.Tensor],
    label: torch.Tensor | None,
    brain: torch.Tensor | None,
    params: TumourParams,
    *,
    channel_map: Mapping[str, Sequence[str]] | None = None,
    spatial_axis: int | None = None,
    slices: Any = "center",
    transpose: bool = False,
    spacing: tuple[float, ...] | None = None,
    **plane_kwargs: Any,
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Tumour insertion on named image inputs (mapped to the pyramid's *image* channels), an
    optional (1, *spatial) label map and an optional (1, *spatial) brain mask. ``spacing``:
    the inputs' spatial pixel spacing, if known.

    Returns the new images (same shapes; float dtype kept, integer images become float32) and
    the new label map (input dtype) or None.
    """
    from singan_augment.engine.channels import ChannelSpec

    spec = pyramid.channels
    ii = spec.image_indices
    img_spec = ChannelSpec(
        tuple(spec.names[i] for i in ii),
        ("image",) * len(ii),
        tuple(spec.low[i] for i in ii),
        tuple(spec.high[i] for i in ii),
    )
    counts = checked_counts(images)
    mapping = resolve_mapping(img_spec, counts, None, channel_map)
    x = build_layout(img_spec, images, mapping, need_values=True)
    sp = tuple(x.shape[1:])
    for what, t in (("label", label), ("brain mask", brain)):
        if t is not None and (t.shape[0] != 1 or tuple(t.shape[1:]) != sp):
            raise InputError(
                f"{what} must be (1, *spatial) with spatial shape {sp}, got {tuple(t.shape)}"
            )
    lab = (
        torch.zeros((1, *sp), dtype=torch.int64)
        if label is None
        else torch.round(plain_tensor(label).detach().to(torch.float32)).to(torch.int64)
    )
    planes = plan_planes(
        x.shape, spatial_axis, slices, params.slice_u, transpose, pyramid.spatial_dims
    )
    p_img = take_planes(x, planes)
    p_lab = take_planes(lab, planes)
    p_brain = None if brain is None else take_planes(plain_tensor(brain).detach() > 0, planes)
    out_img = p_img.clone()
    out_lab = p_lab.clone()
    for k in range(p_img.shape[0]):
        pk = (
            params
            if k == 0
            else replace(params, seed=params.seed + k, patch_seed=params.patch_seed + k)
        )
        im, lb = tumour_plane(
            pyramid,
            p_img[k].numpy(),
            p_lab[k, 0].numpy(),
            None if p_brain is None else p_brain[k, 0].numpy(),
            pk,
            spacing=plane_spacing(spacing, planes),
            **plane_kwargs,
        )
        out_img[k] = numpy_to_torch(np.ascontiguousarray(im))
        out_lab[k, 0] = numpy_to_torch(np.ascontiguousarray(lb.astype(np.int64)))
    new_x = put_planes(x, out_img, planes)
    new_lab = put_planes(lab, out_lab, planes)
    res = split_layout(new_x, images, mapping)
    out_label = None if label is None else new_lab.to(plain_tensor(label).dtype)
    return res, out_label


__all__ = [
    "TumourParams",
    "TumourPatchData",
    "bank_patch",
    "brain_mask_from",
    "make_patch",
    "paste",
    "pick_centre",
    "transform_patch",
    "tumour_named",
    "tumour_plane",
]
