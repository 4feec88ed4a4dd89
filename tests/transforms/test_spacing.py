"""Input spacing in the transforms: read from affines (identity = unknown), mapped onto the
2D planes, and used so that a pyramid runs at its own recorded spacing."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torchio as tio
from monai.data import MetaTensor
from singan_augment.transforms import RandomSinGAN, RandSinGANSample
from singan_augment.transforms.planes import plan_planes
from singan_augment.transforms.spacing import affine_spacing, plane_spacing, tensor_spacing

from singan_augment.engine import resolution
from singan_augment.engine.config import PyramidConfig
from singan_augment.errors import ResolutionWarning
from singan_augment.testing import TINY_MODEL, untrained_pyramid

H, W = 32, 36


@pytest.fixture(scope="module")
def pyr():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (3, H, W)).astype(np.float32)
    p = untrained_pyramid(
        img,
        0,
        channel_names=["t1", "t2", "flair"],
        model_config=TINY_MODEL,
        pyramid_config=PyramidConfig(min_size=25, max_size=36),
    )
    return replace(p, spacing=(1.0, 1.0))


def test_affine_spacing():
    assert affine_spacing(None, 3) is None
    assert affine_spacing(np.eye(4), 3) is None  # what frameworks attach to bare data
    a = np.diag([0.5, 2.0, 3.0, 1.0])
    a[:3, 3] = (10, 20, 30)  # translation does not matter
    assert affine_spacing(a, 3) == (0.5, 2.0, 3.0)
    rot = np.eye(4)
    rot[:2, :2] = [[0.0, -0.7], [0.7, 0.0]]  # rotated in-plane axes keep their lengths
    assert affine_spacing(rot, 2) == pytest.approx((0.7, 0.7))
    assert affine_spacing(np.diag([0.0, 1.0, 1.0, 1.0]), 3) is None
    assert tensor_spacing(
        MetaTensor(torch.zeros(1, 4, 4), affine=torch.diag(torch.tensor([2.0, 3.0, 1.0, 1.0])))
    ) == (2.0, 3.0)
    assert tensor_spacing(torch.zeros(1, 4, 4)) is None


@pytest.mark.parametrize(
    "shape, axis, transpose, expected",
    [
        ((3, 8, 9), None, False, (0.5, 2.0)),
        ((3, 8, 9), None, True, (2.0, 0.5)),
        ((3, 8, 9, 5), 2, False, (0.5, 2.0)),
        ((3, 8, 9, 5), 0, False, (2.0, 3.0)),
        ((3, 8, 9, 5), 1, True, (3.0, 0.5)),
    ],
)
def test_plane_spacing_follows_the_cut(shape, axis, transpose, expected):
    planes = plan_planes(shape, axis, "center", 0.0, transpose)
    sp = (0.5, 2.0, 3.0)[: len(shape) - 1]
    assert plane_spacing(sp, planes) == expected
    assert plane_spacing(None, planes) is None


def _meta(x: np.ndarray, spacing: float | None) -> MetaTensor:
    aff = (
        torch.eye(4) if spacing is None else torch.diag(torch.tensor([spacing, spacing, 1.0, 1.0]))
    )
    return MetaTensor(torch.from_numpy(x), affine=aff)


@pytest.mark.parametrize("mode", ["sample", "inject"])
def test_monai_runs_the_pyramid_at_its_spacing(pyr, mode):
    x = np.random.default_rng(1).uniform(0, 1, (3, H, W)).astype(np.float32)
    outs = {}
    for sp in (None, 1.0, 2.0):  # unknown, the pyramid's own, twice as coarse
        t = RandSinGANSample(pyr, prob=1.0, start_scale=1, mode=mode).set_random_state(3)
        outs[sp] = t(_meta(x, sp))
        assert outs[sp].shape == x.shape
        assert torch.equal(outs[sp].affine, _meta(x, sp).affine)  # metadata kept
    assert torch.equal(outs[None].as_tensor(), outs[1.0].as_tensor())  # same grid: no resampling
    assert not torch.allclose(outs[None].as_tensor(), outs[2.0].as_tensor())


def test_torchio_reads_the_subjects_spacing(pyr):
    x = torch.from_numpy(np.random.default_rng(2).uniform(0, 1, (1, H, W, 1)).astype(np.float32))
    outs = {}
    for sp in (None, 1.0, 2.0):
        aff = np.eye(4) if sp is None else np.diag([sp, sp, 1.0, 1.0])
        s = tio.Subject(
            **{n: tio.ScalarImage(tensor=x.clone(), affine=aff) for n in ("t1", "t2", "flair")}
        )
        torch.manual_seed(0)
        outs[sp] = RandomSinGAN(pyr, start_scale=1, mode="inject", transpose_plane=False)(s).t1.data
    assert torch.equal(outs[None], outs[1.0])
    assert not torch.allclose(outs[None], outs[2.0])


def test_unknown_spacing_on_a_much_larger_input_warns_once(pyr):
    blind = replace(pyr, spacing=None)
    x = np.random.default_rng(1).uniform(0, 1, (3, 3 * H, 3 * W)).astype(np.float32)
    resolution.reset_warning()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = RandSinGANSample(blind, prob=1.0, start_scale=1).set_random_state(0)
        t(torch.from_numpy(x))
        t(torch.from_numpy(x))
    assert [c.category for c in caught].count(ResolutionWarning) == 1
    resolution.reset_warning()
