import numpy as np
import pytest

from singan_augment.engine.sample import output_shapes, sample
from singan_augment.errors import InputError, ScaleError


@pytest.mark.parametrize("start", [0, 1, 2])
def test_shapes_ranges_and_determinism(tiny_pyramid, start):
    a = sample(tiny_pyramid, 7, 3, start_scale=start)
    b = sample(tiny_pyramid, 7, 3, start_scale=start)
    h, w = tiny_pyramid.shapes[-1]
    assert a.images.shape == (3, 3, h, w) and a.images.dtype == np.float32
    assert a.labels is None
    np.testing.assert_array_equal(a.images, b.images)
    # samples differ from each other, and outputs are in (about) the training range
    assert not np.allclose(a.images[0], a.images[1])
    lo, hi = np.array(tiny_pyramid.channels.low), np.array(tiny_pyramid.channels.high)
    span = hi - lo
    assert (a.images.min(axis=(0, 2, 3)) >= lo - span).all() and (
        a.images.max(axis=(0, 2, 3)) <= hi + span
    ).all()


def test_different_seeds_differ(tiny_pyramid):
    assert not np.allclose(sample(tiny_pyramid, 1).images, sample(tiny_pyramid, 2).images)


def test_higher_start_scale_stays_closer_to_training_image(tiny_pyramid):
    real = tiny_pyramid.channels.denormalise(np.moveaxis(np.asarray(tiny_pyramid.reals[-1]), -1, 0))
    err = [np.mean((sample(tiny_pyramid, 3, 4, start_scale=k).images - real) ** 2) for k in (0, 2)]
    assert err[1] < err[0]


def test_arbitrary_size_and_factors(tiny_pyramid):
    assert sample(tiny_pyramid, 0, 2, size=(40, 64)).images.shape == (2, 3, 40, 64)
    h, w = tiny_pyramid.shapes[-1]
    out = sample(tiny_pyramid, 0, 1, factors=(1.0, 2.0)).images
    assert out.shape == (1, 3, h, 2 * w)


def test_label_pyramid_decodes_labels(tiny_label_pyramid):
    s = sample(tiny_label_pyramid, 0, 4)
    assert s.labels.shape == (4, *tiny_label_pyramid.shapes[-1])
    assert s.labels.dtype == np.uint8 and set(np.unique(s.labels)) <= {0, 1}
    assert 0.0 <= s.images[:, 1].min() and s.images[:, 1].max() <= 1.0


@pytest.mark.parametrize("scale", [3, -4, 99])
def test_out_of_range_start_scale(tiny_pyramid, scale):
    with pytest.raises(ScaleError, match="out of range"):
        sample(tiny_pyramid, 0, start_scale=scale)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"size": (0, 10)}, "size"),
        ({"factors": (float("nan"), 1)}, "factors"),
        ({"size": (2, 2)}, "too small"),
    ],
)
def test_bad_sizes(tiny_pyramid, kwargs, match):
    with pytest.raises(InputError, match=match):
        output_shapes(tiny_pyramid, **kwargs)


def test_n_must_be_positive(tiny_pyramid):
    with pytest.raises(InputError, match="number of samples"):
        sample(tiny_pyramid, 0, 0)


# --- volumes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [0, 2])
def test_volume_samples_shapes_labels_and_determinism(tiny_volume_pyramid, start):
    pyr = tiny_volume_pyramid
    a = sample(pyr, 3, 2, start_scale=start)
    b = sample(pyr, 3, 2, start_scale=start)
    assert a.images.shape == (2, 2, 14, 16, 15) and a.images.dtype == np.float32
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.allclose(a.images[0], a.images[1])
    # the label channel stays a probability, and its decoded map is a discrete 3-D label map
    # that marks only voxels whose label probability is above the decoder's low threshold
    lab = a.images[:, 1]
    assert lab.min() >= 0.0 and lab.max() <= 1.0
    assert a.labels.shape == (2, 14, 16, 15) and a.labels.dtype == np.uint8
    assert set(np.unique(a.labels)) <= {0, 1}
    fg = lab[a.labels == 1]
    assert fg.size == 0 or np.mean(fg > 0.4) > 0.9  # hole filling may add a few fainter voxels


def test_volume_samples_at_another_size(tiny_volume_pyramid):
    s = sample(tiny_volume_pyramid, 0, 1, size=(10, 20, 18))
    assert s.images.shape == (1, 2, 10, 20, 18) and s.labels.shape == (1, 10, 20, 18)
    shapes = output_shapes(tiny_volume_pyramid, factors=(1.0, 2.0, 1.0))
    assert shapes[-1] == (14, 32, 15) and shapes[0] == (12, 28, 13)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": (16, 16)}, r"three positive integers \(D, H, W\)"),
        ({"factors": (1.0, 1.0)}, "three positive finite"),
        ({"size": (300, 300, 300)}, "too large"),
    ],
)
def test_volume_sizes_are_checked(tiny_volume_pyramid, kwargs, match):
    with pytest.raises(InputError, match=match):
        sample(tiny_volume_pyramid, 0, 1, **kwargs)
