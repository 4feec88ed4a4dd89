"""Loaders for the small real images shipped in ``singan_augment/data`` (no download needed).

Every image comes back channel-first ``float32``; masks and label maps come back as integer
arrays. Sources, licences and how each file was derived: ``singan_augment/data/README.md``;
the derivation itself: ``scripts/make_shipped_data.py``.

=====================  =========================================================  ==========
name                   what                                                       labels
=====================  =========================================================  ==========
``mni152``             12 axial slices of the real MNI152 2009a T1 template, its  tissue
                       GM/WM maps, derived CSF/brain mask, and T2w/FLAIR          (argmax)
                       **simulated** from the tissue maps (1.5 T, BrainWeb-style)
``mni152_volume``      the whole brain, 54x64x52 voxels of ~2.9 mm: real T1,      tissue
                       simulated T2w/FLAIR (from the downsampled tissue maps)     (argmax)
``histology_he``       real H&E tile (300x500, TCIA via stardist)                 DERIVED
``histology_ihc``      real IHC/DAB tile (512x512, scikit-image)                  DERIVED
``fluorescence``       real DSB 2018 fluorescence nuclei (512x512)                REAL (GT)
=====================  =========================================================  ==========

Ranges: all images are in ``[0, 1]``. MNI T1 is the template's 0-255 value / 255. Simulated
T2w/FLAIR are the simulated magnitude signal divided by 1.1x the brightest pure-tissue signal of
that contrast (so pure CSF on T2w is ~0.91). Tissue probabilities are in ``[0, 1]`` and sum to 1
inside the brain mask. Histology RGB is uint8/255; the fluorescence image is uint8/255.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from singan_augment.errors import InputError

__all__ = [
    "BRAIN_SPACING_MM",
    "MNISlices",
    "MULTICONTRAST_CHANNELS",
    "available",
    "brain_multicontrast",
    "brain_volume",
    "fluorescence_nuclei",
    "histology",
    "mni_slices",
    "nuclei_metrics",
]

MULTICONTRAST_CHANNELS = ("t1", "t2w_sim", "flair_sim")
HISTOLOGY_NAMES = ("he", "ihc")
TISSUE_LABELS = {0: "background", 1: "CSF", 2: "GM", 3: "WM"}
_DATASETS = {
    "mni152": "real MNI152 T1 + tissue maps; T2w/FLAIR simulated (axial slices)",
    "mni152_volume": "the same brain as one 54x64x52 volume (~2.9 mm); T2w/FLAIR simulated",
    "histology_he": "real H&E tile; nuclei masks derived (not ground truth)",
    "histology_ihc": "real IHC tile; nuclei masks derived (not ground truth)",
    "fluorescence": "real DSB 2018 fluorescence nuclei with ground-truth instance labels",
}


def available() -> dict[str, str]:
    """Names of the shipped datasets, each with a one-line description."""
    return dict(_DATASETS)


def _data_file(name: str):
    return resources.files("singan_augment.data").joinpath(name)


@cache
def _npz(name: str) -> dict[str, np.ndarray]:
    with _data_file(name).open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _png(name: str) -> np.ndarray:
    from PIL import Image

    with _data_file(name).open("rb") as fh, Image.open(fh) as im:
        return np.asarray(im.convert("RGB"))


def _unit(a: np.ndarray) -> np.ndarray:
    return (a.astype(np.float32) / np.float32(255.0)).astype(np.float32)


@dataclass(frozen=True)
class MNISlices:
    """Axial MNI152 slices, each array ``(S, H, W)``; rows anterior->posterior, columns patient
    left->right (neurological convention).

    ``t1`` real template, ``t2w_sim``/``flair_sim`` SIMULATED, all float32 in [0, 1];
    ``gm``/``wm``/``csf`` tissue probabilities float32 in [0, 1]; ``brain_mask`` uint8 {0, 1};
    ``tissue_labels`` uint8 (0 bg, 1 CSF, 2 GM, 3 WM); ``z_index`` voxel index in the 197x233x189
    volume, ``z_mm`` the MNI z coordinate; ``metadata`` the simulation parameters.
    """

    t1: np.ndarray
    t2w_sim: np.ndarray
    flair_sim: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain_mask: np.ndarray
    tissue_labels: np.ndarray
    z_index: np.ndarray
    z_mm: np.ndarray
    metadata: dict

    @property
    def n_slices(self) -> int:
        return int(self.t1.shape[0])


def mni_slices() -> MNISlices:
    """All shipped MNI152 slices (real T1, tissue maps, simulated T2w/FLAIR). Fresh copies."""
    real = _npz("mni152_real_t1_tissue.npz")
    sim = _npz("mni152_simulated_t2w_flair.npz")
    meta = json.loads(_data_file("mni152_slices.json").read_text())
    z = real["z_index"].astype(np.int64)
    return MNISlices(
        t1=_unit(real["t1"]),
        t2w_sim=_unit(sim["t2w_sim"]),
        flair_sim=_unit(sim["flair_sim"]),
        gm=_unit(real["gm"]),
        wm=_unit(real["wm"]),
        csf=_unit(real["csf"]),
        brain_mask=real["brain_mask"].astype(np.uint8),
        tissue_labels=real["tissue_labels"].astype(np.uint8),
        z_index=z,
        z_mm=(z - 72).astype(np.float32),
        metadata=meta,
    )


def _n_mni() -> int:
    return int(_npz("mni152_real_t1_tissue.npz")["z_index"].shape[0])


BRAIN_SPACING_MM = (1.0, 1.0)
"""Pixel spacing (row, col) of :func:`brain_multicontrast` slices: the MNI template's 1 mm grid."""


def brain_multicontrast(slice_index: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """One axial slice as ``(3, H, W)`` float32 in [0, 1], channels :data:`MULTICONTRAST_CHANNELS`
    = real T1, simulated T2w, simulated FLAIR; and its brain mask ``(H, W)`` uint8.

    The default slice (index 4, MNI z = +16 mm) shows the lateral ventricles.
    """
    n = _n_mni()
    if isinstance(slice_index, bool) or not isinstance(slice_index, (int, np.integer)):
        raise InputError(f"slice_index must be an int in [0, {n - 1}], got {slice_index!r}")
    if not -n <= int(slice_index) < n:
        raise InputError(f"slice_index {slice_index} out of range: valid are 0..{n - 1}")
    real = _npz("mni152_real_t1_tissue.npz")
    sim = _npz("mni152_simulated_t2w_flair.npz")
    i = int(slice_index)
    img = np.stack([_unit(real["t1"][i]), _unit(sim["t2w_sim"][i]), _unit(sim["flair_sim"][i])])
    return img, real["brain_mask"][i].astype(np.uint8)


def brain_volume() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """The whole MNI152 brain as one small volume: ``(3, D, H, W)`` float32 in [0, 1] with
    channels :data:`MULTICONTRAST_CHANNELS` (real T1, simulated T2w, simulated FLAIR), its
    tissue labels ``(D, H, W)`` uint8 (0 background, 1 CSF, 2 GM, 3 WM), and the voxel
    spacing in mm (slice, row, col).

    Axes: D = axial slices inferior -> superior, then rows anterior -> posterior and columns
    patient left -> right, so ``image[:, k]`` is shown like the 2-D slices. Cropped to the
    brain and downsampled (antialiased) to a longest side of 64 voxels (about 2.9 mm); see
    ``mni152_volume.json``.
    """
    v = _npz("mni152_volume.npz")
    img = np.stack([_unit(v["t1"]), _unit(v["t2w_sim"]), _unit(v["flair_sim"])])
    spacing = tuple(float(x) for x in v["spacing_mm"])
    return img, v["tissue_labels"].astype(np.uint8), spacing  # type: ignore[return-value]


def histology(name: str = "he") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A real histology tile and its DERIVED nuclei (colour deconvolution + Otsu + watershed).

    Returns ``image`` (3, H, W) float32 in [0, 1], ``nuclei_mask`` (H, W) uint8 {0, 1} and
    ``instance_labels`` (H, W) int32 (0 background, 1..N nuclei). ``name`` is ``"he"``
    (300x500 H&E) or ``"ihc"`` (512x512 DAB + haematoxylin). The masks are not ground truth.
    """
    if name not in HISTOLOGY_NAMES:
        raise InputError(f"unknown histology image {name!r}; valid: {', '.join(HISTOLOGY_NAMES)}")
    rgb = _png(f"histology_{name}.png")
    d = _npz(f"histology_{name}_nuclei_derived.npz")
    image = np.ascontiguousarray(_unit(rgb).transpose(2, 0, 1))
    return (
        image,
        d["nuclei_mask_derived"].astype(np.uint8),
        d["nuclei_labels_derived"].astype(np.int32),
    )


def fluorescence_nuclei(derived: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The DSB 2018 fluorescence image ``(1, H, W)`` float32 in [0, 1] and its REAL ground-truth
    instance labels ``(H, W)`` int32 (0 background, 125 nuclei).

    With ``derived=True`` the labels are instead those of the shipped smoothing + Otsu +
    watershed pipeline (for comparing against the ground truth).
    """
    d = _npz("fluorescence_nuclei_dsb2018.npz")
    labels = d["labels_derived"] if derived else d["labels_ground_truth"]
    return _unit(d["image"])[None], labels.astype(np.int32)


def _sequential(lab: np.ndarray) -> np.ndarray:
    """Map labels to 0..K with 0 kept as background (ids need not be contiguous)."""
    ids = np.union1d([0], lab)
    return np.searchsorted(ids, lab)


def nuclei_metrics(
    gt_labels: np.ndarray, pred_labels: np.ndarray, iou_threshold: float = 0.5
) -> dict[str, float]:
    """Instance F1 at an IoU threshold (>= 0.5 makes matches unique) and pixel Dice.

    Returns ``{"f1", "precision", "recall", "dice", "tp", "n_gt", "n_pred", "iou_threshold"}``.
    """
    if iou_threshold < 0.5:
        raise InputError("iou_threshold must be >= 0.5 so that matches are unique")
    gt = np.asarray(gt_labels).astype(np.int64).ravel()
    pr = np.asarray(pred_labels).astype(np.int64).ravel()
    if gt.shape != pr.shape:
        raise InputError(f"shape mismatch: {np.shape(gt_labels)} vs {np.shape(pred_labels)}")
    gt, pr = _sequential(gt), _sequential(pr)
    ng, npd = int(gt.max()) + 1, int(pr.max()) + 1
    inter = np.bincount(gt * npd + pr, minlength=ng * npd).reshape(ng, npd)
    area_g, area_p = inter.sum(1), inter.sum(0)
    inter = inter[1:, 1:]
    union = area_g[1:, None] + area_p[None, 1:] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    tp = int((iou > iou_threshold).sum())
    n_gt, n_pred = ng - 1, npd - 1
    prec = tp / n_pred if n_pred else 0.0
    rec = tp / n_gt if n_gt else 0.0
    f1 = 2 * tp / (n_gt + n_pred) if (n_gt + n_pred) else 1.0
    a, b = gt > 0, pr > 0
    denom = a.sum() + b.sum()
    dice = 2.0 * (a & b).sum() / denom if denom else 1.0
    return {
        "f1": float(f1),
        "precision": float(prec),
        "recall": float(rec),
        "dice": float(dice),
        "tp": tp,
        "n_gt": n_gt,
        "n_pred": n_pred,
        "iou_threshold": float(iou_threshold),
    }
