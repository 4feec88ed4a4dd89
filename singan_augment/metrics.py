"""Quality figures for SinGAN samples that need no network weights.

Images are channel-first numpy arrays (C, H, W) or batches (N, C, H, W). Volumes have their
own functions (``volume_sliced_wasserstein``, ``plane_coherence``, ``volume_diversity``) on
(C, D, H, W) arrays or (N, C, D, H, W) batches, since a rank-4 array would be ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from .errors import InputError


def _batch(x: np.ndarray, what: str, spatial_dims: int = 2) -> np.ndarray:
    """``x`` as a float64 batch (N, C, *spatial) of images (``spatial_dims=2``) or volumes (3),
    a single one given without N."""
    a = np.asarray(x, np.float64)
    if a.ndim == spatial_dims + 1:
        a = a[None]
    if a.ndim != spatial_dims + 2:
        one = "(C, H, W)" if spatial_dims == 2 else "(C, D, H, W)"
        raise InputError(f"{what} must be {one} or (N, {one[1:]}, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{what} contains non-finite values")
    return a


def _patches(img: np.ndarray, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(C, H, W) -> (count, C*size*size) random patches."""
    c, h, w = img.shape
    if h < size or w < size:
        raise InputError(f"image {h}x{w} is smaller than the {size}x{size} patch")
    ys = rng.integers(0, h - size + 1, count)
    xs = rng.integers(0, w - size + 1, count)
    win = np.lib.stride_tricks.sliding_window_view(img, (size, size), axis=(1, 2))  # C,h',w',s,s
    return win[:, ys, xs].transpose(1, 0, 2, 3).reshape(count, -1)


def _down(img: np.ndarray) -> np.ndarray:
    blur = ndimage.gaussian_filter(img, sigma=(0, 1.0, 1.0), mode="reflect")
    return blur[:, ::2, ::2]


def sliced_wasserstein(
    samples: np.ndarray,
    reference: np.ndarray,
    *,
    patch_size: int = 7,
    levels: int = 3,
    n_patches: int = 4096,
    n_projections: int = 128,
    seed: int = 0,
) -> float:
    """Multi-scale sliced Wasserstein distance between patch distributions.

    At each of ``levels`` Gaussian-pyramid levels, ``n_patches`` random patches are taken from
    the samples (pooled) and from the reference, normalised per channel by the reference's
    mean/std, projected on ``n_projections`` random unit directions; the 1-D Wasserstein
    distances of the sorted projections are averaged over directions and levels.
    Identical inputs give 0.

    Raises:
        InputError: bad shapes, channel mismatch, NaN/Inf, images smaller than a patch.
    """
    s = _batch(samples, "samples")
    r = _batch(reference, "reference")[0]
    return _multiscale_swd(
        s,
        r,
        patches=lambda img, count, rng: _patches(img, patch_size, count, rng),
        fits=lambda img: min(img.shape[1:]) >= patch_size,
        down=_down,
        patch_name=f"{patch_size}x{patch_size}",
        what="images",
        levels=levels,
        n_patches=n_patches,
        n_projections=n_projections,
        seed=seed,
    )


def _multiscale_swd(
    s: np.ndarray,
    r: np.ndarray,
    *,
    patches,
    fits,
    down,
    patch_name: str,
    what: str,
    levels: int,
    n_patches: int,
    n_projections: int,
    seed: int,
) -> float:
    """The sliced Wasserstein core shared by images and volumes: ``s`` (N, C, *spatial)
    samples and ``r`` (C, *spatial) reference, already checked; ``patches(img, count, rng)``
    draws flattened patches, ``fits(img)`` says whether a patch fits, ``down(img)`` makes the
    next level."""
    if s.shape[1] != r.shape[0]:
        raise InputError(f"samples have {s.shape[1]} channels, reference has {r.shape[0]}")
    rng = np.random.default_rng(seed)
    axes = tuple(range(1, r.ndim))
    mean = r.mean(axis=axes, keepdims=True)
    std = r.std(axis=axes, keepdims=True) + 1e-8
    imgs = [(x - mean) / std for x in s]
    ref = (r - mean) / std
    dists = []
    for level in range(levels):
        if not fits(ref) or not all(fits(x) for x in imgs):
            break
        per = max(n_patches // len(imgs), 1)
        # Sample i and the reference share patch positions when their shapes agree, so an
        # identical sample gives exactly 0 rather than patch-sampling noise.
        a, b = [], []
        for i, x in enumerate(imgs):
            a.append(patches(x, per, np.random.default_rng((seed, level, i))))
            j = i if x.shape == ref.shape else 10**6 + i
            b.append(patches(ref, per, np.random.default_rng((seed, level, j))))
        a, b = np.concatenate(a), np.concatenate(b)
        dirs = rng.standard_normal((a.shape[1], n_projections))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        dists.append(float(np.mean(np.abs(pa - pb))))
        if level < levels - 1:
            imgs = [down(x) for x in imgs]
            ref = down(ref)
    if not dists:
        raise InputError(f"{what} are smaller than the {patch_name} patch")
    return float(np.mean(dists))


def diversity(samples: np.ndarray, reference: np.ndarray) -> float:
    """SinGAN's diversity: mean over pixels/channels of the per-pixel std across samples,
    divided by the reference image's std (per channel, averaged).

    Raises:
        InputError: fewer than 2 samples, shape mismatch, NaN/Inf.
    """
    s = _batch(samples, "samples")
    r = _batch(reference, "reference")[0]
    if s.shape[0] < 2:
        raise InputError("diversity needs at least 2 samples")
    if s.shape[1:] != r.shape:
        raise InputError(f"samples {s.shape[1:]} and reference {r.shape} differ in shape")
    return float(s.std(axis=0).mean() / (r.std(axis=(1, 2)).mean() + 1e-12))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two label maps, averaged over the foreground classes present in either (1.0 if none)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"label maps differ in shape: {a.shape} vs {b.shape}")
    classes = sorted(set(np.unique(a)) | set(np.unique(b)) - {0})
    if not classes:
        return 1.0
    vals = []
    for k in classes:
        x, y = a == k, b == k
        vals.append(2.0 * np.logical_and(x, y).sum() / (x.sum() + y.sum()))
    return float(np.mean(vals))


def detect_nuclei_hed(image_rgb01: np.ndarray, min_size: int = 8) -> np.ndarray:
    """A simple nuclei detector for RGB histology (3, H, W) in [0, 1]: haematoxylin by colour
    deconvolution, Gaussian smoothing, Otsu threshold, small objects removed. Returns (H, W) bool."""
    from skimage.color import rgb2hed
    from skimage.filters import threshold_otsu

    img = np.asarray(image_rgb01, np.float64)
    if img.ndim != 3 or img.shape[0] != 3:
        raise InputError(f"expected an RGB image (3, H, W), got shape {img.shape}")
    hema = rgb2hed(np.clip(np.moveaxis(img, 0, -1), 0, 1))[..., 0]
    hema = ndimage.gaussian_filter(hema, 1.0)
    if hema.max() - hema.min() < 1e-9:
        return np.zeros(hema.shape, bool)
    mask = hema > threshold_otsu(hema)
    lab, n = ndimage.label(mask)
    if n:
        sizes = np.bincount(lab.ravel())
        keep = sizes >= min_size
        keep[0] = False
        mask = keep[lab]
    return mask


def mask_consistency(
    image: np.ndarray,
    mask: np.ndarray,
    detector: Callable[[np.ndarray], np.ndarray] = detect_nuclei_hed,
) -> float:
    """Dice between ``detector(image)`` and ``mask``: how well a synthetic mask matches its image."""
    return dice(
        np.asarray(detector(image)).astype(np.uint8), (np.asarray(mask) > 0).astype(np.uint8)
    )


def seam_strength(image: np.ndarray, paste_mask: np.ndarray, *, width: int = 2) -> float:
    """Mean Sobel gradient magnitude (over channels) in a band of ``width`` px on each side of
    the paste-mask boundary, divided by the mean gradient magnitude elsewhere in the image.
    A naive paste with an intensity step scores high; a harmonized one lower.

    ``image`` is (C, H, W) or (H, W) with an (H, W) mask, or a (C, D, H, W) volume with a
    (D, H, W) mask (the gradient then has three components and the band is 3-D)."""
    img = np.asarray(image, np.float64)
    m = np.asarray(paste_mask) > 0
    if img.ndim == m.ndim:
        img = img[None]
    if img.shape[1:] != m.shape or m.ndim not in (2, 3):
        raise InputError(f"mask shape {m.shape} does not match the image's {img.shape[1:]}")
    if not m.any() or m.all():
        raise InputError("paste mask must be neither empty nor full")
    grad = np.zeros(m.shape)
    for ch in img:
        if m.ndim == 2:
            grad += np.hypot(ndimage.sobel(ch, 0), ndimage.sobel(ch, 1))
        else:
            grad += np.sqrt(sum(np.square(ndimage.sobel(ch, a)) for a in range(3)))
    band = ndimage.binary_dilation(m, iterations=width) & ~ndimage.binary_erosion(
        m, iterations=width
    )
    rest = grad[~band].mean()
    return float(grad[band].mean() / (rest + 1e-12))


def _class_contrasts(
    image: np.ndarray, lesion: np.ndarray, ring_width: int, gap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validated (K, C) signed contrasts of the lesion classes against the ring, and the
    (K,) class areas in pixels."""
    img = np.asarray(image, np.float64)
    lab = np.asarray(lesion)
    if img.ndim == lab.ndim:
        img = img[None]
    if lab.dtype.kind not in "biu":
        raise InputError(f"lesion must be a boolean or integer label map, got dtype {lab.dtype}")
    if lab.ndim not in (2, 3) or img.shape[1:] != lab.shape:
        raise InputError(f"lesion shape {lab.shape} does not match the image's {img.shape[1:]}")
    if not np.all(np.isfinite(img)):
        raise InputError("image contains non-finite values")
    if ring_width < 1 or gap < 0:
        raise InputError(f"need ring_width >= 1 and gap >= 0, got {ring_width}, {gap}")
    lab = lab.astype(np.int64)
    obj = lab > 0
    if not obj.any():
        raise InputError("lesion mask is empty")
    inner = ndimage.binary_dilation(obj, iterations=gap) if gap else obj
    ring = ndimage.binary_dilation(inner, iterations=ring_width) & ~inner
    if not ring.any():
        raise InputError("the lesion fills the image: no ring around it")
    ring_mean = img[:, ring].mean(axis=1)
    classes = [k for k in np.unique(lab) if k > 0]
    contrasts = np.stack([img[:, lab == k].mean(axis=1) - ring_mean for k in classes])
    areas = np.array([(lab == k).sum() for k in classes], np.float64)
    return contrasts, areas


def _weighted_abs(contrasts: np.ndarray, areas: np.ndarray) -> np.ndarray:
    return (areas[:, None] * np.abs(contrasts)).sum(axis=0) / areas.sum()


def lesion_contrasts(
    image: np.ndarray, lesion: np.ndarray, *, ring_width: int = 3, gap: int = 1
) -> np.ndarray:
    """Signed contrast of each lesion class against a ring around the lesion.

    Args:
        image: (C, H, W) or (H, W); or a (C, D, H, W) volume (the ring is then a 3-D shell).
        lesion: (H, W) ((D, H, W)) boolean mask (one class) or integer label map (0 = outside).
        ring_width: ring thickness in px; gap: px between the lesion and the ring.
    Returns:
        (K, C) float64: mean of class k minus the ring's mean, per channel, in image units.
    Raises:
        InputError: shapes disagree, an empty lesion, no room for a ring, NaN/Inf.
    """
    return _class_contrasts(image, lesion, ring_width, gap)[0]


def lesion_conspicuity(
    image: np.ndarray, lesion: np.ndarray, *, ring_width: int = 3, gap: int = 1
) -> np.ndarray:
    """Per-channel lesion conspicuity: the area-weighted mean over lesion classes of
    ``|mean(class) - mean(ring)|`` (see ``lesion_contrasts``), so that a dark core and a bright
    oedema do not cancel. (C,) float64 in image units; 0 means the lesion is invisible."""
    return _weighted_abs(*_class_contrasts(image, lesion, ring_width, gap))


@dataclass(frozen=True)
class LesionFidelity:
    """How much of a pasted lesion survives harmonization.

    ``retention``: (C,) conspicuity after / conspicuity of the naive paste per channel (NaN
    where the paste has no contrast); ``mean_retention`` over the finite channels;
    ``sign_agreement``: fraction of (class, channel) contrasts that keep their sign.
    """

    retention: tuple[float, ...]
    mean_retention: float
    sign_agreement: float

    def to_dict(self) -> dict:
        return asdict(self)


def lesion_fidelity(
    harmonized: np.ndarray,
    naive: np.ndarray,
    lesion: np.ndarray,
    *,
    ring_width: int = 3,
    gap: int = 1,
    min_contrast: float = 1e-3,
) -> LesionFidelity:
    """Compare the lesion in a harmonized image with the naive paste it came from.

    Channels whose naive conspicuity is below ``min_contrast`` get NaN retention and are left
    out of the mean; contrasts below it are left out of the sign agreement.
    """
    h, n = np.asarray(harmonized), np.asarray(naive)
    if h.shape != n.shape:
        raise InputError(f"harmonized {h.shape} and naive {n.shape} shapes differ")
    sh, areas = _class_contrasts(h, lesion, ring_width, gap)
    sn, _ = _class_contrasts(n, lesion, ring_width, gap)
    ch, cn = _weighted_abs(sh, areas), _weighted_abs(sn, areas)
    ret = np.where(cn >= min_contrast, ch / np.maximum(cn, min_contrast), np.nan)
    counted = np.abs(sn) >= min_contrast
    agree = (np.sign(sh) == np.sign(sn)) & counted
    finite = ret[np.isfinite(ret)]
    return LesionFidelity(
        retention=tuple(float(v) for v in ret),
        mean_retention=float(finite.mean()) if finite.size else float("nan"),
        sign_agreement=float(agree.sum() / counted.sum()) if counted.any() else float("nan"),
    )


@dataclass(frozen=True)
class QualityReport:
    swd: float
    diversity: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def summarise(samples: np.ndarray, reference: np.ndarray, seed: int = 0) -> QualityReport:
    """SWD and diversity of a batch of samples against the training image."""
    return QualityReport(
        sliced_wasserstein(samples, reference, seed=seed), diversity(samples, reference)
    )


# --- volumes ---------------------------------------------------------------------------------

PLANES = ("axial", "coronal", "sagittal")
"""Patch orientations of a (D, H, W) volume: axial patches lie in (H, W) (one slice of D),
coronal in (D, W), sagittal in (D, H)."""


def _patch_shape(plane: str | None, size: int) -> tuple[int, int, int]:
    if plane is None:
        return (size, size, size)
    if plane not in PLANES:
        raise InputError(f"plane must be one of {PLANES} or None (cubes), got {plane!r}")
    shape = [size, size, size]
    shape[PLANES.index(plane)] = 1
    return tuple(shape)


def _volume_patches(
    vol: np.ndarray, shape: tuple[int, int, int], count: int, rng: np.random.Generator
) -> np.ndarray:
    """(C, D, H, W) -> (count, C * prod(shape)) random patches of ``shape``."""
    starts = [rng.integers(0, n - s + 1, count) for n, s in zip(vol.shape[1:], shape)]
    win = np.lib.stride_tricks.sliding_window_view(vol, shape, axis=(1, 2, 3))
    return win[:, starts[0], starts[1], starts[2]].transpose(1, 0, 2, 3, 4).reshape(count, -1)


def _volume_down(vol: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Blur and halve the axes the patches extend along (all three for cubes, the two in-plane
    axes for flat patches, so that a plane's levels never mix neighbouring slices)."""
    along = [p > 1 for p in shape]
    blur = ndimage.gaussian_filter(
        vol, sigma=(0, *(1.0 if a else 0.0 for a in along)), mode="reflect"
    )
    return blur[(slice(None), *(slice(None, None, 2 if a else 1) for a in along))]


def volume_sliced_wasserstein(
    samples: np.ndarray,
    reference: np.ndarray,
    *,
    plane: str | None = None,
    patch_size: int = 7,
    levels: int = 3,
    n_patches: int = 4096,
    n_projections: int = 128,
    seed: int = 0,
) -> float:
    """``sliced_wasserstein`` for volumes: multi-scale SWD of the patches of (N, C, D, H, W)
    samples against a (C, D, H, W) reference.

    ``plane`` chooses the patches: ``None`` for ``patch_size``^3 cubes, or ``"axial"``,
    ``"coronal"``, ``"sagittal"`` for flat ``patch_size``^2 patches in that plane (see
    ``PLANES``). Each level blurs and halves the axes the patches extend along (a flat
    patch's levels stay within their slices). Identical inputs give 0.

    Raises:
        InputError: bad shapes, channel mismatch, NaN/Inf, a volume smaller than a patch.
    """
    s = _batch(samples, "samples", 3)
    r = _batch(reference, "reference", 3)[0]
    shape = _patch_shape(plane, patch_size)
    return _multiscale_swd(
        s,
        r,
        patches=lambda vol, count, rng: _volume_patches(vol, shape, count, rng),
        fits=lambda vol: all(n >= p for n, p in zip(vol.shape[1:], shape)),
        down=lambda vol: _volume_down(vol, shape),
        patch_name="x".join(map(str, shape)),
        what="volumes",
        levels=levels,
        n_patches=n_patches,
        n_projections=n_projections,
        seed=seed,
    )


@dataclass(frozen=True)
class PlaneCoherence:
    """Patch SWD of volume samples in each plane, and the through-plane ratio.

    ``ratio`` = max(coronal, sagittal) / axial: how much worse the samples look across the
    slices (D) than within them. A stack of independently drawn 2-D slices looks right in the
    axial plane and wrong across it (a large ratio); a coherent 3-D sample keeps it near 1.
    NaN when the axial SWD is 0 (samples identical to the reference)."""

    axial: float
    coronal: float
    sagittal: float
    ratio: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def plane_coherence(samples: np.ndarray, reference: np.ndarray, **kwargs) -> PlaneCoherence:
    """``volume_sliced_wasserstein`` in the axial, coronal and sagittal planes (keyword
    arguments are passed on) and their through-plane ratio."""
    d = {p: volume_sliced_wasserstein(samples, reference, plane=p, **kwargs) for p in PLANES}
    worst = max(d["coronal"], d["sagittal"])
    ratio = worst / d["axial"] if d["axial"] > 0 else float("nan")
    return PlaneCoherence(d["axial"], d["coronal"], d["sagittal"], float(ratio))


def volume_diversity(samples: np.ndarray, reference: np.ndarray) -> float:
    """``diversity`` for volumes: (N >= 2, C, D, H, W) samples, (C, D, H, W) reference.

    Raises:
        InputError: fewer than 2 samples, shape mismatch, NaN/Inf.
    """
    s = _batch(samples, "samples", 3)
    r = _batch(reference, "reference", 3)[0]
    if s.shape[0] < 2:
        raise InputError("diversity needs at least 2 samples")
    if s.shape[1:] != r.shape:
        raise InputError(f"samples {s.shape[1:]} and reference {r.shape} differ in shape")
    return float(s.std(axis=0).mean() / (r.std(axis=(1, 2, 3)).mean() + 1e-12))
