"""Shipped real data: loaders, ranges, simulated-contrast physics, derived-mask quality."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from singan_augment import data as D
from singan_augment.testing import load_script

REPO = Path(__file__).resolve().parents[2]


def test_available_lists_all_loaders():
    names = D.available()
    assert set(names) == {
        "mni152",
        "mni152_volume",
        "histology_he",
        "histology_ihc",
        "fluorescence",
    }
    assert all(isinstance(v, str) and v for v in names.values())


def test_data_folder_small_and_no_pickles():
    root = resources.files("singan_augment.data")
    files = [p for p in Path(str(root)).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 6_000_000
    for p in files:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                for k in z.files:
                    assert z[k].dtype != object
    lic = {p.name for p in (Path(str(root)) / "LICENSES").iterdir()}
    assert {"MNI-ICBM152-2009-NOTICE.txt", "stardist-LICENSE.txt"} <= lic


def test_mni_slices_shapes_dtypes_ranges():
    m = D.mni_slices()
    s, h, w = m.t1.shape
    assert s == m.n_slices == 12 and h > 100 and w > 100
    for name in ("t1", "t2w_sim", "flair_sim", "gm", "wm", "csf"):
        a = getattr(m, name)
        assert a.shape == (s, h, w) and a.dtype == np.float32, name
        assert a.min() >= 0.0 and a.max() <= 1.0, name
    assert m.brain_mask.dtype == np.uint8 and set(np.unique(m.brain_mask)) == {0, 1}
    assert set(np.unique(m.tissue_labels)) == {0, 1, 2, 3}
    inside = m.brain_mask.astype(bool)
    assert np.all(m.tissue_labels[~inside] == 0) and np.all(m.tissue_labels[inside] > 0)
    total = m.gm + m.wm + m.csf
    assert np.allclose(total[inside], 1.0, atol=0.015)
    assert np.all(total[~inside] == 0)
    assert np.all(np.diff(m.z_index) > 0) and m.z_mm.shape == (s,)
    # every slice is mostly brain and the brain is centred in the crop
    for i in range(s):
        assert 0.3 < m.brain_mask[i].mean() < 0.95
        ys, xs = np.nonzero(m.brain_mask[i])
        assert abs(xs.mean() - (w - 1) / 2) < 0.1 * w and abs(ys.mean() - (h - 1) / 2) < 0.1 * h
    assert "simulated" in m.metadata and m.metadata["simulated"]["flair_sim"]["TI_ms"] > 1600


def test_mni_is_upright_anterior_at_top():
    # the frontal horns of the lateral ventricles lie anterior: CSF-labelled pixels near the
    # midline should sit above the centre in the ventricle slice.
    m = D.mni_slices()
    i = int(np.argmin(np.abs(m.z_mm - 16)))
    lab = m.tissue_labels[i]
    h, w = lab.shape
    band = lab[:, w // 2 - 10 : w // 2 + 10] == 1
    rows = np.nonzero(band.any(1))[0]
    ys, _ = np.nonzero(m.brain_mask[i])
    assert rows.min() < ys.mean()


@pytest.mark.parametrize(
    "contrast, order",
    [
        ("t2w_sim", ("csf", "gm", "wm")),
        ("flair_sim", ("gm", "wm", "csf")),
        ("t1", ("wm", "gm", "csf")),
    ],
)
def test_tissue_brightness_order(contrast, order):
    m = D.mni_slices()
    img = getattr(m, contrast)
    med = {t: float(np.median(img[getattr(m, t) > 0.9])) for t in ("csf", "gm", "wm")}
    vals = [med[t] for t in order]
    assert vals[0] > vals[1] > vals[2], med
    if contrast == "flair_sim":
        assert med["wm"] > 5 * med["csf"]  # CSF nulled


def test_flair_ti_nulls_csf():
    meta = D.mni_slices().metadata["simulated"]
    csf = meta["tissue_parameters"]["csf"]
    fl = meta["flair_sim"]
    mz = 1 - 2 * np.exp(-fl["TI_ms"] / csf["T1"]) + np.exp(-fl["TR_ms"] / csf["T1"])
    assert abs(mz) < 1e-3
    assert abs(fl["tissue_signal"]["csf"]) < 1e-3 * fl["tissue_signal"]["gm"]


def test_brain_multicontrast():
    img, mask = D.brain_multicontrast()
    assert img.ndim == 3 and img.shape[0] == len(D.MULTICONTRAST_CHANNELS) == 3
    assert img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert mask.shape == img.shape[1:] and mask.dtype == np.uint8 and mask.any()
    assert np.all(img[:, mask == 0] == 0)
    m = D.mni_slices()
    img3, _ = D.brain_multicontrast(3)
    assert np.array_equal(img3[0], m.t1[3]) and np.array_equal(img3[2], m.flair_sim[3])


@pytest.mark.parametrize("bad", [12, -13, 100, 1.5, "3", True])
def test_brain_multicontrast_bad_index(bad):
    with pytest.raises(ValueError, match="0..11|int"):
        D.brain_multicontrast(bad)


@pytest.mark.parametrize("name, shape", [("he", (300, 500)), ("ihc", (512, 512))])
def test_histology(name, shape):
    img, mask, lab = D.histology(name)
    assert img.shape == (3, *shape) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.05
    assert mask.shape == shape and mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert lab.shape == shape and lab.dtype == np.int32
    assert np.array_equal(lab > 0, mask > 0)
    assert 100 < lab.max() < 1000 and 0.05 < mask.mean() < 0.5
    # nuclei are haematoxylin-blue: bluer (blue - red) than eosin-pink / DAB-brown surroundings
    blue_red = img[2] - img[0]
    assert blue_red[mask > 0].mean() > blue_red[mask == 0].mean() + 0.05


def test_histology_bad_name():
    with pytest.raises(ValueError, match="he, ihc"):
        D.histology("pas")


def test_fluorescence_ground_truth():
    img, gt = D.fluorescence_nuclei()
    assert img.shape == (1, 512, 512) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1
    assert gt.shape == (512, 512) and gt.dtype == np.int32
    assert len(np.unique(gt)) - 1 == 125
    assert img[0][gt > 0].mean() > 2 * img[0][gt == 0].mean()


def test_derived_fluorescence_labels_match_ground_truth():
    _, gt = D.fluorescence_nuclei()
    _, der = D.fluorescence_nuclei(derived=True)
    r = D.nuclei_metrics(gt, der)
    assert r["dice"] > 0.80 and r["f1"] > 0.70, r
    deriv = json.loads(
        resources.files("singan_augment.data").joinpath("derivation.json").read_text()
    )
    rep = deriv["nuclei_fluorescence"]["validation"]
    assert abs(rep["dice"] - r["dice"]) < 1e-9 and abs(rep["f1"] - r["f1"]) < 1e-9


def test_nuclei_metrics_basics():
    a = np.zeros((20, 20), int)
    a[2:8, 2:8] = 1
    a[10:16, 10:16] = 7  # non-contiguous ids are fine
    r = D.nuclei_metrics(a, a)
    assert r["f1"] == 1.0 and r["dice"] == 1.0 and r["n_gt"] == 2
    b = np.zeros_like(a)
    b[2:8, 2:8] = 3
    r = D.nuclei_metrics(a, b)
    assert r["tp"] == 1 and r["f1"] == pytest.approx(2 / 3) and r["recall"] == 0.5
    with pytest.raises(ValueError):
        D.nuclei_metrics(a, b, iou_threshold=0.3)


def test_derivation_script_reproduces_fluorescence_labels():
    pytest.importorskip("skimage")
    mod = load_script(REPO / "scripts" / "make_shipped_data.py")
    img, _ = D.fluorescence_nuclei()
    _, der = D.fluorescence_nuclei(derived=True)
    _, lab = mod.nuclei_from_channel(
        np.round(img[0] * 255).astype(np.float64), **mod.NUCLEI_PARAMS["fluorescence"]
    )
    assert np.array_equal(mod.relabel_sequential(lab), der)


def test_brain_volume_is_the_same_brain_in_3d():
    """The shipped volume: shapes, ranges, spacing; its tissue contrasts order as in the
    slices; and its rows run front to back (the brain's long axis), as in the 2-D slices."""
    img, labels, spacing = D.brain_volume()
    assert img.shape == (3, 54, 64, 52) and img.dtype == np.float32
    assert labels.shape == (54, 64, 52) and labels.dtype == np.uint8
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert np.allclose(spacing, (2.926, 2.922, 2.904), atol=0.01)
    assert ((labels > 0) == (img[0] > 0)).mean() > 0.98  # T1 is zero outside the brain
    med = {k: np.median(img[:, labels == k], axis=1) for k in (1, 2, 3)}  # (t1, t2w, flair)
    assert med[3][0] > med[2][0] > med[1][0]  # T1: WM > GM > CSF
    assert med[1][1] > med[2][1] > med[3][1]  # T2w: CSF > GM > WM
    # FLAIR: GM > WM > CSF, the CSF-labelled voxels dark although 2.9 mm voxels mix tissues
    assert med[2][2] > med[3][2] > med[1][2] and med[1][2] < 0.5 * med[3][2]
    brain = labels > 0
    extent = [
        np.ptp(np.where(brain.any(axis=tuple(j for j in range(3) if j != i)))[0]) for i in range(3)
    ]
    assert extent[1] > extent[2]  # rows run anterior -> posterior, the brain's long axis
