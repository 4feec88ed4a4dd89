import jax.numpy as jnp
import numpy as np
import pytest

from singan_augment.engine.config import PyramidConfig
from singan_augment.engine.scales import build_pyramid, resize, scale_shapes
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
