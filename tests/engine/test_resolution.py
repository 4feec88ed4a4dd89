"""Running a pyramid at its own pixel spacing: spacing checks, the working shape, the
once-per-process warning, and a shipped pyramid on a 3x larger input."""

from __future__ import annotations

import warnings
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest

from singan_augment import metrics, pretrained
from singan_augment.engine import resolution
from singan_augment.engine.harmonize import blend_mask, harmonize, inject
from singan_augment.engine.resolution import check_spacing, finest_spacing, working_shape
from singan_augment.engine.sample import sample
from singan_augment.engine.scales import resize
from singan_augment.errors import InputError, ResolutionWarning


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), (0.5, (0.5, 0.5)), ((0.5, 2), (0.5, 2.0)), ([1, 1], (1.0, 1.0))],
)
def test_check_spacing_accepts(value, expected):
    assert check_spacing(value) == expected


@pytest.mark.parametrize("bad", [0, -1.0, (1.0,), (1, 2, 3), (1.0, float("nan")), "1mm", (0, 1)])
def test_check_spacing_names_the_field(bad):
    with pytest.raises(InputError, match="voxel|spacing"):
        check_spacing(bad, "voxel spacing")


def test_finest_spacing_follows_the_resize():
    assert finest_spacing((1.0, 2.0), (200, 100), (80, 40)) == (2.5, 5.0)
    assert finest_spacing(None, (200, 100), (80, 40)) is None


@pytest.mark.parametrize(
    "pyr_sp, shape, sp, expected",
    [
        ((2.0, 2.0), (240, 180), (2.0, 2.0), (240, 180)),  # same spacing
        ((2.0, 2.0), (240, 180), (2.06, 1.95), (240, 180)),  # within the 5 % tolerance
        ((2.0, 2.0), (240, 180), (0.5, 1.0), (60, 90)),  # anisotropic input
        ((1.0, 1.0), (30, 20), (3.0, 3.0), (90, 60)),  # a coarser input grows
        (None, (240, 180), (0.5, 0.5), (240, 180)),  # pyramid spacing unknown
        ((2.0, 2.0), (240, 180), None, (240, 180)),  # input spacing unknown
    ],
)
def test_working_shape(pyr_sp, shape, sp, expected):
    assert working_shape(pyr_sp, (80, 60), shape, sp, warn=False) == expected


def test_unmatched_sizes_warn_once_per_process():
    resolution.reset_warning()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        working_shape(None, (80, 60), (120, 90), None)  # 1.5x: no warning
        assert not caught
        working_shape(None, (80, 60), (240, 180), None)
        working_shape((1.0, 1.0), (80, 60), (240, 180), None)
    assert len(caught) == 1 and issubclass(caught[0].category, ResolutionWarning)
    assert "80x60" in str(caught[0].message) and "spacing" in str(caught[0].message)
    resolution.reset_warning()


# -- a shipped pyramid on a 3x larger input -----------------------------------------------


@pytest.fixture(scope="module")
def brain():
    pyr = pretrained.load("brain_t1_t2_flair")
    real = pyr.channels.denormalise(np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0))
    return pyr, real


def _resized(x: np.ndarray, shape) -> np.ndarray:
    return np.moveaxis(np.asarray(resize(jnp.asarray(np.moveaxis(x, 0, -1)), shape)), -1, 0)


def test_shipped_brain_pyramids_record_their_spacing(brain):
    pyr, _ = brain
    # trained on the 1 mm MNI grid: a 187 x 151 crop at its own size (issue 13; the 80-px
    # pyramid it replaced recorded 187 / 80 x 151 / 65 mm)
    h, w = pyr.shapes[-1]
    np.testing.assert_allclose(pyr.spacing, (187 / h, 151 / w))
    assert (h, w) == (187, 151)


def test_injection_into_a_3x_finer_image_runs_at_the_pyramids_resolution(brain):
    pyr, real = brain
    h, w = pyr.shapes[-1]
    big = _resized(real, (3 * h, 3 * w))
    fine = tuple(v / 3 for v in pyr.spacing)
    resolution.reset_warning()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        matched = inject(pyr, big, 2, 0, 2, spacing=fine)
        unmatched = inject(pyr, big, 2, 0, 2)  # the old behaviour: structures 3x too large
    assert matched.shape == unmatched.shape == (2, *big.shape)
    assert [c.category for c in caught] == [ResolutionWarning]  # only the unmatched call
    # on the pyramid's grid, the matched run is close to injecting the training image itself
    ref = inject(pyr, real, 2, 0, 2)
    # back on the pyramid's grid, the matched variations are as like the training image as
    # that on-grid injection (how like depends on the pyramid and the scale, not on the
    # resampling), and more like it than the unmatched ones
    on_grid = {
        k: np.stack([_resized(x, (h, w)) for x in v])
        for k, v in {"matched": matched, "unmatched": unmatched}.items()
    }
    swd = {k: metrics.sliced_wasserstein(v, real) for k, v in {**on_grid, "ref": ref}.items()}
    assert swd["matched"] < swd["unmatched"], swd
    assert swd["matched"] < 1.15 * swd["ref"], swd
    rmse = {k: float(np.sqrt(np.mean((v - ref) ** 2))) for k, v in on_grid.items()}
    assert rmse["matched"] < 0.5 * rmse["unmatched"], rmse
    resolution.reset_warning()


def test_sampling_onto_a_finer_grid_and_harmonizing_keep_the_grid(brain):
    pyr, real = brain
    h, w = pyr.shapes[-1]
    fine = tuple(v / 3 for v in pyr.spacing)
    s = sample(pyr, 1, 2, start_scale=1, size=(3 * h, 3 * w), spacing=fine)
    assert s.images.shape == (2, 3, 3 * h, 3 * w)
    on_grid = np.stack([_resized(x, (h, w)) for x in s.images])
    plain = sample(pyr, 1, 2, start_scale=1, size=(3 * h, 3 * w)).images
    on_grid_plain = np.stack([_resized(x, (h, w)) for x in plain])
    assert metrics.sliced_wasserstein(on_grid, real) < metrics.sliced_wasserstein(
        on_grid_plain, real
    )
    with pytest.raises(InputError, match="size"):
        sample(pyr, 1, 1, spacing=fine)
    big = _resized(real, (3 * h, 3 * w))
    mask = np.zeros(big.shape[1:], bool)
    mask[100:130, 90:120] = True
    comp = big.copy()
    comp[:, mask] = 0.9
    out = harmonize(pyr, comp, mask, 2, 0, spacing=fine)
    far = blend_mask(mask) == 0
    assert out.shape == comp.shape
    np.testing.assert_array_equal(out[:, far], comp[:, far])


def test_unknown_pyramid_spacing_keeps_the_old_behaviour(brain):
    pyr, real = brain
    blind = replace(pyr, spacing=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        a = inject(blind, real, 2, 0, 1, spacing=(0.3, 0.3))
    np.testing.assert_array_equal(a, inject(pyr, real, 2, 0, 1, spacing=pyr.spacing))
