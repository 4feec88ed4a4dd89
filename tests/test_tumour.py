"""Procedural tumour patches: shapes, ranges, label nesting, contrast logic, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from singan_augment.errors import InputError
from singan_augment.tumour import CONTRASTS, TumourPatch, make_tumour, paste_tumour


@pytest.mark.parametrize("size", [16, 33, 48, 64])
def test_shapes_dtypes_ranges(size):
    t = make_tumour(0, size=size)
    assert isinstance(t, TumourPatch)
    assert t.image.shape == (3, size, size) and t.image.dtype == np.float32
    assert 0 <= t.image.min() and t.image.max() <= 1
    assert t.label.shape == (size, size) and t.label.dtype == np.uint8
    assert set(np.unique(t.label)) == {0, 1, 2, 3}
    assert t.mask.dtype == bool and np.array_equal(t.mask, t.label > 0)
    assert t.contrasts == ("t1", "t2w", "flair")
    # lesion stays clear of the patch border
    assert not t.mask[0].any() and not t.mask[-1].any()
    assert not t.mask[:, 0].any() and not t.mask[:, -1].any()


@pytest.mark.parametrize("seed", range(12))
def test_label_nesting(seed):
    t = make_tumour(seed)
    core = t.label == 1
    rim_filled = ndi.binary_fill_holes((t.label == 1) | (t.label == 2))
    oedema_filled = ndi.binary_fill_holes(t.mask)
    assert core.any() and (t.label == 2).any() and (t.label == 3).any()
    assert np.all(rim_filled[core])
    assert np.all(oedema_filled[rim_filled])
    # the rim encloses the core: core never touches oedema or outside
    grown = ndi.binary_dilation(core)
    assert not np.any(grown & (t.label == 3)) and not np.any(grown & (t.label == 0))
    # oedema encloses the tumour
    assert not np.any(ndi.binary_dilation(rim_filled) & (t.label == 0))
    # a single connected lesion
    assert ndi.label(t.mask)[1] == 1


def _region_means(t):
    return {
        c: [float(t.image[i][t.label == k].mean()) for k in range(4)]
        for i, c in enumerate(t.contrasts)
    }


@pytest.mark.parametrize("seed", [0, 5, 17])
def test_contrast_logic(seed):
    m = _region_means(make_tumour(seed, size=64))
    bg, core, rim, oed = range(4)
    # T2w / FLAIR: oedema bright vs background white matter
    assert m["t2w"][oed] > m["t2w"][bg] + 0.2 and m["flair"][oed] > m["flair"][bg] + 0.1
    # T1: core dark, rim brighter than core, oedema hypointense vs white matter
    assert m["t1"][core] < m["t1"][rim] and m["t1"][core] < m["t1"][oed] < m["t1"][bg]
    # FLAIR: necrotic core darker than oedema; T2w core (fluid) brightest
    assert m["flair"][core] < m["flair"][oed]
    assert m["t2w"][core] > m["t2w"][oed] > m["t2w"][rim]


def test_texture_present():
    t = make_tumour(3, size=64)
    oed = ndi.binary_erosion(t.label == 3, iterations=2)
    assert t.image[1][oed].std() > 0.01


def test_deterministic_and_seed_dependent():
    a, b, c = make_tumour(7), make_tumour(7), make_tumour(8)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert not np.array_equal(a.label, c.label)
    assert not np.allclose(a.image, c.image)


def test_contrast_selection_and_aliases():
    full = make_tumour(2)
    sub = make_tumour(2, contrasts=("flair_sim", "t1"))
    assert sub.contrasts == ("flair", "t1") and sub.image.shape[0] == 2
    assert np.array_equal(sub.image[0], full.image[2]) and np.array_equal(sub.label, full.label)
    one = make_tumour(2, contrasts="t2")
    assert one.contrasts == ("t2w",) and np.array_equal(one.image[0], full.image[1])
    assert set(CONTRASTS) == {"t1", "t2w", "flair"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": -1},
        {"seed": 1.5},
        {"seed": 0, "size": 8},
        {"seed": 0, "contrasts": ("t1", "pd")},
        {"seed": 0, "contrasts": ()},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_tumour(**kwargs)


def test_frozen():
    t = make_tumour(0)
    with pytest.raises(AttributeError):
        t.seed = 1  # type: ignore[misc]


def test_unknown_contrasts_random_is_deterministic_and_bounded():
    kw = {"contrasts": ("t1", "image", "pd"), "unknown_contrasts": "random"}
    a, b = make_tumour(4, 24, **kw), make_tumour(4, 24, **kw)
    assert a.contrasts == ("t1", "image", "pd") and a.image.shape == (3, 24, 24)
    assert a.image.dtype == np.float32 and 0 <= a.image.min() and a.image.max() <= 1
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    # random levels depend on the seed and the name, not on the channel's position
    other = make_tumour(5, 24, **kw)
    assert not np.allclose(_region_means(a)["image"], _region_means(other)["image"])
    assert not np.allclose(_region_means(a)["image"], _region_means(a)["pd"])
    moved = make_tumour(4, 24, ("pd", "image"), unknown_contrasts="random")
    assert np.array_equal(moved.image[1], a.image[1])


def test_unknown_contrasts_option_leaves_shape_and_known_levels_alone():
    known = make_tumour(6, 32)
    mixed = make_tumour(6, 32, ("t1", "x", "flair", "T1CE"), unknown_contrasts="random")
    assert np.array_equal(mixed.label, known.label) and np.array_equal(mixed.mask, known.mask)
    assert np.array_equal(mixed.image[0], known.image[0])
    assert np.array_equal(mixed.image[2], known.image[2])
    # contrast-enhanced T1: same as t1 but an enhancing rim brighter than white matter
    assert mixed.contrasts[3] == "t1c"
    m = _region_means(mixed)["t1c"]
    assert m[2] > m[0] > m[3] > m[1]
    assert make_tumour(6, 32, ("t1",), unknown_contrasts="random").contrasts == ("t1",)


@pytest.mark.parametrize("contrasts", [("t1", "pd"), ("t1c",), ("image",)])
def test_unknown_contrast_still_raises_by_default(contrasts):
    with pytest.raises(InputError, match="unknown contrast"):
        make_tumour(0, contrasts=contrasts)
    with pytest.raises(InputError, match="unknown contrast"):
        make_tumour(0, contrasts=contrasts, unknown_contrasts="raise")


@pytest.mark.parametrize("bad", ["ignore", None, "Random"])
def test_bad_unknown_contrasts_option(bad):
    with pytest.raises(InputError, match="unknown_contrasts"):
        make_tumour(0, unknown_contrasts=bad)
    with pytest.raises(InputError, match="at least one"):
        make_tumour(0, contrasts=(), unknown_contrasts="random")


def test_paste_tumour_puts_lesion_pixels_only_and_labels_them():
    from singan_augment.tumour import paste_tumour

    tum = make_tumour(4, size=24)
    host = np.full((3, 60, 50), 0.4, np.float32)
    comp, label, mask = paste_tumour(host, tum, (30, 25))
    assert comp.shape == host.shape and label.dtype == np.uint8
    np.testing.assert_array_equal(mask, label > 0)
    assert mask.sum() == tum.mask.sum()  # fully inside: every lesion pixel lands
    np.testing.assert_array_equal(comp[:, ~mask], host[:, ~mask])
    np.testing.assert_array_equal(
        np.sort(comp[:, mask].ravel()), np.sort(tum.image[:, tum.mask].ravel())
    )
    assert set(np.unique(label[mask])) <= {1, 2, 3}


def test_paste_tumour_respects_within_and_the_border():
    from singan_augment.tumour import paste_tumour

    tum = make_tumour(4, size=24)
    host = np.zeros((3, 40, 40), np.float32)
    within = np.zeros((40, 40), bool)
    within[:, :20] = True
    _, label, mask = paste_tumour(host, tum, (20, 20), within=within)
    assert mask.any() and not mask[:, 20:].any()
    _, _, edge = paste_tumour(host, tum, (0, 0))  # cropped at the corner
    assert 0 < edge.sum() < tum.mask.sum()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"host": np.zeros((2, 40, 40))}, "C = 3"),
        ({"centre": (500, 500)}, "no lesion pixel"),
        ({"within": np.zeros((40, 40), bool)}, "no lesion pixel"),
        ({"within": np.ones((4, 4), bool)}, "within mask shape"),
    ],
)
def test_paste_tumour_bad_input(kwargs, match):
    from singan_augment.tumour import paste_tumour

    args = {"host": np.zeros((3, 40, 40)), "patch": make_tumour(1, size=24), "centre": (20, 20)}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        paste_tumour(**args)


# --- 3-D lesions -----------------------------------------------------------------------------


def test_a_3d_lesion_is_nested_connected_and_deterministic():
    p = make_tumour(seed=3, size=32, spatial_dims=3)
    assert p.image.shape == (3, 32, 32, 32) and p.label.shape == (32, 32, 32)
    assert p.image.dtype == np.float32 and 0.0 <= p.image.min() and p.image.max() <= 1.0
    assert set(np.unique(p.label)) == {0, 1, 2, 3}
    # nesting in 3-D: the core lies inside the rim-filled region, which lies inside the oedema
    tumour = (p.label == 1) | (p.label == 2)
    assert ndi.label(p.mask)[1] == 1 and ndi.label(tumour)[1] == 1
    assert not (ndi.binary_dilation(p.label == 1) & (p.label == 3)).any()  # rim between
    assert not p.mask[[0, 1, -2, -1]].any()  # 2 voxels clear of the border
    q = make_tumour(seed=3, size=32, spatial_dims=3)
    np.testing.assert_array_equal(p.image, q.image)
    np.testing.assert_array_equal(p.label, q.label)
    # the contrasts follow the tabled levels: FLAIR brightest in the oedema, T1 darkest in the core
    med = {k: np.median(p.image[:, p.label == k], axis=1) for k in (1, 2, 3)}
    assert med[3][2] > med[2][2] > med[1][2] and med[1][0] < med[3][0]


def test_a_3d_lesion_pastes_into_a_volume():
    p = make_tumour(seed=1, size=20, spatial_dims=3)
    host = np.full((3, 30, 32, 28), 0.5, np.float32)
    within = np.ones((30, 32, 28), bool)
    within[:, :, :14] = False  # only the right half may receive the lesion
    comp, label, mask = paste_tumour(host, p, (15, 16, 14), within=within)
    assert comp.shape == host.shape and label.shape == mask.shape == (30, 32, 28)
    assert mask.any() and not mask[:, :, :14].any()
    np.testing.assert_array_equal(comp[:, ~mask], host[:, ~mask])
    assert (comp[:, mask] != 0.5).any()
    with pytest.raises(InputError, match="centre must have 3 coordinates"):
        paste_tumour(host, p, (15, 16))
    with pytest.raises(InputError, match=r"\(C, D, H, W\)"):
        paste_tumour(host[:, 0], p, (15, 16, 14))


@pytest.mark.parametrize("dims", [1, 4, True])
def test_bad_lesion_dimensionality_is_refused(dims):
    with pytest.raises(InputError, match="spatial_dims must be 2 or 3"):
        make_tumour(seed=0, size=16, spatial_dims=dims)
