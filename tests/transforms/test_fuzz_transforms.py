"""Fuzz the MONAI and TorchIO transforms with bad tensors, bad arguments and odd subjects.

Every bad input must end in a ``SinGANError`` subclass raised by our code with a message
naming the problem (MONAI's own missing-key ``KeyError`` is accepted where MONAI raises it).
Valid edge cases (odd sizes, integer dtypes, 1-channel pyramids) must return finite tensors of
the input's shape.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchio as tio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from singan_augment.transforms import (
    RandomSinGAN,
    RandomSinGANTumour,
    RandSinGANSample,
    RandSinGANSampled,
    SinGANTumourHarmonized,
)

from singan_augment.errors import InputError, PyramidFileError, PyramidMismatchError, ScaleError
from singan_augment.testing import tiny_image, tiny_image_with_mask

FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def image(c=3, h=32, w=36):
    return torch.from_numpy(tiny_image(c, h, w))


bad_tensors = st.one_of(
    st.sampled_from([1, 2, 4, 7]).map(lambda c: ("channels", image(c))),
    st.sampled_from([(32, 36), (1, 1, 3, 32, 36), (3,), ()]).map(
        lambda s: ("shape", torch.zeros(s))
    ),
    st.sampled_from([(3, 0, 36), (3, 32, 0)]).map(lambda s: ("empty", torch.zeros(s))),
    st.sampled_from([(3, 2, 2), (3, 1, 36), (3, 3, 40)]).map(lambda s: ("small", torch.rand(s))),
    st.tuples(
        st.sampled_from([float("nan"), float("inf"), -float("inf")]),
        st.integers(0, 2),
        st.integers(0, 31),
        st.integers(0, 35),
    ).map(lambda t: ("finite", _poke(image(), t))),
    st.sampled_from(
        [
            torch.zeros(3, 32, 36, dtype=torch.complex64),
            "t1.nii.gz",
            None,
            [[1, 2], [3, 4]],
        ]
    ).map(lambda v: ("type", v)),
)

MATCH = {
    "channels": "channel",
    "shape": "shape|expected|dimension|channel",
    "empty": "empty|small|size|shape",
    "small": "small|size|spatial_axis",
    "finite": "NaN|Inf|finite",
    "type": "dtype|type|tensor|array|real",
}


def _poke(t, spec):
    v, c, y, x = spec
    t = t.clone()
    t[c, y, x] = v
    return t


@FUZZ
@given(case=bad_tensors)
def test_monai_array_transform_refuses_bad_tensors(ledger, tiny_pyramid, case):
    what, x = case
    t = RandSinGANSample(tiny_pyramid, prob=1.0, start_scale=1)
    ledger.bad("transforms.monai", t, x, error=InputError, match=MATCH[what])


@FUZZ
@given(case=bad_tensors)
def test_monai_dict_transform_refuses_bad_tensors(ledger, tiny_pyramid, case):
    what, x = case
    t = RandSinGANSampled(["image"], pyramid=tiny_pyramid, prob=1.0, start_scale=(0, 2))
    ledger.bad("transforms.monai", t, {"image": x}, error=InputError, match=MATCH[what])


@FUZZ
@given(case=bad_tensors.filter(lambda c: c[0] not in ("type", "shape")))
def test_torchio_transform_refuses_bad_tensors(ledger, tiny_pyramid, case):
    what, x = case
    subject = tio.Subject(image=tio.ScalarImage(tensor=x[..., None]))
    t = RandomSinGAN(tiny_pyramid, start_scale=1)
    ledger.bad("transforms.torchio", t, subject, error=InputError, match=MATCH[what])


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(start_scale=9), ScaleError, "out of range"),
        (dict(start_scale=(2, 1)), InputError, "lo <= hi"),
        (dict(start_scale="1"), InputError, "start_scale"),
        (dict(start_scale=(0, 1, 2)), InputError, "start_scale"),
        (dict(mode="inject", start_scale=0), ScaleError, "inject"),
        (dict(mode="blend"), InputError, "mode"),
        (dict(slices="middle"), InputError, "slices"),
        (dict(pyramid="/nonexistent/pyr"), PyramidFileError, "no such pyramid"),
        (dict(pyramid=42), InputError, "Pyramid or a directory"),
        (dict(pyramid=None), InputError, "pyramid"),
        (dict(spatial_axis=7), InputError, "spatial_axis"),
        (dict(cache_size=0), InputError, "cache_size"),
    ],
)
def test_monai_bad_arguments_are_refused_at_construction_or_first_call(
    ledger, tiny_pyramid, kwargs, error, match
):
    kw = dict(pyramid=tiny_pyramid, prob=1.0, start_scale=1) | kwargs

    def build_and_call():
        t = RandSinGANSampled(["image"], **kw)
        return t({"image": image()})

    ledger.bad("transforms.monai", build_and_call, error=error, match=match)


def test_monai_dict_refuses_mismatched_labels_and_keys(ledger, tiny_label_pyramid):
    img_mask = tiny_image_with_mask()
    img, lab = torch.from_numpy(img_mask[:1]), torch.from_numpy(img_mask[1:])
    t = RandSinGANSampled(
        ["image", "label"], pyramid=tiny_label_pyramid, prob=1.0, start_scale=0, label_key="label"
    )
    cases = [
        ({"image": img, "label": lab[:, :20]}, "spatial shape"),
        ({"image": img, "label": lab * 7}, "0..1"),
        ({"image": img, "label": lab - 1}, "0..1"),
        ({"image": img.repeat(2, 1, 1), "label": lab}, "channels"),
        ({"image": img, "label": torch.full_like(lab, float("nan"))}, "NaN"),
    ]
    for data, match in cases:
        ledger.bad("transforms.monai", t, data, error=InputError, match=match)
    ledger.bad(
        "transforms.monai",
        RandSinGANSampled,
        ["image"],
        pyramid=tiny_label_pyramid,
        label_key="seg",
        error=InputError,
        match="label_key",
    )
    ledger.bad(
        "transforms.monai", t, {"image": img}, error=KeyError, match="label", check_origin=False
    )


def test_tumour_transform_refuses_bad_inputs(ledger, tiny_pyramid):
    x = image()
    brain = torch.zeros(1, 32, 36)
    brain[:, 4:28, 4:32] = 1

    def call(kw, data):
        return SinGANTumourHarmonized(["image"], pyramid=tiny_pyramid, **kw)(data)

    cases = [
        (dict(brain_mask_key="brain"), {"image": x}, InputError, "brain_mask_key"),
        (
            dict(brain_mask_key="brain"),
            {"image": x, "brain": torch.zeros(1, 32, 36)},
            InputError,
            "empty",
        ),
        (dict(injection_scale=0), {"image": x}, ScaleError, "scale >= 1"),
        (dict(injection_scale=5), {"image": x}, ScaleError, "out of range"),
        (dict(label_key="image"), {"image": x}, InputError, "label_key"),
        (dict(patch_size=(20, 10)), {"image": x}, InputError, "lo <= hi"),
        (dict(zoom_range=(2.0, 1.0)), {"image": x}, InputError, "lo <= hi"),
        (dict(location=(100, 100)), {"image": x}, InputError, "outside"),
        (dict(), {"image": image(2)}, PyramidMismatchError, "channel"),
        (dict(), {"image": _poke(x, (float("nan"), 0, 3, 3))}, InputError, "NaN"),
    ]
    for kw, data, error, match in cases:
        ledger.bad("transforms.monai_tumour", call, kw, data, error=error, match=match)
    subject = tio.Subject(image=tio.ScalarImage(tensor=image(4)[..., None]))
    ledger.bad(
        "transforms.torchio_tumour",
        RandomSinGANTumour(tiny_pyramid),
        subject,
        error=PyramidMismatchError,
        match="channel",
    )


@pytest.mark.parametrize(
    "x",
    [
        image(h=27, w=29),  # smaller than the training size, odd
        image(h=64, w=18),  # other aspect ratio
        torch.from_numpy(tiny_image().astype(np.uint8)),  # integer dtype
        torch.from_numpy(tiny_image()).double(),
        image() * 1e4,  # far outside the training range: extrapolated, still finite
    ],
)
def test_valid_edge_cases_keep_shape_dtype_and_finiteness(ledger, tiny_pyramid, x):
    t = RandSinGANSampled(["image"], pyramid=tiny_pyramid, prob=1.0, start_scale=(1, 2))
    t.set_random_state(0)
    out = ledger.good("transforms.monai", t, {"image": x})["image"]
    assert out.shape == x.shape
    assert out.dtype == (x.dtype if x.is_floating_point() else torch.float32)
    assert torch.isfinite(out.float()).all()
