"""MONAI transforms in realistic pipelines: Compose with LoadImaged/EnsureChannelFirstd/
ScaleIntensityd/RandAffined, CacheDataset + DataLoader (fork and spawn), metadata, labels,
determinism, volumes and errors.

The pyramids here are *untrained* (``untrained_pyramid``: real architecture and shapes,
fresh weights), built in seconds; these tests check plumbing, not sample quality.
"""

from __future__ import annotations

import signal

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader, MetaTensor
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    RandAffined,
    ScaleIntensityd,
)
from monai.utils import set_determinism
from singan_augment.transforms import (
    ForkAfterJaxError,
    RandSinGANSample,
    RandSinGANSampleD,
    RandSinGANSampled,
    SinGANTumourHarmonize,
    SinGANTumourHarmonized,
    safe_dataloader_kwargs,
)

from singan_augment.engine.config import ModelConfig, PyramidConfig
from singan_augment.errors import InputError, PyramidMismatchError, ScaleError
from singan_augment.files.pyramid_files import save_pyramid
from singan_augment.testing import untrained_pyramid

H, W = 32, 36
MODEL = ModelConfig(nfc_init=8, nfc_max=8, conv_impl="xla")
PYRCFG = PyramidConfig(min_size=25, max_size=36)
IMAGES = ["t1", "t2", "flair"]


def _image(c=3, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ch = [50 + 40 * np.sin(xx / (3 + i)) * np.cos(yy / (4 + i)) for i in range(c)]
    return np.clip(np.stack(ch) + 3 * rng.standard_normal((c, H, W)), 0, 100).astype(np.float32)


def _brain_with_mask(seed=1):
    """(image (1, H, W) in [0, 1], mask (1, H, W)): dark blobs on a bright disk."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    brain = (yy - H / 2) ** 2 / (0.45 * H) ** 2 + (xx - W / 2) ** 2 / (0.45 * W) ** 2 < 1
    mask = np.zeros((H, W), bool)
    for _ in range(4):
        cy, cx = rng.integers(8, H - 8), rng.integers(8, W - 8)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 9
    img = np.where(brain, np.where(mask, 0.2, 0.7), 0.0) + 0.02 * rng.standard_normal((H, W))
    return img[None].astype(np.float32), mask[None].astype(np.float32)


@pytest.fixture(scope="module")
def pyr3_dir(tmp_path_factory):
    pyr = untrained_pyramid(
        _image(), 0, channel_names=IMAGES, model_config=MODEL, pyramid_config=PYRCFG
    )
    return save_pyramid(pyr, tmp_path_factory.mktemp("p") / "pyr3")


@pytest.fixture(scope="module")
def pyr3(pyr3_dir):
    from singan_augment.files.pyramid_files import load_pyramid

    return load_pyramid(pyr3_dir)


@pytest.fixture(scope="module")
def pyrl_dir(tmp_path_factory):
    img, mask = _brain_with_mask()
    pyr = untrained_pyramid(
        np.concatenate([img, mask]),
        1,
        channel_names=["image", "label"],
        label_channels=["label"],
        model_config=MODEL,
        pyramid_config=PYRCFG,
    )
    return save_pyramid(pyr, tmp_path_factory.mktemp("p") / "pyrl")


@pytest.fixture
def guard():
    """Pytest-level timeout for DataLoader tests: a hang fails instead of blocking CI."""

    def boom(*_):
        raise TimeoutError("DataLoader test exceeded its time limit (hang?)")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(150)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _nifti_dicts(tmp_path, n=2, depth1=False):
    """Per-subject NIfTI files t1/t2/flair/label (2D, or 3D with singleton depth)."""
    affine = np.diag([1.5, 1.2, 3.0, 1.0])
    rows = []
    for i in range(n):
        x = _image(seed=i)
        lab = (x[0] > 60).astype(np.uint8)
        d = {}
        for name, arr in [*zip(IMAGES, x), ("label", lab)]:
            a = arr[..., None] if depth1 else arr
            p = tmp_path / f"s{i}_{name}.nii.gz"
            nib.save(nib.Nifti1Image(a, affine), str(p))
            d[name] = str(p)
        rows.append(d)
    return rows, affine


def _pipeline(ours, seed=0):
    keys = [*IMAGES, "label"]
    c = Compose(
        [
            LoadImaged(keys=keys, image_only=True),
            EnsureChannelFirstd(keys=keys),
            ScaleIntensityd(keys=IMAGES, minv=0.0, maxv=100.0),
            RandAffined(
                keys=keys,
                prob=1.0,
                rotate_range=0.2,
                mode=("bilinear",) * 3 + ("nearest",),
                padding_mode="border",
            ),
            ours,
        ]
    )
    c.set_random_state(seed)
    return c


# --------------------------------------------------------------------------------------------
# Array transform
# --------------------------------------------------------------------------------------------


def test_array_sample_keeps_meta_and_records_op(pyr3):
    affine = torch.diag(torch.tensor([2.0, 2.0, 1.0, 1.0], dtype=torch.float64))
    img = MetaTensor(torch.from_numpy(_image()), affine=affine, meta={"tag": "x"})
    t = RandSinGANSample(pyr3, prob=1.0, start_scale=1).set_random_state(0)
    out = t(img)
    assert isinstance(out, MetaTensor) and out.shape == img.shape and out.dtype == torch.float32
    assert torch.equal(out.affine, affine) and out.meta["tag"] == "x"
    op = out.applied_operations[-1]
    assert op["class"] == "RandSinGANSample" and op["do_transforms"] is True
    assert op["extra_info"]["scale"] == 1 and op["extra_info"]["mode"] == "sample"
    assert not torch.allclose(out, img)
    assert t.inverse(out) is out and len(out.applied_operations) == 0


def test_array_prob0_is_identity(pyr3):
    img = torch.from_numpy(_image())
    out = RandSinGANSample(pyr3, prob=0.0)(img)
    assert torch.equal(out.as_tensor(), img)
    assert out.applied_operations[-1]["do_transforms"] is False


def test_array_determinism_under_set_random_state(pyr3):
    img = torch.from_numpy(_image())
    t = RandSinGANSample(pyr3, prob=1.0, start_scale=(0, 2))
    a = t.set_random_state(7)(img)
    b = t.set_random_state(7)(img)
    c = t.set_random_state(8)(img)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_array_inject_is_structure_preserving(pyr3):
    img = torch.from_numpy(_image())
    out = RandSinGANSample(pyr3, prob=1.0, start_scale=2, mode="inject").set_random_state(0)(img)
    r = np.corrcoef(out.numpy().ravel(), img.numpy().ravel())[0, 1]
    assert r > 0.8 and not torch.allclose(out, img)


def test_array_errors(pyr3):
    t = RandSinGANSample(pyr3, prob=1.0)
    with pytest.raises(PyramidMismatchError, match="3"):
        t(torch.zeros(2, H, W))
    with pytest.raises(ScaleError):
        RandSinGANSample(pyr3, prob=1.0, start_scale=9)(torch.zeros(3, H, W))
    with pytest.raises(ScaleError, match="inject"):
        RandSinGANSample(pyr3, prob=1.0, start_scale=0, mode="inject")(torch.zeros(3, H, W))
    with pytest.raises(InputError, match="mode"):
        RandSinGANSample(pyr3, mode="edit")
    with pytest.raises(InputError, match="NaN"):
        RandSinGANSample(pyr3, prob=1.0, mode="inject", start_scale=1)(
            torch.full((3, H, W), float("nan"))
        )


# --------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------


def test_volume_needs_an_axis_and_never_guesses(pyr3):
    vol = torch.rand(3, H, W, 5) * 100
    with pytest.raises(InputError, match="spatial_axis"):
        RandSinGANSample(pyr3, prob=1.0)(vol)


def test_volume_slicewise_and_single_slice(pyr3):
    vol = torch.rand(3, H, W, 4) * 100
    t = RandSinGANSample(pyr3, prob=1.0, spatial_axis=2, slices="all").set_random_state(0)
    out = t(vol)
    assert out.shape == vol.shape
    assert all(not torch.equal(out[..., k], vol[..., k]) for k in range(4))
    assert not torch.equal(out[..., 0], out[..., 1])  # independent draws per slice
    one = RandSinGANSample(pyr3, prob=1.0, spatial_axis=2, slices=2).set_random_state(0)(vol)
    for k in (0, 1, 3):
        assert torch.equal(one[..., k], vol[..., k])
    assert not torch.equal(one[..., 2], vol[..., 2])
    # along the first spatial axis the planes are (W, D); only plane 0 changes
    ax0 = RandSinGANSample(pyr3, prob=1.0, spatial_axis=0, slices=0)(vol)
    assert not torch.equal(ax0[:, 0], vol[:, 0]) and torch.equal(ax0[:, 1:], vol[:, 1:])


def test_singleton_depth_is_handled(pyr3):
    vol = torch.from_numpy(_image())[..., None]
    out = RandSinGANSample(pyr3, prob=1.0).set_random_state(0)(vol)
    flat = RandSinGANSample(pyr3, prob=1.0).set_random_state(0)(vol[..., 0])
    assert out.shape == vol.shape and torch.equal(out[..., 0], flat)


# --------------------------------------------------------------------------------------------
# Dictionary transform in Compose pipelines
# --------------------------------------------------------------------------------------------


def test_dict_in_compose_from_nifti(pyr3_dir, tmp_path):
    rows, _ = _nifti_dicts(tmp_path, n=1, depth1=True)
    ours = RandSinGANSampled(keys=IMAGES, pyramid=pyr3_dir, prob=1.0, start_scale=1)
    pipe = _pipeline(ours)
    ref = _pipeline(RandSinGANSampled(keys=IMAGES, pyramid=pyr3_dir, prob=0.0))(rows[0])
    out = pipe(rows[0])
    for k in IMAGES:
        assert isinstance(out[k], MetaTensor) and out[k].shape == (1, H, W, 1)
        assert torch.equal(out[k].affine, ref[k].affine)  # RandAffine's affine, kept
        assert [op["class"] for op in out[k].applied_operations] == [
            "RandAffined",
            "RandSinGANSampled",
        ]
        assert not torch.allclose(out[k], ref[k])
    # the label key is not listed: untouched by us
    assert torch.equal(out["label"], ref["label"])
    # Compose.inverse goes through our (geometry-preserving) op and undoes RandAffined
    inv = pipe.inverse(out)
    assert inv["t1"].shape == (1, H, W, 1) and len(inv["t1"].applied_operations) == 0


def test_dict_image_label_pyramid_labels_discrete_aligned(pyrl_dir):
    img, mask = _brain_with_mask()
    for dtype in (torch.uint8, torch.int64, torch.float32):
        d = {"image": torch.from_numpy(img), "label": torch.from_numpy(mask).to(dtype)}
        out = RandSinGANSampleD(["image", "label"], pyramid=pyrl_dir, prob=1.0, start_scale=0)(d)
        lab = out["label"]
        assert lab.dtype == dtype and lab.shape == (1, H, W)
        assert set(torch.unique(lab).tolist()) <= {0, 1}


def test_dict_channel_mapping_one_multichannel_key(pyr3):
    d = {"image": torch.from_numpy(_image())}
    t = RandSinGANSampled(["image"], pyramid=pyr3, prob=1.0, mode="inject", start_scale=2)
    out = t.set_random_state(1)(d)
    # one 3-channel key takes t1/t2/flair in order: same result as the array transform
    arr = RandSinGANSample(pyr3, prob=1.0, mode="inject", start_scale=2).set_random_state(1)
    assert out["image"].shape == (3, H, W)
    assert torch.equal(out["image"].as_tensor(), arr(d["image"]).as_tensor())


def test_dict_determinism_and_scale_range(pyr3):
    d = {k: torch.from_numpy(_image()[i : i + 1]) for i, k in enumerate(IMAGES)}
    t = RandSinGANSampled(IMAGES, pyramid=pyr3, prob=1.0, start_scale=(0, 2))
    a = t.set_random_state(3)(d)
    b = t.set_random_state(3)(d)
    assert all(torch.equal(a[k], b[k]) for k in IMAGES)
    scales = {t(d)["t1"].applied_operations[-1]["extra_info"]["scale"] for _ in range(12)}
    assert scales <= {0, 1, 2} and len(scales) > 1


def test_dict_per_sample_pyramid_lru_cache(pyr3_dir, tmp_path):
    pyr_b = untrained_pyramid(
        _image(seed=5), 9, channel_names=IMAGES, model_config=MODEL, pyramid_config=PYRCFG
    )
    b_dir = save_pyramid(pyr_b, tmp_path / "b")
    x = torch.from_numpy(_image())
    t = RandSinGANSampled(["image"], pyramid_key="pyr", prob=1.0, cache_size=2)
    for p in [pyr3_dir, b_dir, pyr3_dir, b_dir]:
        t({"image": x, "pyr": str(p)})
    assert t.sampler.cache.loads == 2
    t1 = RandSinGANSampled(["image"], pyramid_key="pyr", prob=1.0, cache_size=1)
    for p in [pyr3_dir, b_dir, pyr3_dir]:
        t1({"image": x, "pyr": str(p)})
    assert t1.sampler.cache.loads == 3 and len(t1.sampler.cache) == 1


def test_dict_errors(pyr3, pyrl_dir):
    x = _image()
    with pytest.raises(PyramidMismatchError, match="flair"):
        RandSinGANSampled(["t1", "t2"], pyramid=pyr3, prob=1.0)(
            {"t1": torch.from_numpy(x[:1]), "t2": torch.from_numpy(x[1:2])}
        )
    with pytest.raises(PyramidMismatchError, match="channels"):
        RandSinGANSampled(["t1", "t2", "flair"], pyramid=pyr3, prob=1.0)(
            {"t1": torch.from_numpy(x[:2]), "t2": torch.from_numpy(x[1:2]), "flair": x[2:]}
        )
    with pytest.raises(InputError, match="spatial shape"):
        RandSinGANSampled(IMAGES, pyramid=pyr3, prob=1.0)(
            {"t1": torch.zeros(1, H, W), "t2": torch.zeros(1, H, W), "flair": torch.zeros(1, H, 30)}
        )
    with pytest.raises(InputError, match="0..1"):
        RandSinGANSampled(["image", "label"], pyramid=pyrl_dir, prob=1.0, mode="inject")(
            {"image": torch.zeros(1, H, W), "label": torch.full((1, H, W), 3)}
        )
    with pytest.raises(ValueError, match="pyramid"):
        RandSinGANSampled(IMAGES)
    with pytest.raises(ValueError, match="label_key"):
        RandSinGANSampled(IMAGES, pyramid=pyr3, label_key="seg")


# --------------------------------------------------------------------------------------------
# Tumour insertion
# --------------------------------------------------------------------------------------------


def _tumour_case(pyr3):
    x = _image()
    yy, xx = np.mgrid[0:H, 0:W]
    brain = ((yy - H / 2) ** 2 / 14**2 + (xx - W / 2) ** 2 / 16**2 < 1)[None]
    label = np.zeros((1, H, W), np.uint8)
    label[0, 2:5, 2:5] = 7  # something far from any paste, must survive
    d = {k: torch.from_numpy(x[i : i + 1]) for i, k in enumerate(IMAGES)}
    d["label"] = torch.from_numpy(label)
    d["brain"] = torch.from_numpy(brain.astype(np.uint8))
    return d


def test_tumour_dict_sets_labels_inside_and_keeps_outside(pyr3):
    d = _tumour_case(pyr3)
    t = SinGANTumourHarmonized(
        IMAGES, pyr3, label_key="label", brain_mask_key="brain", injection_scale=1
    ).set_random_state(0)
    out = t(d)
    lab = out["label"]
    assert lab.dtype == torch.uint8 and lab.shape == (1, H, W)
    changed = lab != d["label"]
    assert changed.any()
    assert set(torch.unique(lab[changed]).tolist()) <= {1, 2, 3}
    assert torch.equal(lab[0, 2:5, 2:5], d["label"][0, 2:5, 2:5])
    assert not (changed & (d["brain"] == 0)).any()  # the tumour stays inside the brain
    assert not torch.allclose(out["t1"], d["t1"])
    b = t.set_random_state(0)(d)
    assert torch.equal(b["label"], lab) and torch.equal(b["t2"], out["t2"])


def test_tumour_fixed_location_bank_and_array_version(pyr3):
    d = _tumour_case(pyr3)
    yy, xx = np.mgrid[0:9, 0:9]
    pmask = (yy - 4) ** 2 + (xx - 4) ** 2 <= 12
    bank = [(np.full((3, 9, 9), 0.9, np.float32), pmask)]
    img = torch.cat([d[k] for k in IMAGES])
    t = SinGANTumourHarmonize(
        pyr3, injection_scale=2, tumour_bank=bank, location=(16, 18), zoom_range=1.0,
        rotate=False, tumour_label=4,
    )  # fmt: skip
    out_img, out_lab = t(img, label=d["label"], brain_mask=d["brain"])
    assert out_img.shape == img.shape
    assert set(torch.unique(out_lab).tolist()) == {0, 4, 7}
    assert out_lab[0, 16, 18] == 4 and out_lab[0, 16, 10] == 0
    # outside the blend mask (paste dilated by 7 px, blurred by sigma 5) nothing changes;
    # the change is concentrated on the paste
    from singan_augment.engine.harmonize import blend_mask

    m = torch.from_numpy(blend_mask((out_lab[0] == 4).numpy()))
    diff = (out_img - img).abs().sum(0)
    assert torch.all(diff[m == 0] == 0)
    assert diff[out_lab[0] == 4].mean() > 5 * diff[m < 0.05].mean()


def test_tumour_lesion_mode_keeps_the_lesion_visible(pyr3):
    """Default ``lesion="keep_core"``: the lesion's core stays as pasted; the published
    ``"regenerate"`` blend pulls it towards what the pyramid learnt (docs/lesion_fidelity.md)."""
    from singan_augment import metrics

    d = _tumour_case(pyr3)
    img = torch.cat([d[k] for k in IMAGES])
    yy, xx = np.mgrid[0:11, 0:11]
    bank = [(np.full((3, 11, 11), 1.0, np.float32), (yy - 5) ** 2 + (xx - 5) ** 2 <= 20)]
    kw = dict(injection_scale=1, tumour_bank=bank, location=(16, 18), zoom_range=1.0, rotate=False)
    outs = {}
    for lesion in ("regenerate", "keep_core"):
        t = SinGANTumourHarmonize(pyr3, lesion=lesion, **kw).set_random_state(5)
        outs[lesion], lab = t(img, label=d["label"], brain_mask=d["brain"])
    les = (lab[0] == 1).numpy()
    cons = {k: metrics.lesion_conspicuity(v.numpy(), les).mean() for k, v in outs.items()}
    assert cons["keep_core"] > cons["regenerate"]
    assert t.pop_transform(outs["keep_core"])["extra_info"]["lesion"] == "keep_core"
    with pytest.raises(InputError, match="lesion"):
        SinGANTumourHarmonize(pyr3, lesion="keep")


def test_tumour_prob0_identity_and_3d_center_slice(pyr3):
    d = _tumour_case(pyr3)
    out = SinGANTumourHarmonized(IMAGES, pyr3, label_key="label", prob=0.0)(d)
    assert all(torch.equal(out[k].as_tensor(), d[k]) for k in [*IMAGES, "label"])
    vol = {k: torch.stack([d[k]] * 3, -1) for k in [*IMAGES, "label", "brain"]}
    t = SinGANTumourHarmonized(
        IMAGES, pyr3, label_key="label", brain_mask_key="brain", spatial_axis=2,
        injection_scale=1,
    )  # fmt: skip
    out = t.set_random_state(2)(vol)
    assert torch.equal(out["label"][..., 0], vol["label"][..., 0])
    assert not torch.equal(out["label"][..., 1], vol["label"][..., 1])


# --------------------------------------------------------------------------------------------
# DataLoader: CacheDataset with fork (parent ran JAX) and spawn workers
# --------------------------------------------------------------------------------------------


def _cache_ds(rows, pyramid):
    keys = [*IMAGES, "label"]
    pre = Compose([LoadImaged(keys=keys, image_only=True), EnsureChannelFirstd(keys=keys)])
    ds = CacheDataset(rows, transform=pre, num_workers=0, progress=False)
    ours = RandSinGANSampled(IMAGES, pyramid=pyramid, prob=1.0, start_scale=1)
    ds.transform = Compose([*pre.transforms, ours])
    return ds


def test_dataloader_fork_after_jax_fails_fast(pyr3_dir, tmp_path, guard):
    rows, _ = _nifti_dicts(tmp_path, n=4)
    ds = _cache_ds(rows, pyr3_dir)
    import jax.numpy as jnp

    jnp.zeros(2).block_until_ready()  # the parent has run JAX before forking
    dl = DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork", timeout=60)
    # MONAI wraps the worker's error in RuntimeError("applying transform ..."); the worker's
    # traceback (with our error and its advice) travels in the message
    with pytest.raises((ForkAfterJaxError, RuntimeError), match="ForkAfterJaxError") as e:
        next(iter(dl))
    assert "multiprocessing_context='spawn'" in str(e.value)


def test_dataloader_spawn_two_workers(pyr3_dir, tmp_path, guard):
    set_determinism(seed=0)
    rows, affine = _nifti_dicts(tmp_path, n=4)
    ds = _cache_ds(rows, pyr3_dir)
    kw = safe_dataloader_kwargs(persistent_workers=False)
    dl = DataLoader(ds, batch_size=1, num_workers=2, timeout=120, **kw)
    batches = list(dl)
    set_determinism(None)
    assert len(batches) == 4
    outs = [b["t1"][0] for b in batches]
    assert all(o.shape == (1, H, W) for o in outs)
    assert all(np.allclose(b["t1"].affine[0].numpy(), affine) for b in batches)
    # subjects 0 and 1 go to different workers; their draws must not repeat each other
    seeds = [b["t1"].applied_operations[0][-1]["extra_info"]["seed"] for b in batches]
    assert len(set(int(s) for s in seeds)) == 4


# --------------------------------------------------------------------------------------------
# A 3D (volume) pyramid: whole volumes, one draw each
# --------------------------------------------------------------------------------------------


def _volume_dict():
    from singan_augment.testing import tiny_volume

    vol = tiny_volume(mask=True)
    affine = torch.diag(torch.tensor([2.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    return {
        "t1": MetaTensor(torch.from_numpy(vol[:1].copy()), affine=affine),
        "lesion": MetaTensor(torch.from_numpy(vol[1:].astype(np.int64)), affine=affine),
    }


def test_a_volume_pyramid_draws_whole_volumes(tiny_volume_pyramid_dir, tiny_volume_pyramid):
    """The array transform gives the engine's own volume sample for its seed (one 3-D draw,
    not slices), keeps the MetaTensor's affine, and decodes the label channel to 0/1."""
    import jax

    from singan_augment.engine.sample import sample

    d = _volume_dict()
    vol = MetaTensor(
        torch.cat([d["t1"].as_tensor(), d["lesion"].as_tensor().float()]), affine=d["t1"].affine
    )
    t = RandSinGANSample(tiny_volume_pyramid_dir, prob=1.0, start_scale=1).set_random_state(3)
    out = t(vol)
    assert isinstance(out, MetaTensor) and out.shape == vol.shape
    assert torch.equal(out.affine, vol.affine)
    assert set(torch.unique(out[1]).tolist()) <= {0.0, 1.0}
    ref = sample(
        tiny_volume_pyramid, jax.random.PRNGKey(t._seed), 1, start_scale=1, size=(14, 16, 15)
    )
    np.testing.assert_allclose(out[0].numpy(), ref.images[0, 0], rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(out[1].numpy(), ref.labels[0])
    again = RandSinGANSample(tiny_volume_pyramid_dir, prob=1.0, start_scale=1).set_random_state(3)
    assert torch.equal(again(vol), out)


def test_a_volume_pyramid_keeps_image_and_label_map_aligned(tiny_volume_pyramid_dir):
    """Dictionary transform: the label map comes back as a discrete map of its dtype that is
    the decoded label channel of the same draw; the image key is the same draw's t1."""
    d = _volume_dict()
    t = RandSinGANSampled(
        keys=["t1", "lesion"], pyramid=tiny_volume_pyramid_dir, prob=1.0, mode="inject",
        start_scale=2, label_key="lesion",
    ).set_random_state(0)  # fmt: skip
    out = t(d)
    assert out["t1"].shape == d["t1"].shape and out["lesion"].shape == d["lesion"].shape
    assert out["lesion"].dtype == d["lesion"].dtype
    assert set(torch.unique(out["lesion"]).tolist()) <= {0, 1}
    assert not torch.equal(out["t1"], d["t1"])
    assert [op["class"] for op in out["t1"].applied_operations] == ["RandSinGANSampled"]


def test_a_volume_pyramid_refuses_planes_and_images(tiny_volume_pyramid_dir):
    vol = torch.rand(2, 14, 16, 15)
    with pytest.raises(InputError, match="3D pyramid generates the whole volume"):
        RandSinGANSample(tiny_volume_pyramid_dir, prob=1.0, spatial_axis=2)(vol)
    with pytest.raises(InputError, match=r"needs a \(C, X, Y, Z\) volume"):
        RandSinGANSample(tiny_volume_pyramid_dir, prob=1.0)(vol[:, 0])


def test_a_volume_pyramid_inserts_and_harmonizes_a_3d_lesion(tiny_volume_pyramid_dir):
    """With a 3-D pyramid the tumour transform pastes one 3-D lesion into the whole volume:
    its label spans several slices along every axis, is set only inside the paste, and the
    image changes where the label does."""
    d = _volume_dict()
    d["lesion"] = torch.zeros_like(d["lesion"])  # a healthy host
    t = SinGANTumourHarmonized(
        ["t1"], tiny_volume_pyramid_dir, label_key="lesion", injection_scale=1, patch_size=16,
        location=(7, 8, 7), zoom_range=1.0, rotate=False,
    ).set_random_state(0)  # fmt: skip
    out = t(d)
    lab = out["lesion"][0]
    assert out["lesion"].shape == d["lesion"].shape and out["t1"].shape == d["t1"].shape
    assert set(torch.unique(lab).tolist()) <= {0, 1, 2, 3} and (lab == 1).any()
    inside = lab > 0
    for axis in range(3):  # a 3-D lesion, not a 2-D one in one slice
        others = tuple(a for a in range(3) if a != axis)
        assert int(inside.any(dim=others[1]).any(dim=others[0]).sum()) >= 5
    assert not torch.allclose(out["t1"][0][inside], d["t1"][0][inside])
    again = SinGANTumourHarmonized(
        ["t1"], tiny_volume_pyramid_dir, label_key="lesion", injection_scale=1, patch_size=16,
        location=(7, 8, 7), zoom_range=1.0, rotate=False,
    ).set_random_state(0)(_volume_dict() | {"lesion": torch.zeros_like(d["lesion"])})  # fmt: skip
    assert torch.equal(again["lesion"], out["lesion"]) and torch.equal(again["t1"], out["t1"])


@pytest.mark.parametrize("volume", [False, True])
def test_the_tumour_blend_follows_the_inputs_dimensionality(
    volume, monkeypatch, tiny_volume_pyramid_dir, pyr3
):
    """Images get the 3-px core ramp chosen in 2-D, volumes the 1-voxel one
    (docs/lesion_fidelity.md, "The new default in 3-D"); ``lesion`` still picks the mode."""
    import singan_augment.engine.harmonize as harmonize_module

    seen = []
    real = harmonize_module.harmonize

    def spy(*args, **kwargs):
        seen.append(kwargs["blend"])
        return real(*args, **kwargs)

    monkeypatch.setattr(harmonize_module, "harmonize", spy)
    if volume:
        d = _volume_dict()
        d["lesion"] = torch.zeros_like(d["lesion"])
        keys, src, kw = ["t1"], tiny_volume_pyramid_dir, {"patch_size": 16, "location": (7, 8, 7)}
    else:
        d, keys, src, kw = _tumour_case(pyr3), IMAGES, pyr3, {}
    for lesion in ("keep_core", "regenerate"):
        SinGANTumourHarmonized(
            keys, src, label_key="lesion" if volume else "label", injection_scale=1,
            lesion=lesion, **kw,
        ).set_random_state(0)(dict(d))  # fmt: skip
    assert [(b.lesion, b.core_sigma) for b in seen] == [
        ("keep_core", 1.0 if volume else 3.0),
        ("regenerate", 1.0 if volume else 3.0),
    ]
