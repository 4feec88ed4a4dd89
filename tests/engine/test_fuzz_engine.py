"""Fuzz the engine API (fit, sample, inject/harmonize/edit, label helpers) with bad inputs.

Each bad input must end in a ``SinGANError`` subclass raised by our own code, with a message
naming the problem (see ``fuzzing.Ledger``). Valid edge cases must give finite results of the
documented shape. Counts are printed at the end of the session.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from singan_augment.engine.channels import check_image, decode_labels, one_hot
from singan_augment.engine.fit import fit, fit_many, init_pyramid
from singan_augment.engine.harmonize import blend_mask, edit, harmonize, inject
from singan_augment.engine.sample import output_shapes, sample
from singan_augment.errors import InputError, PyramidMismatchError, ScaleError
from singan_augment.testing import TINY_MODEL, TINY_PYRAMID, TINY_TRAIN, tiny_image

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KW = dict(model_config=TINY_MODEL, train_config=TINY_TRAIN, pyramid_config=TINY_PYRAMID)

# --- strategies of bad images -------------------------------------------------------------

wrong_rank = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=6).filter(lambda s: len(s) != 3),
)
wrong_label_rank = hnp.arrays(  # label channels: (K, H, W) or, for volumes, (K, D, H, W)
    np.float32,
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=6).filter(
        lambda s: len(s) not in (3, 4)
    ),
)
empty = (
    st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 40))
    .filter(lambda s: 0 in s)
    .map(lambda s: np.zeros(s, np.float32))
)
bad_dtype = st.sampled_from(
    [
        np.zeros((3, 32, 36), np.complex64),
        np.zeros((3, 32, 36), bool),
        np.full((3, 32, 36), "a"),
        np.empty((3, 32, 36), object),
        np.zeros((3, 32, 36), "datetime64[s]"),
        np.zeros((3, 32, 36), "timedelta64[s]"),  # a numpy "integer" that is no image
        None,
        "t1.png",
        [[["x"]]],
    ]
)


@st.composite
def non_finite(draw, shape=(3, 32, 36)):
    img = tiny_image(*[shape[0]], h=shape[1], w=shape[2])
    n = draw(st.integers(1, 5))
    idx = draw(
        st.lists(
            st.tuples(*[st.integers(0, s - 1) for s in shape]), min_size=n, max_size=n, unique=True
        )
    )
    for i in idx:
        img[i] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return img


def overflowing(dtype=np.float64):
    img = tiny_image().astype(dtype)
    img[0, 3, 4] = 1e300  # finite in float64, infinite in float32
    return img


# --- fit / init_pyramid ---------------------------------------------------------------------


@FUZZ
@given(image=st.one_of(wrong_rank, empty, bad_dtype))
def test_fit_refuses_malformed_images(ledger, image):
    err = ledger.bad("engine.fit", fit, image, 0, progress=False, **KW, error=InputError)
    assert str(err).startswith("image "), err  # the message names the offending argument


@FUZZ
@given(image=non_finite())
def test_fit_refuses_non_finite_images(ledger, image):
    err = ledger.bad("engine.fit", fit, image, 0, progress=False, **KW, match="non-finite")
    assert f"contains {int((~np.isfinite(image)).sum())} non-finite" in str(err)  # exact count


@pytest.mark.parametrize("h,w", [(1, 1), (1, 400), (24, 400), (10, 10), (3, 2000)])
def test_fit_refuses_images_below_the_coarsest_scale(ledger, h, w):
    err = ledger.bad(
        "engine.fit", fit, np.ones((1, h, w), np.float32), 0, progress=False, **KW, match="min_size"
    )
    assert f"image is {h}x{w}" in str(err)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(channel_names=["a", "b"]), "3 channels"),
        (dict(channel_names=["a", "a", "b"]), "unique"),
        (dict(channel_names=["a", "b", "c"], label_channels=["z"]), "not among"),
        (dict(channel_names=["a", "b", "c"], label_channels=["c"]), "binary"),
        (dict(seed="7"), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(seed=True), "seed"),
        (dict(seed=2**70), "64 bits"),
        (dict(seed=None), "seed"),
    ],
)
def test_fit_refuses_bad_arguments(ledger, kwargs, match):
    seed = kwargs.pop("seed", 0)
    err = ledger.bad(
        "engine.fit", fit, tiny_image(), seed, progress=False, **kwargs, **KW, match=match
    )
    assert isinstance(err, InputError)


def test_fit_refuses_values_that_overflow_float32(ledger):
    err = ledger.bad("engine.fit", fit, overflowing(), 0, progress=False, **KW, match="float32")
    assert "has 1 values outside the float32 range" in str(err)


@pytest.mark.parametrize(
    "cfg",
    [
        dict(pyramid_config=dict(min_size=0)),
        dict(pyramid_config=dict(scale_factor=1.5)),
        dict(pyramid_config=dict(scale_factor=0.0)),
        dict(pyramid_config=dict(max_size=20)),
        dict(train_config=dict(iters=0)),
        dict(model_config=dict(num_layers=1)),
        dict(label_decode=dict(low=0.9, high=0.1)),
    ],
)
def test_configs_refuse_out_of_range_values(ledger, cfg):
    from singan_augment.engine import config

    ((which, values),) = cfg.items()
    cls = {
        "pyramid_config": config.PyramidConfig,
        "train_config": config.TrainConfig,
        "model_config": config.ModelConfig,
        "label_decode": config.LabelDecodeConfig,
    }[which]
    err = ledger.bad("engine.config", cls, **values, error=InputError)
    assert any(field in str(err) for field in values), err  # names the bad field


def test_configs_refuse_unknown_fields_from_json(ledger):
    from singan_augment.engine.config import TrainConfig

    err = ledger.bad(
        "engine.config",
        TrainConfig.from_dict,
        {"iters": 3, "learning_rate_typo": 1},
        match="unknown",
    )
    assert "learning_rate_typo" in str(err)


def test_fit_many_refuses_mismatched_pyramids(ledger):
    a = init_pyramid(tiny_image(), 0, **KW)
    b = init_pyramid(tiny_image(h=40, w=44), 1, **KW)
    err = ledger.bad("engine.fit_many", fit_many, [a, b], progress=False, match="identical")
    assert isinstance(err, PyramidMismatchError)
    err = ledger.bad("engine.fit_many", fit_many, [], progress=False, match="at least one")
    assert isinstance(err, InputError)
    err = ledger.bad(
        "engine.fit_many", fit_many, [a], stop_scale=9, progress=False, match="out of range"
    )
    assert "stop_scale 9" in str(err)
    assert a.num_trained == 0  # a refused call trains nothing


def test_fit_accepts_extreme_but_valid_images(ledger):
    # A constant image, a huge dynamic range and 1000 channels are valid: the pyramid builds.
    for img in (
        np.ones((3, 32, 36), np.float32),
        np.full((2, 32, 36), 2**62, np.int64) * np.arange(2)[:, None, None],
        np.ones((1000, 26, 26), np.float32),
    ):
        pyr = ledger.good("engine.fit", init_pyramid, img, 0, **KW)
        assert all(bool(np.isfinite(np.asarray(r)).all()) for r in pyr.reals)
        assert min(pyr.shapes[0]) == TINY_PYRAMID.min_size
        assert all(a <= b for s, t in zip(pyr.shapes, pyr.shapes[1:]) for a, b in zip(s, t))


def test_fit_refuses_an_elongated_image_whose_pyramid_would_be_inverted(ledger):
    # 30x4000 with max_size 36: the finest scale would be 1x36, below the 25-px coarsest one.
    img = np.linspace(0, 1, 4000 * 30, dtype=np.float32).reshape(1, 30, 4000)
    ledger.bad("engine.fit", init_pyramid, img, 0, error=InputError, match="inverted", **KW)


# --- sample -----------------------------------------------------------------------------------

bad_counts = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=1025, max_value=10**9),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.none(),
    st.just(True),
)
bad_scales = st.one_of(
    st.integers(min_value=3),
    st.integers(max_value=-4),
    st.floats(),
    st.text(max_size=2),
    st.none(),
    st.just(True),
)
bad_sizes = st.one_of(
    st.tuples(st.integers(max_value=0), st.integers(1, 64)),
    st.tuples(st.integers(1, 64), st.integers(-5, 0)),
    st.tuples(st.integers(4097 * 4097 // 64 + 1, 10**9), st.integers(64, 10**9)),
    st.tuples(st.floats(0.1, 60).filter(lambda f: f != int(f)), st.integers(30, 60)),
    st.tuples(st.just(float("nan")), st.integers(30, 60)),
    st.tuples(st.integers(30, 60)),
    st.tuples(st.integers(30, 60), st.integers(30, 60), st.integers(30, 60)),
    st.tuples(st.text(max_size=2), st.integers(30, 60)),
    st.tuples(st.integers(1, 2), st.integers(1, 2)),  # the coarsest scale would be < 3 px
)
bad_factors = st.one_of(
    st.tuples(st.floats(max_value=0.0), st.floats(0.5, 2)),
    st.tuples(st.just(float("inf")), st.floats(0.5, 2)),
    st.tuples(st.just(float("nan")), st.floats(0.5, 2)),
    st.tuples(st.floats(200, 1e6), st.floats(200, 1e6)),
    st.tuples(st.floats(1e-6, 0.05), st.floats(0.5, 2)),
    st.tuples(st.floats(0.5, 2)),
)
bad_seeds = st.one_of(
    st.floats(),
    st.text(max_size=3),
    st.none(),
    st.just(True),
    st.integers(min_value=2**63),
    st.integers(max_value=-(2**63) - 1),
    st.just(np.zeros(3, np.uint32)),
    st.just(np.zeros(2, np.float32)),
)


@FUZZ
@given(n=bad_counts)
def test_sample_refuses_bad_counts(ledger, tiny_pyramid, n):
    ledger.bad("engine.sample", sample, tiny_pyramid, 0, n, error=InputError, match="samples")


@FUZZ
@given(scale=bad_scales)
def test_sample_refuses_bad_start_scales(ledger, tiny_pyramid, scale):
    ledger.bad(
        "engine.sample",
        sample,
        tiny_pyramid,
        0,
        1,
        start_scale=scale,
        error=ScaleError,
        match="start_scale",
    )


@FUZZ
@given(size=bad_sizes)
def test_sample_refuses_bad_sizes(ledger, tiny_pyramid, size):
    ledger.bad(
        "engine.sample", sample, tiny_pyramid, 0, 1, size=size, error=InputError, match="size"
    )


@FUZZ
@given(factors=bad_factors)
def test_sample_refuses_bad_factors(ledger, tiny_pyramid, factors):
    ledger.bad(
        "engine.sample",
        sample,
        tiny_pyramid,
        0,
        1,
        factors=factors,
        error=InputError,
        match="factors|size",
    )


@FUZZ
@given(seed=bad_seeds)
def test_sample_refuses_bad_seeds(ledger, tiny_pyramid, seed):
    ledger.bad("engine.sample", sample, tiny_pyramid, seed, 1, error=InputError, match="seed")


def test_sample_refuses_size_and_factors_together_and_partial_pyramids(ledger, tiny_pyramid):
    from dataclasses import replace

    ledger.bad(
        "engine.sample", sample, tiny_pyramid, 0, 1, size=(32, 36), factors=(1, 1), match="either"
    )
    part = replace(tiny_pyramid, stages=tiny_pyramid.stages[:2])
    ledger.bad("engine.sample", sample, part, 0, 1, match="only trained")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(start_scale=-1),
        dict(start_scale=2, size=(9, 10)),
        dict(size=(25, 1000)),
        dict(factors=(0.3, 3.0)),
        dict(seed=-(2**63)),
        dict(seed=jax.random.PRNGKey(3)),
        dict(seed=jax.random.key(3)),
        dict(seed=np.int8(-3)),
    ],
)
def test_sample_edge_cases_give_finite_results_of_the_asked_shape(ledger, tiny_pyramid, kwargs):
    seed = kwargs.pop("seed", 0)
    out = ledger.good("engine.sample", sample, tiny_pyramid, seed, 2, **kwargs)
    want = output_shapes(tiny_pyramid, kwargs.get("size"), kwargs.get("factors"))[-1]
    assert out.images.shape == (2, 3, *want)
    assert np.isfinite(out.images).all()


# --- inject / harmonize / edit ------------------------------------------------------------


@FUZZ
@given(image=st.one_of(wrong_rank, empty, bad_dtype, non_finite()))
def test_inject_refuses_bad_images(ledger, tiny_pyramid, image):
    ledger.bad("engine.inject", inject, tiny_pyramid, image, 1, error=InputError)


@pytest.mark.parametrize("channels", [1, 2, 4, 30])
def test_harmonize_refuses_the_wrong_channel_count(ledger, tiny_pyramid, channels):
    comp = tiny_image(channels)
    mask = np.zeros(comp.shape[1:], bool)
    mask[10:20, 10:20] = True
    ledger.bad(
        "engine.harmonize",
        harmonize,
        tiny_pyramid,
        comp,
        mask,
        1,
        error=PyramidMismatchError,
        match=f"{channels} channels but the pyramid has 3",
    )


@FUZZ
@given(scale=bad_scales | st.just(0))
def test_harmonize_refuses_bad_injection_scales(ledger, tiny_pyramid, scale):
    comp = tiny_image()
    mask = np.zeros(comp.shape[1:], bool)
    mask[10:20, 10:20] = True
    ledger.bad(
        "engine.harmonize",
        harmonize,
        tiny_pyramid,
        comp,
        mask,
        scale,
        error=ScaleError,
        match="injection scale",
    )


@pytest.mark.parametrize(
    "mask,match",
    [
        (np.zeros((32, 36), bool), "empty"),
        (np.ones((31, 36), bool), "does not match"),
        (np.ones((36, 32), bool), "does not match"),
        (np.ones((1, 32, 36), bool), "does not match"),
        (np.full((32, 36), np.nan), "non-finite"),
        (np.ones((32, 36), complex), "mask"),
        (np.full((32, 36), "x"), "mask"),
    ],
)
def test_harmonize_and_edit_refuse_bad_masks(ledger, tiny_pyramid, mask, match):
    for fn in (harmonize, edit):
        ledger.bad(
            f"engine.{fn.__name__}",
            fn,
            tiny_pyramid,
            tiny_image(),
            mask,
            1,
            error=InputError,
            match=match,
        )


def test_blend_mask_refuses_bad_masks(ledger):
    for m, match in [
        (np.zeros((5,)), r"\(H, W\)"),
        (np.zeros((4, 4)), "empty"),
        (np.array([[np.inf]]), "non-finite"),
    ]:
        ledger.bad("engine.blend_mask", blend_mask, m, match=match)


def test_harmonize_one_pixel_mask_and_odd_sizes_stay_finite_and_local(ledger, tiny_pyramid):
    comp = tiny_image(h=41, w=29)
    mask = np.zeros((41, 29), bool)
    mask[20, 14] = True
    out = ledger.good("engine.harmonize", harmonize, tiny_pyramid, comp, mask, 2)
    assert out.shape == comp.shape and np.isfinite(out).all()
    m = blend_mask(mask)
    np.testing.assert_array_equal(out[:, m == 0], comp[:, m == 0])  # untouched far away


# --- label helpers ------------------------------------------------------------------------


@FUZZ
@given(probs=wrong_label_rank)
def test_decode_labels_refuses_wrong_rank(ledger, probs):
    ledger.bad("engine.decode_labels", decode_labels, probs, match=r"\(K, H, W\) or \(K, D, H, W\)")


@FUZZ
@given(
    labels=hnp.arrays(np.int16, (6, 7), elements=st.integers(-3, 9)),
    k=st.integers(1, 4),
)
def test_one_hot_refuses_out_of_range_labels_and_round_trips_valid_ones(ledger, labels, k):
    if labels.min() < 0 or labels.max() > k:
        ledger.bad("engine.one_hot", one_hot, labels, k, match="label values")
    else:
        oh = ledger.good("engine.one_hot", one_hot, labels, k)
        assert oh.shape == (k, 6, 7)
        np.testing.assert_array_equal((oh * np.arange(1, k + 1)[:, None, None]).sum(0), labels)


def test_check_image_names_the_offending_input(ledger):
    ledger.bad(
        "engine.check_image",
        check_image,
        np.zeros((2, 4, 4)),
        3,
        "composite",
        match="composite has 2 channels",
    )
