import numpy as np
import pytest

from singan_augment.engine.config import BlendConfig
from singan_augment.engine.harmonize import blend_back, blend_mask, edit, harmonize, inject
from singan_augment.engine.sample import sample
from singan_augment.errors import InputError, PyramidMismatchError, ScaleError
from singan_augment.testing import tiny_image


def _composite(h=32, w=36):
    img = tiny_image(h=h, w=w)
    mask = np.zeros((h, w), bool)
    mask[4:10, 5:12] = True
    comp = img.copy()
    comp[:, mask] = 100.0  # a bright naive paste
    return img, comp, mask


def test_pixels_outside_the_blend_mask_are_unchanged(tiny_pyramid):
    _, comp, mask = _composite(h=64, w=72)
    out = harmonize(tiny_pyramid, comp, mask, 1, seed_or_key=0)
    m = blend_mask(mask)
    assert out.shape == comp.shape
    assert (m == 0).any()
    np.testing.assert_array_equal(out[:, m == 0], comp[:, m == 0])
    assert not np.allclose(out[:, mask], comp[:, mask])


def test_harmonize_any_composite_size(tiny_pyramid):
    _, comp, mask = _composite(h=50, w=41)
    assert harmonize(tiny_pyramid, comp, mask, 2).shape == (3, 50, 41)


def test_editing_mask_is_wider():
    mask = np.zeros((80, 80), bool)
    mask[35:45, 35:45] = True
    assert (blend_mask(mask, BlendConfig.editing()) > 0).sum() > (blend_mask(mask) > 0).sum()


def test_edit_runs(tiny_pyramid):
    _, comp, mask = _composite()
    assert edit(tiny_pyramid, comp, mask, 1).shape == comp.shape


def test_inject_preserves_structure_and_varies(tiny_pyramid):
    img = tiny_image()
    out = inject(tiny_pyramid, img, 2, seed_or_key=0, n=3)
    assert out.shape == (3, 3, 32, 36)
    assert not np.allclose(out[0], out[1])
    np.testing.assert_array_equal(out, inject(tiny_pyramid, img, 2, seed_or_key=0, n=3))


def test_errors(tiny_pyramid):
    img, comp, mask = _composite()
    with pytest.raises(InputError, match="does not match"):
        harmonize(tiny_pyramid, comp, mask[:-1], 1)
    with pytest.raises(PyramidMismatchError, match="channels"):
        harmonize(tiny_pyramid, comp[:2], mask, 1)
    with pytest.raises(ScaleError):
        harmonize(tiny_pyramid, comp, mask, 0)
    with pytest.raises(ScaleError):
        harmonize(tiny_pyramid, comp, mask, 7)
    with pytest.raises(InputError, match="empty"):
        harmonize(tiny_pyramid, comp, np.zeros_like(mask), 1)
    bad = comp.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        harmonize(tiny_pyramid, bad, mask, 1)


def _truncated(pyramid, scales=2):
    from dataclasses import replace

    return replace(pyramid, stages=pyramid.stages[:scales])


@pytest.mark.parametrize(
    "entry,call",
    [
        ("inject", lambda p, img, m: inject(p, img, 1)),
        ("harmonize", lambda p, img, m: harmonize(p, img, m, 1)),
        ("edit", lambda p, img, m: edit(p, img, m, 1)),
        ("sample", lambda p, img, m: sample(p, 0, 2)),
    ],
)
def test_every_entry_point_refuses_an_incomplete_pyramid(tiny_pyramid, entry, call, ledger):
    """The defect: inject on a checkpoint returned a smaller image (and harmonize then failed
    inside NumPy); sample already refused. Now all of them refuse alike."""
    _, comp, mask = _composite()
    partial = _truncated(tiny_pyramid)
    assert not partial.complete and partial.num_trained == 2
    ledger.bad(
        f"engine.{entry}",
        call,
        partial,
        comp,
        mask,
        error=InputError,
        match="needs a complete pyramid.*trained to scale 1 of 2",
    )


def test_a_timedelta_mask_is_refused_not_cast():
    with pytest.raises(InputError, match="mask must be boolean or real-valued"):
        blend_mask(np.zeros((20, 20), "timedelta64[s]"), BlendConfig.harmonization())


def _blend_case(h=48, w=48):
    rng = np.random.default_rng(0)
    comp = rng.uniform(0.2, 0.4, (2, h, w)).astype(np.float32)
    mask = np.zeros((h, w), bool)
    mask[16:32, 14:34] = True
    comp[:, mask] = 0.9  # a bright pasted lesion
    gen = comp.copy()
    gen[:, mask] = 0.3 + rng.normal(0, 0.02, (2, int(mask.sum())))  # the generator erases it
    return comp, gen, mask


@pytest.mark.parametrize("lesion", ["regenerate", "keep_core", "restore_contrast"])
def test_blend_back_leaves_far_pixels_alone_and_stays_between_inputs(lesion):
    comp, gen, mask = _blend_case()
    cfg = BlendConfig(lesion=lesion)
    out = blend_back(comp, gen, mask, cfg)
    far = blend_mask(mask, cfg) == 0
    assert out.shape == comp.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, far], comp[:, far])


def test_blend_back_regenerate_is_the_published_formula():
    comp, gen, mask = _blend_case()
    m = blend_mask(mask)
    np.testing.assert_allclose(
        blend_back(comp, gen, mask, BlendConfig.harmonization()),
        (1 - m) * comp + m * gen,
        atol=1e-6,
    )


@pytest.mark.parametrize("lesion", ["keep_core", "restore_contrast"])
def test_lesion_modes_keep_the_lesion_the_published_blend_erases(lesion):
    comp, gen, mask = _blend_case()
    core = np.zeros_like(mask)
    core[20:28, 18:30] = True  # well inside the lesion
    published = blend_back(comp, gen, mask, BlendConfig.harmonization())
    kept = blend_back(comp, gen, mask, BlendConfig(lesion=lesion))
    assert published[:, core].mean() < 0.4  # regenerated: the lesion is gone
    np.testing.assert_allclose(kept[:, core].mean(), 0.9, atol=0.03)
    if lesion == "restore_contrast":  # the generator's texture is kept, only its mean moves
        assert kept[:, core].std() > 0.5 * gen[:, core].std()


def test_a_wider_core_ramp_softens_the_lesion_border_and_keeps_its_centre():
    """``core_sigma`` trades seam for contrast (docs/lesion_fidelity.md, "Softer lesion
    edges"): each wider ramp lowers the gradient on the paste border, and the lesion's
    centre stays the paste's."""
    from singan_augment.metrics import seam_strength

    comp, gen, mask = _blend_case()
    seams, centres = [], []
    for sigma in (1.0, 2.0, 3.0, 4.0):
        out = blend_back(comp, gen, mask, BlendConfig(lesion="keep_core", core_sigma=sigma))
        seams.append(seam_strength(out, mask))
        centres.append(out[:, 22:26, 22:26].mean())
    assert all(a > b for a, b in zip(seams, seams[1:])), seams
    # the paste is 0.9 there and the generator's 0.3; the ramp only nibbles at it
    np.testing.assert_allclose(centres[:3], 0.9, atol=0.025)
    assert min(centres) > 0.8
    assert seams[-1] < 0.8 * seam_strength(comp, mask)


def test_blend_back_rejects_mismatched_shapes():
    comp, gen, mask = _blend_case()
    with pytest.raises(InputError, match="same"):
        blend_back(comp, gen[:, :-1], mask)
    with pytest.raises(InputError, match="mask shape"):
        blend_back(comp, gen, mask[:-1])


@pytest.mark.parametrize(
    "kwargs, field",
    [({"lesion": "keep"}, "lesion"), ({"core_erosion": -1}, "core_erosion"),
     ({"contrast_sigma": 0.0}, "contrast_sigma")],
)  # fmt: skip
def test_blend_config_names_the_bad_field(kwargs, field):
    with pytest.raises(InputError, match=field):
        BlendConfig(**kwargs)


def test_blend_config_round_trips_and_tumour_keeps_the_core():
    cfg = BlendConfig.tumour()
    assert (cfg.lesion, cfg.core_erosion, cfg.core_sigma) == ("keep_core", 1, 3.0)
    vol = BlendConfig.tumour(spatial_dims=3)  # volumes keep the 1-voxel ramp
    assert (vol.lesion, vol.core_erosion, vol.core_sigma) == ("keep_core", 1, 1.0)
    with pytest.raises(InputError, match="spatial_dims must be 2 or 3, got 4"):
        BlendConfig.tumour(spatial_dims=4)
    assert BlendConfig.from_dict(cfg.to_dict()) == cfg
    assert BlendConfig.harmonization().lesion == "regenerate"


def test_harmonize_with_tumour_blend_differs_only_inside_the_paste(tiny_pyramid):
    _, comp, mask = _composite(h=64, w=72)
    a = harmonize(tiny_pyramid, comp, mask, 1, seed_or_key=3)
    b = harmonize(tiny_pyramid, comp, mask, 1, seed_or_key=3, blend=BlendConfig.tumour())
    inside = np.zeros_like(mask)
    inside[6:8, 7:10] = True  # the paste's core (the paste is 6 x 7 px)
    assert (
        np.abs(b[:, inside] - comp[:, inside]).max() < np.abs(a[:, inside] - comp[:, inside]).max()
    )
    outside = blend_mask(mask) == 0
    np.testing.assert_array_equal(a[:, outside], b[:, outside])


# --- volumes ---------------------------------------------------------------------------------


def _volume_composite():
    from singan_augment.testing import tiny_volume

    vol = tiny_volume(mask=True)
    mask = np.zeros(vol.shape[1:], bool)
    mask[3:7, 9:13, 8:12] = True
    comp = vol.copy()
    comp[0, mask] = 100.0  # a bright naive paste, labelled
    comp[1, mask] = 1.0
    return vol, comp, mask


def test_volume_injection_and_harmonization(tiny_volume_pyramid):
    pyr = tiny_volume_pyramid
    vol, comp, mask = _volume_composite()
    a = inject(pyr, vol, 1, 5, 2)
    assert a.shape == (2, 2, 14, 16, 15) and a.dtype == np.float32
    np.testing.assert_array_equal(a, inject(pyr, vol, 1, 5, 2))
    assert not np.allclose(a[0], a[1])
    out = harmonize(
        pyr, comp, mask, 2, seed_or_key=0, blend=BlendConfig(dilation_radius=2, sigma=1.0)
    )
    m = blend_mask(mask, BlendConfig(dilation_radius=2, sigma=1.0))
    assert out.shape == comp.shape and m.shape == mask.shape and (m == 0).any()
    np.testing.assert_array_equal(out[:, m == 0], comp[:, m == 0])  # far voxels untouched
    assert not np.allclose(out[:, m > 0.5], comp[:, m > 0.5])


def test_a_volume_at_another_spacing_is_run_at_the_pyramids_own(tiny_volume_pyramid):
    """An input at half the pyramid's spacing (twice the voxels over the same extent) is
    resampled to the pyramid's grid, injected there and resampled back onto its own grid."""
    from singan_augment.engine.scales import resize

    vol, _, _ = _volume_composite()
    pyr = tiny_volume_pyramid
    hwc = np.moveaxis(vol, 0, -1)
    fine = np.moveaxis(np.asarray(resize(hwc, (28, 32, 30))), -1, 0)
    out = inject(pyr, fine, 2, 0, 1, spacing=(1.0, 0.5, 0.5))
    assert out.shape == (1, 2, 28, 32, 30)
    direct = inject(pyr, vol, 2, 0, 1)[0]  # the same physical volume at the pyramid's spacing
    back = np.moveaxis(np.asarray(resize(np.moveaxis(out[0], 0, -1), (14, 16, 15))), -1, 0)
    span = pyr.channels.high[0] - pyr.channels.low[0]
    assert np.mean(np.abs(back[0] - direct[0])) < 0.1 * span


def test_images_and_volumes_are_not_mixed(tiny_pyramid, tiny_volume_pyramid):
    vol, comp, mask = _volume_composite()
    with pytest.raises(PyramidMismatchError, match="a volume, but this pyramid is 2-D"):
        inject(tiny_pyramid, np.zeros((3, 14, 16, 15), np.float32), 1)
    with pytest.raises(PyramidMismatchError, match="an image, but this pyramid is 3-D"):
        inject(tiny_volume_pyramid, np.zeros((2, 16, 15), np.float32), 1)
    with pytest.raises(InputError, match="mask shape"):
        harmonize(tiny_volume_pyramid, comp, mask[0], 1)
