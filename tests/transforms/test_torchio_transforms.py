"""TorchIO transforms: random -> deterministic twin with replayable history, ScalarImage vs
LabelMap, include/exclude, (C, W, H, D) tensors and volumes, SubjectsDataset + Queue, and a
spawn DataLoader. Untrained pyramids (see test_transforms_monai)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchio as tio
from singan_augment.transforms import (
    RandomSinGAN,
    RandomSinGANTumour,
    SinGAN,
    SinGANTumour,
    safe_dataloader_kwargs,
)
from torch.utils.data import DataLoader

from singan_augment.engine.config import PyramidConfig
from singan_augment.errors import InputError, PyramidMismatchError
from singan_augment.files.pyramid_files import save_pyramid
from singan_augment.testing import TINY_MODEL, untrained_pyramid

H, W = 32, 36
MODEL = TINY_MODEL
PYRCFG = PyramidConfig(min_size=25, max_size=36)
IMAGES = ["t1", "t2", "flair"]


def _image(c=3, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ch = [50 + 40 * np.sin(xx / (3 + i)) * np.cos(yy / (4 + i)) for i in range(c)]
    return np.clip(np.stack(ch) + 3 * rng.standard_normal((c, H, W)), 0, 100).astype(np.float32)


def _tio(a: np.ndarray) -> torch.Tensor:
    """(c, H, W) numpy -> TorchIO's (c, W, H, 1)."""
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 2, 1)[..., None].contiguous()


@pytest.fixture(scope="module")
def pyr3_dir(tmp_path_factory):
    pyr = untrained_pyramid(
        _image(), 0, channel_names=IMAGES, model_config=MODEL, pyramid_config=PYRCFG
    )
    return str(save_pyramid(pyr, tmp_path_factory.mktemp("p") / "pyr3"))


@pytest.fixture(scope="module")
def pyrl_dir(tmp_path_factory):
    x = _image(1)
    mask = (x > 60).astype(np.float32)
    pyr = untrained_pyramid(
        np.concatenate([x, mask]),
        1,
        channel_names=["image", "label"],
        label_channels=["label"],
        model_config=MODEL,
        pyramid_config=PYRCFG,
    )
    return str(save_pyramid(pyr, tmp_path_factory.mktemp("p") / "pyrl"))


def _subject(seg=True):
    x = _image()
    kw = {k: tio.ScalarImage(tensor=_tio(x[i : i + 1])) for i, k in enumerate(IMAGES)}
    if seg:
        kw["seg"] = tio.LabelMap(tensor=_tio((x[:1] > 60).astype(np.int64)))
    return tio.Subject(**kw)


def test_random_calls_twin_and_history_replays(pyrl_dir):
    x = _image(1)
    s = tio.Subject(
        image=tio.ScalarImage(tensor=_tio(x)),
        label=tio.LabelMap(tensor=_tio((x > 60).astype(np.int64))),
    )
    torch.manual_seed(0)
    out = RandomSinGAN(pyrl_dir, start_scale=(0, 1))(s)
    assert [t.name for t in out.get_applied_transforms()] == ["SinGAN"]
    assert out.image.data.shape == (1, W, H, 1) and out.label.data.dtype == torch.int64
    assert set(out.label.data.unique().tolist()) <= {0, 1}
    assert not torch.equal(out.image.data, s.image.data)
    replay = out.get_composed_history()(s)
    assert torch.equal(replay.image.data, out.image.data)
    assert torch.equal(replay.label.data, out.label.data)
    assert np.array_equal(replay.image.affine, s.image.affine)


def test_scalar_vs_label_and_include_exclude(pyr3_dir):
    s = _subject()
    # sample mode would leave the label map stale: refused
    with pytest.raises(InputError, match="seg"):
        RandomSinGAN(pyr3_dir)(s)
    # inject mode keeps the structure: label maps are left as they are
    torch.manual_seed(1)
    out = RandomSinGAN(pyr3_dir, mode="inject", start_scale=2)(s)
    assert torch.equal(out.seg.data, s.seg.data)
    assert all(not torch.equal(out[k].data, s[k].data) for k in IMAGES)
    # excluding the label map allows sampling
    torch.manual_seed(1)
    out = RandomSinGAN(pyr3_dir, exclude=["seg"])(s)
    assert torch.equal(out.seg.data, s.seg.data)
    # include with only two of three contrasts: the pyramid's flair is missing
    with pytest.raises(PyramidMismatchError, match="flair"):
        RandomSinGAN(pyr3_dir, include=["t1", "t2"])(s)


def test_p0_identity_and_determinism(pyr3_dir):
    s = _subject(seg=False)
    out = RandomSinGAN(pyr3_dir, p=0.0)(s)
    assert all(torch.equal(out[k].data, s[k].data) for k in IMAGES)
    a = SinGAN(pyr3_dir, seed=5, scale=1)(s)
    b = SinGAN(pyr3_dir, seed=5, scale=1)(s)
    c = SinGAN(pyr3_dir, seed=6, scale=1)(s)
    assert torch.equal(a.t1.data, b.t1.data) and not torch.equal(a.t1.data, c.t1.data)


def test_transpose_plane_matches_the_numpy_orientation(pyr3_dir):
    """TorchIO's (W, H) planes are transposed to the pyramid's (H, W): the result equals the
    MONAI transform on the (H, W) array, transposed back."""
    from singan_augment.transforms import RandSinGANSample

    s = _subject(seg=False)
    out = SinGAN(pyr3_dir, seed=3, scale=1, mode="inject", channel_map={"t1": ["t1"]})(s)
    arr = RandSinGANSample(pyr3_dir, prob=1.0, start_scale=1, mode="inject")
    arr._seed, arr._scale = 3, 1
    ref = arr(torch.from_numpy(_image()), randomize=False)
    np.testing.assert_allclose(out.t1.data[0, :, :, 0].T.numpy(), ref[0].numpy(), atol=1e-5)


def test_volume_axis_required_and_slicewise(pyr3_dir):
    vol = torch.rand(1, W, H, 3) * 100
    s = tio.Subject(image=tio.ScalarImage(tensor=vol.repeat(3, 1, 1, 1)))
    with pytest.raises(InputError, match="spatial_axis"):
        SinGAN(pyr3_dir, seed=0, scale=1)(s)
    out = SinGAN(pyr3_dir, seed=0, scale=1, spatial_axis=2, slices=1)(s)
    assert torch.equal(out.image.data[..., 0], s.image.data[..., 0])
    assert not torch.equal(out.image.data[..., 1], s.image.data[..., 1])


def test_tumour_history_replays_and_labels(pyr3_dir):
    s = _subject(seg=False)
    s.add_image(tio.LabelMap(tensor=torch.zeros(1, W, H, 1, dtype=torch.uint8)), "tumour")
    torch.manual_seed(2)
    out = RandomSinGANTumour(pyr3_dir, injection_scale=1)(s)
    assert [t.name for t in out.get_applied_transforms()] == ["SinGANTumour"]
    lab = out.tumour.data
    assert lab.dtype == torch.uint8 and set(lab.unique().tolist()) <= {0, 1, 2, 3}
    assert (lab > 0).any()
    replay = out.get_composed_history()(s)
    assert torch.equal(replay.tumour.data, lab) and torch.equal(replay.t1.data, out.t1.data)
    twin = out.get_applied_transforms()[0]
    assert isinstance(twin, SinGANTumour) and twin.injection_scale == 1
    assert twin.lesion == "keep_core"  # the lesion-keeping blend is the default and replays
    with pytest.raises(InputError, match="lesion"):
        RandomSinGANTumour(pyr3_dir, lesion="core")


def test_subjects_dataset_and_queue(pyr3_dir):
    subjects = [_subject(seg=False) for _ in range(2)]
    ds = tio.SubjectsDataset(subjects, transform=RandomSinGAN(pyr3_dir, start_scale=(1, 2)))
    queue = tio.Queue(
        ds,
        max_length=8,
        samples_per_volume=2,
        sampler=tio.UniformSampler((16, 16, 1)),
        num_workers=0,
    )
    batch = next(iter(DataLoader(queue, batch_size=4, num_workers=0)))
    assert batch["t1"][tio.DATA].shape == (4, 1, 16, 16, 1)


def test_spawn_dataloader_two_workers(pyr3_dir):
    subjects = [_subject(seg=False) for _ in range(4)]
    ds = tio.SubjectsDataset(subjects, transform=RandomSinGAN(pyr3_dir, start_scale=0))
    kw = safe_dataloader_kwargs(persistent_workers=False)
    dl = DataLoader(ds, batch_size=1, num_workers=2, timeout=120, **kw)
    outs = [b["t1"][tio.DATA][0] for b in dl]
    assert len(outs) == 4 and all(o.shape == (1, W, H, 1) for o in outs)
    # torch seeds each worker differently: no two subjects got the same draw
    assert len({o.numpy().tobytes() for o in outs}) == 4


def test_a_volume_pyramid_on_a_subject(tiny_volume_pyramid_dir):
    """TorchIO: a 3D pyramid gives whole volumes in the subject's own axis order (no plane
    transpose), the label map stays discrete and aligned, and the history replays it."""
    from singan_augment.testing import tiny_volume

    vol = tiny_volume(mask=True)
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    subject = tio.Subject(
        t1=tio.ScalarImage(tensor=torch.from_numpy(vol[:1].copy()), affine=affine),
        lesion=tio.LabelMap(tensor=torch.from_numpy(vol[1:].astype(np.int64)), affine=affine),
    )
    t = RandomSinGAN(tiny_volume_pyramid_dir, mode="inject", start_scale=2, label_name="lesion")
    out = t(subject)
    assert out["t1"].data.shape == (1, 14, 16, 15) and out["lesion"].data.shape == (1, 14, 16, 15)
    assert set(torch.unique(out["lesion"].data).tolist()) <= {0, 1}
    assert not torch.equal(out["t1"].data, subject["t1"].data)
    replay = out.get_composed_history()(subject)
    assert torch.equal(replay["t1"].data, out["t1"].data)
    assert torch.equal(replay["lesion"].data, out["lesion"].data)
