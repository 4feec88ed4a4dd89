import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from singan_augment.engine.channels import ChannelSpec, check_image, decode_labels, one_hot
from singan_augment.engine.config import LabelDecodeConfig
from singan_augment.errors import InputError


def test_normalise_round_trip():
    rng = np.random.default_rng(0)
    img = np.stack([rng.uniform(-500, 3000, (8, 9)), rng.uniform(0, 1, (8, 9))]).astype(np.float32)
    spec = ChannelSpec.from_image(img, ["ct", "mask"], [])
    n = spec.normalise(img)
    assert n.min() >= -1 - 1e-6 and n.max() <= 1 + 1e-6
    np.testing.assert_allclose(spec.denormalise(n), img, rtol=1e-5, atol=1e-3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=2))
def test_round_trip_property(bounds):
    lo, hi = sorted(bounds)
    img = np.linspace(lo, hi, 2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)
    spec = ChannelSpec.from_image(img)
    np.testing.assert_allclose(
        spec.denormalise(spec.normalise(img)), img, atol=1e-2 + 1e-5 * abs(hi)
    )


def test_spec_json_round_trip():
    spec = ChannelSpec.from_image(np.ones((2, 4, 4), np.float32), ["a", "b"], ["b"])
    assert ChannelSpec.from_dict(spec.to_dict()) == spec
    assert spec.kinds == ("image", "label")


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((4, 4)), "channel-first"),
        (np.full((1, 4, 4), np.nan), "non-finite"),
        (np.full((1, 4, 4), np.inf), "non-finite"),
        (np.zeros((0, 4, 4)), "empty"),
        (np.zeros((1, 4, 4), bool), "dtype"),
        (np.array([[["a"]]]), "dtype"),
    ],
)
def test_check_image_errors(bad, match):
    with pytest.raises(InputError, match=match):
        check_image(bad)


def test_wrong_channel_count():
    with pytest.raises(InputError, match="3 channels but the pyramid has 2"):
        check_image(np.zeros((3, 4, 4)), channels=2)


def test_label_channel_must_be_in_unit_range():
    img = np.stack([np.zeros((4, 4)), np.full((4, 4), 3.0)]).astype(np.float32)
    with pytest.raises(InputError, match="one_hot"):
        ChannelSpec.from_image(img, ["x", "lab"], ["lab"])


def test_one_hot_round_trip_through_decoder():
    lab = np.zeros((20, 20), np.uint8)
    lab[2:8, 2:8] = 1
    lab[10:18, 5:15] = 2
    lab[12:15, 16:19] = 3
    decoded = decode_labels(one_hot(lab, 3))
    np.testing.assert_array_equal(decoded, lab)


def test_decoder_drops_speckle_that_a_plain_threshold_keeps():
    rng = np.random.default_rng(0)
    probs = np.zeros((1, 32, 32), np.float32)
    probs[0, 8:20, 8:20] = 0.9  # one real object
    speckle = rng.random((32, 32)) < 0.03
    probs[0][speckle] = 0.55  # faint isolated speckle above 0.5
    decoded = decode_labels(probs)
    assert decoded[8:20, 8:20].all()
    outside = np.ones((32, 32), bool)
    outside[7:21, 7:21] = False
    assert decoded[outside].sum() == 0
    assert ((probs[0] > 0.5) & outside).sum() > 0  # the plain threshold would keep it


def test_decoder_keeps_soft_rim_connected_to_core():
    probs = np.zeros((1, 20, 20), np.float32)
    probs[0, 5:15, 5:15] = 0.45  # soft rim
    probs[0, 8:12, 8:12] = 0.95  # confident core
    decoded = decode_labels(probs, LabelDecodeConfig(high=0.6, low=0.4))
    assert decoded[5:15, 5:15].all() and decoded.sum() == 100


def test_decoder_output_is_valid_label_map():
    rng = np.random.default_rng(1)
    out = decode_labels(rng.random((3, 16, 16)).astype(np.float32))
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1, 2, 3}


def test_decode_labels_works_on_volumes_with_3d_components():
    """A (K, D, H, W) volume: a strong ball is kept with its faint rim (connected in 3-D
    across slices); a faint isolated blob in another slice is dropped."""
    zz, yy, xx = np.mgrid[0:9, 0:12, 0:12]
    r2 = (zz - 4) ** 2 + (yy - 5) ** 2 + (xx - 5) ** 2
    probs = np.where(r2 <= 4, 0.9, np.where(r2 <= 9, 0.45, 0.0)).astype(np.float32)
    probs[0, 9:12, 9:12] = 0.45  # faint, in slice 0 only, not touching the ball
    lab = decode_labels(probs[None])
    assert lab.shape == (9, 12, 12) and lab.dtype == np.uint8
    np.testing.assert_array_equal(lab == 1, r2 <= 9)
