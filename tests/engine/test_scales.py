import jax.numpy as jnp
import numpy as np
import pytest

from singan_augment.engine.config import PyramidConfig
from singan_augment.engine.scales import build_pyramid, pyramid_shapes, resize, scale_shapes
from singan_augment.errors import InputError


def test_reference_shapes_for_186x248():
    # SinGAN's adjust_scales2image on 186x248 gives 9 scales from 25x34 to 186x248.
    shapes = scale_shapes(186, 248)
    assert len(shapes) == 9
    assert shapes[0] == (25, 34)
    assert shapes[-1] == (186, 248)


@pytest.mark.parametrize("h,w", [(25, 25), (40, 33), (100, 250), (300, 500), (513, 97)])
def test_shapes_are_monotone_and_bounded(h, w):
    cfg = PyramidConfig()
    shapes = scale_shapes(h, w, cfg)
    assert min(shapes[0]) == cfg.min_size
    assert max(shapes[-1]) <= cfg.max_size
    for a, b in zip(shapes, shapes[1:]):
        assert b[0] >= a[0] and b[1] >= a[1]


@pytest.mark.parametrize("n", [2, 4, 5, 6])
@pytest.mark.parametrize("h,w", [(400, 533), (187, 151), (512, 512), (750, 1000)])
def test_a_fixed_scale_count_spaces_the_scales_evenly_between_the_same_ends(h, w, n):
    published = scale_shapes(h, w, PyramidConfig(max_size=128))
    shapes = scale_shapes(h, w, PyramidConfig(max_size=128, num_scales=n))
    assert len(shapes) == n
    assert shapes[0] == published[0] and shapes[-1] == published[-1]  # the same two ends
    ratios = [b[0] / a[0] for a, b in zip(shapes, shapes[1:])]
    assert max(ratios) - min(ratios) < 0.1  # even steps in log size, up to rounding
    assert all(r > 1 for r in ratios)


def test_a_fixed_scale_count_applies_to_volumes():
    cfg = PyramidConfig(min_size=12, max_size=64, num_scales=4)
    shapes = pyramid_shapes((60, 72, 50), cfg)
    assert len(shapes) == 4 and min(shapes[0]) == 12 and shapes[-1] == (54, 64, 45)  # capped
    assert all(all(b > a for a, b in zip(p, q)) for p, q in zip(shapes, shapes[1:]))


def test_a_fixed_scale_count_is_checked():
    with pytest.raises(InputError, match="num_scales"):
        PyramidConfig(num_scales=1)
    with pytest.raises(InputError, match="num_scales"):
        PyramidConfig(num_scales=-2)
    with pytest.raises(InputError, match="num_scales 30 is too many"):
        scale_shapes(40, 50, PyramidConfig(num_scales=30))
    # a pyramid file written before the field existed loads with the published count
    assert PyramidConfig.from_dict({"scale_factor": 0.75, "min_size": 25, "max_size": 250}) == (
        PyramidConfig()
    )


def test_too_small_image_is_rejected():
    with pytest.raises(InputError, match="min_size"):
        scale_shapes(20, 100)


def test_resize_keeps_float_precision_and_range():
    x = jnp.linspace(-1, 1, 40 * 50 * 2, dtype=jnp.float32).reshape(40, 50, 2)
    y = resize(x, (20, 25))
    assert y.shape == (20, 25, 2) and y.dtype == jnp.float32
    # A smooth ramp downsampled stays a ramp with non-quantised values (no uint8 round trip).
    assert len(np.unique(np.asarray(y))) > 256
    assert float(y.min()) >= -1.05 and float(y.max()) <= 1.05


def test_resize_antialiases():
    # A checkerboard at Nyquist averages to ~0 when downsampled with antialiasing.
    yy, xx = np.mgrid[0:64, 0:64]
    board = jnp.asarray(((yy + xx) % 2 * 2 - 1).astype(np.float32))[..., None]
    small = resize(board, (16, 16))
    assert float(jnp.abs(small).max()) < 0.1


def test_build_pyramid_shapes():
    x = jnp.zeros((40, 50, 3))
    shapes = scale_shapes(40, 50)
    pyr = build_pyramid(x, shapes)
    assert [p.shape[:2] for p in pyr] == shapes


@pytest.mark.parametrize(
    "h,w,cfg,need",
    [
        (48, 64, PyramidConfig(max_size=32), 34),  # 25x34 -> 24x32 "coarsest" above the finest
        (30, 1000, PyramidConfig(), 834),  # finest 8x250: the 2x64 "scale" of the old code
        (40, 200, PyramidConfig(max_size=100), 125),  # finest 20x100
    ],
)
def test_inverted_pyramids_are_refused_before_training(h, w, cfg, need, ledger):
    match = rf"max_size {cfg.max_size} .*min_size {cfg.min_size}.*at least {need}"
    ledger.bad("engine.scale_shapes", scale_shapes, h, w, cfg, error=InputError, match=match)


def test_fit_refuses_an_inverted_pyramid_before_any_training():
    from singan_augment import fit

    with pytest.raises(InputError, match="inverted"):
        fit(
            np.ones((1, 48, 64), np.float32),
            pyramid_config=PyramidConfig(max_size=32),
            progress=False,
        )


def test_clamped_pyramid_stays_in_range_where_bicubic_rings():
    """A hard edge from -1 to 1 rings under antialiased bicubic resizing: the unclamped
    pyramid leaves [-1, 1], the clamped one (ModelConfig.clamp, the reference's behaviour)
    does not, and both agree away from the overshoot."""
    img = -np.ones((40, 44, 2), np.float32)
    img[:, 20:] = 1.0
    img[10:14, :, 1] = 1.0
    shapes = [(25, 27), (31, 34), (40, 44)]
    raw = build_pyramid(jnp.asarray(img), shapes)
    clamped = build_pyramid(jnp.asarray(img), shapes, clamp=True)
    assert max(float(jnp.abs(r).max()) for r in raw[:-1]) > 1.01
    for r, c in zip(raw, clamped):
        assert float(jnp.abs(c).max()) <= 1.0
        np.testing.assert_array_equal(np.asarray(c), np.clip(np.asarray(r), -1, 1))
