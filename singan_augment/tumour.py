"""Procedural brain-tumour patches for the tumour-insertion use case (numpy/scipy only).

No real tumour images ship with any package reachable offline, so the insertion demo uses
synthetic glioma-like lesions: an irregular **necrotic core** inside an **enhancing rim** inside
a region of **oedema**, each with smooth random texture. They are not meant to be realistic
enough to train a tumour segmenter on; they give SinGAN harmonisation a plausible, labelled
object to blend in.

Shape
    Each region is a perturbed disc: a radius ``R(theta) = R0 (1 + sum_k a_k cos(k theta +
    phi_k))`` over harmonics k = 2..5 (random amplitudes, decaying with k) plus a smoothed
    random field added to the normalised distance, so boundaries are lobulated and not exactly
    star-shaped. Nesting is enforced: the rim-filled region lies inside the oedema eroded by
    2 px, and the core inside the rim-filled region eroded by 2 px (so rim and oedema rings are
    >= 2 px thick; 1 px for patches under 32 px).

Intensities (channel values in [0, 1], on the scale of :func:`singan_augment.data.
brain_multicontrast`, whose white matter is about T1 0.85, T2w 0.29, FLAIR 0.78, grey matter
about 0.65 / 0.41 / 0.89, CSF about 0.26 / 0.90 / 0.02). Mean levels, before texture:

=========  =====================  =========================  ==========================
contrast   necrotic core (1)      enhancing rim (2)          oedema (3)
=========  =====================  =========================  ==========================
t1         0.30 dark (fluid-like)  0.62 brighter than core    0.55 hypo vs white matter
t2w        0.85 bright (fluid)     0.52 intermediate          0.70 bright
flair      0.45 darker than oedema 0.80                       0.97 brightest
=========  =====================  =========================  ==========================

This follows the usual radiological description of a high-grade glioma on non-contrast T1 and
on T2w/FLAIR: vasogenic oedema is T2/FLAIR hyperintense and T1 hypointense; necrosis is
fluid-like (T1 dark, T2 bright, only partly suppressed on FLAIR); the viable enhancing rim is
intermediate on T2 and slightly brighter than necrosis on T1 (without gadolinium it does not
enhance; ``t1`` here is a non-contrast T1w like the shipped MNI template). Outside the lesion
the patch holds normal white matter (``BACKGROUND``) so that a patch can be pasted as a whole;
use ``mask`` to paste only the lesion. Texture is multiplicative smoothed Gaussian noise (about
6-10 % per region); region edges are softened with a 0.8 px Gaussian.

Other contrasts (``unknown_contrasts="random"``, used by the transforms, whose channel names
are the user's): a contrast-enhanced T1 (``t1c``, alias ``t1ce``) gets the ``t1`` levels with a
bright enhancing rim (0.95, above white matter); any other name gets random (background, core,
rim, oedema) levels, uniform in [0.1, 0.95], drawn from the seed and the name. The lesion's
shape, label and texture do not depend on this option.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .errors import InputError

__all__ = ["BACKGROUND", "CONTRASTS", "LABELS", "TumourPatch", "make_tumour", "paste_tumour"]

LABELS = {0: "outside", 1: "necrotic core", 2: "enhancing rim", 3: "oedema"}

# contrast -> (background white matter, core, rim, oedema)
_LEVELS = {
    "t1": (0.85, 0.30, 0.62, 0.55),
    "t2w": (0.29, 0.85, 0.52, 0.70),
    "flair": (0.78, 0.45, 0.80, 0.97),
}
# contrasts known only with unknown_contrasts="random": contrast-enhanced T1 (bright rim)
_EXTRA_LEVELS = {"t1c": (0.85, 0.30, 0.95, 0.55)}
_EXTRA_ALIASES = {"t1ce": "t1c"}
_UNKNOWN_CONTRASTS = ("raise", "random")
_TEXTURE = (0.04, 0.10, 0.08, 0.06)  # relative texture amplitude: bg, core, rim, oedema
_ALIASES = {"t2": "t2w", "t2w_sim": "t2w", "flair_sim": "flair", "t1w": "t1"}
CONTRASTS = tuple(_LEVELS)
BACKGROUND = {k: v[0] for k, v in _LEVELS.items()}


@dataclass(frozen=True)
class TumourPatch:
    """A synthetic lesion: ``image`` (C, size, size) float32 in [0, 1] (channels ``contrasts``),
    ``label`` (size, size) uint8 (0 outside, 1 necrotic core, 2 enhancing rim, 3 oedema) and
    ``mask`` (size, size) bool = ``label > 0``. A 3-D lesion (``make_tumour(...,
    spatial_dims=3)``) has (C, size, size, size) and (size, size, size)."""

    image: np.ndarray
    label: np.ndarray
    mask: np.ndarray
    contrasts: tuple[str, ...]
    seed: int


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Unit-variance Gaussian noise low-passed by a Gaussian of ``sigma`` px."""
    n = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return n / (n.std() + 1e-12)


def _blob(rng, grid, centre, wobble, field_amp, field_sigma):
    """Irregular disc generator: radius with harmonics 2..5 plus a smoothed random distance
    field. The random draws happen once; the returned function maps a base radius to a mask."""
    (yy, xx), (cy, cx) = grid, centre
    theta = np.arctan2(yy - cy, xx - cx)
    r = np.hypot(yy - cy, xx - cx)
    rad = np.ones_like(r)
    for k in range(2, 6):
        a = wobble * rng.uniform(0.3, 1.0) / (k - 1)
        rad += a * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    rad = np.maximum(rad, 0.5)
    field = field_amp * _smooth_noise(rng, r.shape, field_sigma)
    return lambda r0: (r / (r0 * rad) + field) < 1.0


def _ball(rng, grid, centre, wobble, field_amp, field_sigma):
    """Irregular ball generator, the 3-D ``_blob``: the radius is modulated by lobes of orders
    2..5 around random axes (cosines of the angle to each axis) plus a smoothed random distance
    field. The random draws happen once; the returned function maps a base radius to a mask."""
    d = [g - c for g, c in zip(grid, centre)]
    r = np.sqrt(sum(x * x for x in d))
    unit = [x / np.maximum(r, 1e-9) for x in d]
    rad = np.ones_like(r)
    for k in range(2, 6):
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        angle = np.arccos(np.clip(sum(u * a for u, a in zip(unit, axis)), -1.0, 1.0))
        a = wobble * rng.uniform(0.3, 1.0) / (k - 1)
        rad += a * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
    rad = np.maximum(rad, 0.5)
    field = field_amp * _smooth_noise(rng, r.shape, field_sigma)
    return lambda r0: (r / (r0 * rad) + field) < 1.0


def _resolve(contrasts, unknown: str) -> tuple[str, ...]:
    """Canonical (lower-case, de-aliased) contrast names; unknown ones raise unless
    ``unknown == "random"``."""
    if isinstance(contrasts, str):
        contrasts = (contrasts,)
    out = []
    for c in contrasts:
        key = str(c).lower()
        key = _ALIASES.get(key, key)
        if key not in _LEVELS:
            if unknown != "random":
                raise InputError(f"unknown contrast {c!r}; valid: {', '.join(CONTRASTS)}")
            key = _EXTRA_ALIASES.get(key, key)
        out.append(key)
    if not out:
        raise InputError(f"contrasts must name at least one of {', '.join(CONTRASTS)}")
    return tuple(out)


def _levels(name: str, seed: int) -> tuple[float, ...]:
    """(background, core, rim, oedema) mean levels of one canonical contrast name: tabled, or
    uniform in [0.1, 0.95] from a stream of its own (seed and name, not the shape's stream)."""
    if name in _LEVELS:
        return _LEVELS[name]
    if name in _EXTRA_LEVELS:
        return _EXTRA_LEVELS[name]
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
    return tuple(float(v) for v in rng.uniform(0.1, 0.95, 4))


def make_tumour(
    seed: int,
    size: int = 48,
    contrasts: tuple[str, ...] = ("t1", "t2w", "flair"),
    *,
    unknown_contrasts: str = "raise",
    spatial_dims: int = 2,
) -> TumourPatch:
    """Make one synthetic tumour patch, deterministic in ``seed``; with ``spatial_dims=3`` a
    3-D lesion (a size^3 patch of nested irregular balls: core, rim, oedema).

    ``size`` >= 16 is the patch side in pixels (the lesion's oedema spans about 55-85 % of it
    and stays 2 px clear of the border). ``contrasts`` picks and orders the channels among
    ``"t1"``, ``"t2w"``, ``"flair"`` (aliases ``"t2"``, ``"t2w_sim"``, ``"flair_sim"``,
    ``"t1w"``). ``unknown_contrasts``: ``"raise"`` (default) refuses any other name;
    ``"random"`` accepts it: ``"t1c"``/``"t1ce"`` get contrast-enhanced T1 levels, other names
    random levels drawn from ``seed`` and the name (see the module docstring). The label,
    mask and texture never depend on the contrasts.

    Returns:
        A :class:`TumourPatch`: image (C, size, size) float32 in [0, 1], label and mask
        (size, size); (C, size, size, size) and (size, size, size) in 3-D.

    Raises:
        InputError: a negative or non-int seed, a size < 16, an empty or (with ``"raise"``)
        unknown contrast list, or an ``unknown_contrasts`` other than "raise"/"random".
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative int, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise InputError(f"size must be an int >= 16, got {size!r}")
    if unknown_contrasts not in _UNKNOWN_CONTRASTS:
        raise InputError(
            f"unknown_contrasts must be one of {_UNKNOWN_CONTRASTS}, got {unknown_contrasts!r}"
        )
    if spatial_dims not in (2, 3) or isinstance(spatial_dims, bool):
        raise InputError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    names = _resolve(contrasts, unknown_contrasts)
    size = int(size)
    rng = np.random.default_rng(int(seed))
    return _patch(rng, _lesion_labels(rng, size, seed, spatial_dims), names, seed)


def _lesion_labels(rng: np.random.Generator, size: int, seed: int, nd: int) -> np.ndarray:
    """The lesion's (size,)*nd labels: irregular discs (``_blob``) or balls (``_ball``) for
    oedema, rim-filled tumour and core, nested and kept clear of the border."""
    grid = np.mgrid[(slice(0, size),) * nd].astype(np.float64)
    half = (size - 1) / 2.0
    centre = half + rng.uniform(-0.04, 0.04, size=nd) * size
    s = size / 48.0  # sizes below are tuned at 48 px and scale with the patch
    shape_at = _blob if nd == 2 else _ball

    border = np.zeros((size,) * nd, bool)
    border[(slice(2, -2),) * nd] = True
    conn = ndi.generate_binary_structure(nd, 1)

    # oedema: the largest, most irregular region; shrunk until it is 2 px clear of the border
    r_oed = size * rng.uniform(0.29, 0.38)
    oedema_at = shape_at(rng, grid, centre, 0.28, 0.10, 3.0 * s)
    oedema = oedema_at(r_oed)
    while (oedema & ~border).any():
        r_oed *= 0.95
        oedema = oedema_at(r_oed)
    # tumour (rim-filled) and core, offset a little from the oedema centre
    tumour_centre = [c + rng.normal(0, 1.2 * s) for c in centre]
    r_tum = r_oed * rng.uniform(0.50, 0.66)
    tumour = shape_at(rng, grid, tumour_centre, 0.22, 0.07, 2.5 * s)(r_tum)
    r_core = r_tum * rng.uniform(0.45, 0.65)
    core = shape_at(rng, grid, tumour_centre, 0.20, 0.06, 2.0 * s)(r_core)

    # fill holes, keep the largest piece, enforce nesting (rim and oedema margins >= 2 px)
    m = 2 if size >= 32 else 1
    oedema = ndi.binary_fill_holes(_largest(oedema & border))
    tumour = ndi.binary_fill_holes(_largest(tumour & ndi.binary_erosion(oedema, conn, m)))
    core = ndi.binary_fill_holes(_largest(core & ndi.binary_erosion(tumour, conn, m)))
    if not core.any():  # tiny tumour: fall back to its single deepest pixel
        dist = ndi.distance_transform_edt(tumour)
        core = np.zeros_like(tumour)
        core[np.unravel_index(np.argmax(dist), dist.shape)] = True
    if not tumour.any() or not core.any():  # pragma: no cover - guarded by the radii above
        raise RuntimeError(f"degenerate tumour for seed {seed}")

    label = np.zeros((size,) * nd, np.uint8)
    label[oedema] = 3
    label[tumour] = 2
    label[core] = 1
    return label


def _patch(rng: np.random.Generator, label: np.ndarray, names, seed: int) -> TumourPatch:
    """Intensities of each region (levels, smooth texture, softened edges) for ``label``."""
    s = label.shape[0] / 48.0
    image = np.empty((len(names), *label.shape), np.float32)
    region = [label == k for k in range(4)]
    tex_sigma = (3.0 * s, 1.5 * s, 1.2 * s, 2.0 * s)
    textures = [_smooth_noise(rng, label.shape, sg) for sg in tex_sigma]
    for c, name in enumerate(names):
        levels = _levels(name, seed)
        chan = np.zeros(label.shape)
        for k in range(4):
            chan[region[k]] = levels[k] * (1.0 + _TEXTURE[k] * textures[k][region[k]])
        chan = ndi.gaussian_filter(chan, 0.8)
        image[c] = np.clip(chan, 0.0, 1.0)
    return TumourPatch(image=image, label=label, mask=label > 0, contrasts=names, seed=int(seed))


def _largest(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n <= 1:
        return mask
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == counts.argmax()


def paste_tumour(
    host: np.ndarray, patch: TumourPatch, centre: tuple[int, int], within: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naively paste the lesion pixels of ``patch`` into ``host``, centred at ``centre``.

    Args:
        host: (C, H, W) image on the scale of the patch's levels ([0, 1], channels in the
            patch's contrast order); (C, D, H, W) for a 3-D patch.
        centre: (row, col) of the patch centre ((slice, row, col) in 3-D); the patch is
            cropped at the image border.
        within: optional (H, W) (or (D, H, W)) mask (e.g. the brain); lesion pixels outside
            it are dropped.
    Returns:
        (composite of the host's shape, float32; label uint8 with the patch's classes; paste
        mask bool), the last two of the host's spatial shape.
    Raises:
        InputError: channel or shape mismatch, or no lesion pixel lands inside the image/mask.
    """
    img = np.asarray(host, np.float32)
    nd = patch.label.ndim
    axes = "(C, H, W)" if nd == 2 else "(C, D, H, W)"
    if img.ndim != nd + 1 or img.shape[0] != patch.image.shape[0]:
        raise InputError(
            f"host must be {axes} with C = {patch.image.shape[0]} (the patch's contrasts "
            f"{patch.contrasts}), got shape {img.shape}"
        )
    if len(centre) != nd:
        raise InputError(f"centre must have {nd} coordinates, got {tuple(centre)}")
    spatial = img.shape[1:]
    size = patch.label.shape[0]
    lo = [int(c) - size // 2 for c in centre]
    dst = tuple(slice(max(a, 0), min(a + size, n)) for a, n in zip(lo, spatial))
    src = tuple(slice(d.start - a, d.stop - a) for d, a in zip(dst, lo))
    inside = all(d.start < d.stop for d in dst)
    label = np.zeros(spatial, np.uint8)
    if inside:
        label[dst] = patch.label[src]
    if within is not None:
        within = np.asarray(within, bool)
        if within.shape != spatial:
            raise InputError(f"within mask shape {within.shape} differs from the host's {spatial}")
        label[~within] = 0
    mask = label > 0
    if not mask.any():
        raise InputError(f"no lesion pixel lands inside the image at centre {tuple(centre)}")
    comp = img.copy()
    full = np.zeros_like(img)
    if inside:
        full[(slice(None), *dst)] = patch.image[(slice(None), *src)]
    comp[:, mask] = full[:, mask]
    return comp, label, mask
