import numpy as np
import pytest
from scipy import ndimage

from singan_augment import metrics
from singan_augment.errors import InputError


def _texture(seed=0, h=64, w=64):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.standard_normal((1, h, w)), (0, 2, 2)).astype(np.float32)


def _shuffle_tiles(img, tile=16, seed=0):
    c, h, w = img.shape
    tiles = [
        img[:, y : y + tile, x : x + tile] for y in range(0, h, tile) for x in range(0, w, tile)
    ]
    order = np.random.default_rng(seed).permutation(len(tiles))
    rows = [
        np.concatenate([tiles[order[r * (w // tile) + k]] for k in range(w // tile)], 2)
        for r in range(h // tile)
    ]
    return np.concatenate(rows, 1)


def test_swd_identical_is_zero():
    img = _texture()
    assert metrics.sliced_wasserstein(img, img) < 1e-9


def test_swd_orders_shuffle_blur_noise():
    img = _texture()
    shuffled = metrics.sliced_wasserstein(_shuffle_tiles(img), img)
    noisy = metrics.sliced_wasserstein(np.random.default_rng(1).standard_normal(img.shape), img)
    blurred = metrics.sliced_wasserstein(ndimage.gaussian_filter(img, (0, 4, 4)), img)
    assert shuffled < 0.3 * noisy and shuffled < blurred


def test_swd_grows_with_noise():
    img = _texture()
    rng = np.random.default_rng(2)
    vals = [
        metrics.sliced_wasserstein(img + s * img.std() * rng.standard_normal(img.shape), img)
        for s in (0.1, 0.5, 2.0)
    ]
    assert vals[0] < vals[1] < vals[2]


def test_diversity_known_values():
    img = _texture()
    assert metrics.diversity(np.stack([img, img, img]), img) == 0.0
    # two samples at +-d: per-pixel std = d everywhere
    d = 0.5 * img.std()
    assert metrics.diversity(np.stack([img + d, img - d]), img) == pytest.approx(0.5, rel=1e-4)


def test_dice_known_values():
    a = np.zeros((10, 10), np.uint8)
    a[:5] = 1
    b = np.zeros_like(a)
    b[:, :5] = 1
    assert metrics.dice(a, a) == 1.0
    assert metrics.dice(a, 1 - a) == 0.0
    assert metrics.dice(a, b) == pytest.approx(0.5)


def test_seam_step_scores_higher_than_smooth_paste():
    img = np.full((1, 64, 64), 0.5) + 0.01 * np.random.default_rng(0).standard_normal((1, 64, 64))
    m = np.zeros((64, 64), bool)
    m[20:40, 20:40] = True
    step = img.copy()
    step[:, m] += 0.4
    smooth = img + 0.4 * ndimage.gaussian_filter(m.astype(float), 4)[None]
    assert metrics.seam_strength(step, m) > 2 * metrics.seam_strength(smooth, m)


def test_mask_consistency_of_detector_on_synthetic_nuclei():
    rgb = np.ones((3, 48, 48)) * np.array([0.95, 0.85, 0.9])[:, None, None]
    m = np.zeros((48, 48), bool)
    yy, xx = np.mgrid[0:48, 0:48]
    for cy, cx in ((12, 12), (30, 35), (36, 10)):
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 < 25
    rgb[:, m] = np.array([0.35, 0.3, 0.6])[:, None]
    assert metrics.mask_consistency(rgb, m) > 0.8
    assert metrics.mask_consistency(rgb, ~m) < 0.3


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: metrics.sliced_wasserstein(np.full((1, 16, 16), np.nan), np.zeros((1, 16, 16))),
            "non-finite",
        ),
        (
            lambda: metrics.sliced_wasserstein(np.zeros((2, 16, 16)), np.zeros((1, 16, 16))),
            "channels",
        ),
        (lambda: metrics.sliced_wasserstein(np.zeros((16, 16)), np.zeros((1, 16, 16))), "shape"),
        (lambda: metrics.diversity(np.zeros((1, 1, 8, 8)), np.zeros((1, 8, 8))), "at least 2"),
        (lambda: metrics.dice(np.zeros((3, 3)), np.zeros((4, 4))), "shape"),
        (lambda: metrics.seam_strength(np.zeros((1, 8, 8)), np.zeros((8, 8))), "empty"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(InputError, match=match):
        call()


def _lesion_image():
    img = np.full((2, 40, 40), 0.5)
    lab = np.zeros((40, 40), np.uint8)
    lab[10:30, 10:30] = 3  # oedema
    lab[16:24, 16:24] = 1  # core
    img[0][lab == 3], img[0][lab == 1] = 0.9, 0.1  # channel 0: bright oedema, dark core
    img[1][lab > 0] = 0.7
    return img, lab


def test_lesion_contrasts_and_conspicuity_known_values():
    img, lab = _lesion_image()
    con = metrics.lesion_contrasts(img, lab)
    np.testing.assert_allclose(con, [[-0.4, 0.2], [0.4, 0.2]])  # classes 1, 3 x channels
    # area-weighted |contrast|: the dark core and bright oedema do not cancel
    np.testing.assert_allclose(metrics.lesion_conspicuity(img, lab), [0.4, 0.2])
    np.testing.assert_allclose(metrics.lesion_conspicuity(img, lab > 0)[1], 0.2)


@pytest.mark.parametrize("fade", [0.0, 0.5, 1.0])
def test_lesion_fidelity_follows_the_fade(fade):
    img, lab = _lesion_image()
    faded = 0.5 + (1 - fade) * (img - 0.5)  # fade the lesion towards the background
    fid = metrics.lesion_fidelity(faded, img, lab)
    np.testing.assert_allclose(fid.retention, [1 - fade] * 2, atol=1e-9)
    assert fid.mean_retention == pytest.approx(1 - fade)
    assert fid.sign_agreement == (0.0 if fade == 1.0 else 1.0)


def test_lesion_metrics_take_volumes_with_a_3d_ring_and_seam_band():
    """A (C, D, H, W) volume whose middle slices hold the 2-D lesion: the same contrasts as
    the 2-D image (the 3-D ring lies in the same background); a 3-D step seam scores higher
    than a smoothed one."""
    img2, lab2 = _lesion_image()
    img = np.repeat(np.full_like(img2, 0.5)[:, None], 12, axis=1)
    lab = np.zeros((12, *lab2.shape), np.uint8)
    img[:, 3:9], lab[3:9] = img2[:, None], lab2
    np.testing.assert_allclose(metrics.lesion_contrasts(img, lab), [[-0.4, 0.2], [0.4, 0.2]])
    np.testing.assert_allclose(metrics.lesion_conspicuity(img, lab), [0.4, 0.2])
    fid = metrics.lesion_fidelity(0.5 + 0.5 * (img - 0.5), img, lab)
    np.testing.assert_allclose(fid.retention, [0.5, 0.5], atol=1e-9)
    m = lab > 0
    noise = 0.01 * np.random.default_rng(0).standard_normal(img.shape[1:])
    step = 0.5 + noise + 0.4 * m
    smooth = 0.5 + noise + 0.4 * ndimage.gaussian_filter(m.astype(float), 3)
    assert metrics.seam_strength(step, m) > 2 * metrics.seam_strength(smooth, m)
    with pytest.raises(InputError, match="does not match"):
        metrics.seam_strength(img, m[:-1])


def test_lesion_fidelity_catches_a_flipped_contrast():
    img, lab = _lesion_image()
    flipped = 1.0 - img  # as conspicuous, wrong polarity
    fid = metrics.lesion_fidelity(flipped, img, lab)
    assert fid.mean_retention == pytest.approx(1.0)
    assert fid.sign_agreement == 0.0


def test_lesion_fidelity_skips_channels_without_contrast():
    img, lab = _lesion_image()
    img[1] = 0.5
    fid = metrics.lesion_fidelity(img, img, lab)
    assert np.isnan(fid.retention[1]) and fid.mean_retention == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: metrics.lesion_conspicuity(np.zeros((1, 8, 8)), np.zeros((8, 8), bool)), "empty"),
        (lambda: metrics.lesion_conspicuity(np.zeros((1, 8, 8)), np.ones((8, 9), bool)), "shape"),
        (lambda: metrics.lesion_conspicuity(np.zeros((1, 8, 8)), np.ones((8, 8), bool)), "ring"),
        (lambda: metrics.lesion_conspicuity(np.zeros((1, 8, 8)), np.ones((8, 8))), "dtype"),
        (
            lambda: metrics.lesion_fidelity(
                np.zeros((1, 8, 8)), np.zeros((2, 8, 8)), np.eye(8, dtype=bool)
            ),
            "shapes differ",
        ),
    ],
)
def test_lesion_metrics_bad_inputs(call, match):
    with pytest.raises(InputError, match=match):
        call()


# --- volumes ---------------------------------------------------------------------------------


def _textured_volume(seed=0, shape=(20, 22, 21)):
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[tuple(slice(0, n) for n in shape)].astype(np.float64)
    base = np.sin(xx / 2.0) * np.cos(yy / 3.0) * np.cos(zz / 2.5)
    return np.stack([base + 0.1 * rng.standard_normal(shape), base**2]).astype(np.float32)


@pytest.mark.parametrize("plane", [None, "axial", "coronal", "sagittal"])
def test_volume_swd_is_zero_on_itself_and_grows_with_noise(plane):
    ref = _textured_volume()
    kw = dict(plane=plane, n_patches=512, n_projections=32, patch_size=5)
    assert metrics.volume_sliced_wasserstein(ref[None], ref, **kw) == 0.0
    rng = np.random.default_rng(1)
    small = metrics.volume_sliced_wasserstein(
        (ref + 0.1 * rng.standard_normal(ref.shape))[None], ref, **kw
    )
    large = metrics.volume_sliced_wasserstein(
        (ref + 1.0 * rng.standard_normal(ref.shape))[None], ref, **kw
    )
    assert 0 < small < large


def test_a_stack_of_unrelated_slices_is_caught_by_the_through_plane_planes():
    """Shuffling the axial slices of a volume leaves every axial patch as it was but breaks
    the coronal and sagittal ones, which is what a slice-wise 2-D stack of independent draws
    does to a volume; plain noise hurts every plane alike."""
    ref = _textured_volume()
    shuffled = ref[:, np.random.default_rng(0).permutation(ref.shape[1])]
    kw = dict(n_patches=2048, n_projections=32, patch_size=5)
    c = metrics.plane_coherence(shuffled[None], ref, **kw)
    assert c.axial < 0.3 * min(c.coronal, c.sagittal) and c.ratio > 3.0, c
    noisy = ref + 0.3 * np.random.default_rng(3).standard_normal(ref.shape)
    cn = metrics.plane_coherence(noisy[None].astype(np.float32), ref, **kw)
    assert cn.axial > c.axial and cn.ratio < 1.5, cn
    assert set(cn.to_dict()) == {"axial", "coronal", "sagittal", "ratio"}


def test_volume_diversity_and_bad_volumes():
    ref = _textured_volume()
    same = np.stack([ref, ref])
    assert metrics.volume_diversity(same, ref) == 0.0
    rng = np.random.default_rng(0)
    noisy = same + rng.standard_normal(same.shape)
    assert metrics.volume_diversity(noisy, ref) > 0.5
    with pytest.raises(InputError, match=r"\(C, D, H, W\) or \(N, C, D, H, W\)"):
        metrics.volume_sliced_wasserstein(ref[0], ref)
    with pytest.raises(InputError, match="plane must be one of"):
        metrics.volume_sliced_wasserstein(ref[None], ref, plane="oblique")
    with pytest.raises(InputError, match="smaller than the 7x7x7 patch"):
        metrics.volume_sliced_wasserstein(ref[None, :, :5], ref[:, :5])
    with pytest.raises(InputError, match="at least 2 samples"):
        metrics.volume_diversity(ref[None], ref)
