"""Growing-generator files: round trips, a checkpoint of an unfinished model, and every kind
of bad file refused with a PyramidFileError that names it."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from singan_augment.engine.growing_fit import init_growing_model, sample_growing
from singan_augment.errors import PyramidFileError
from singan_augment.files.growing_files import FILE_NAME, META_KEY, load_growing, save_growing
from singan_augment.testing import (
    TINY_GROWING,
    TINY_GROWING_CRITIC,
    TINY_GROWING_PYRAMID,
    tiny_growing_image,
)


@pytest.fixture
def model(tiny_growing):
    return tiny_growing


def test_a_saved_model_loads_equal_and_samples_the_same(model, tmp_path):
    path = save_growing(model, tmp_path)
    assert path.name == FILE_NAME and [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
    back = load_growing(tmp_path)
    for a, b in zip(
        jax.tree.leaves((model.params, model.critic)), jax.tree.leaves((back.params, back.critic))
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (back.amps, back.shapes, back.seed) == (model.amps, model.shapes, model.seed)
    assert back.spec == model.spec
    assert (back.growing_config, back.model_config, back.train_config) == (
        model.growing_config, model.model_config, model.train_config,
    )  # fmt: skip
    np.testing.assert_array_equal(sample_growing(back, 1, 2), sample_growing(model, 1, 2))


def test_an_untrained_model_round_trips(tmp_path):
    fresh = init_growing_model(
        tiny_growing_image(1), 0, growing_config=TINY_GROWING, model_config=TINY_GROWING_CRITIC,
        pyramid_config=TINY_GROWING_PYRAMID,
    )  # fmt: skip
    save_growing(fresh, tmp_path)
    back = load_growing(tmp_path)
    assert back.params is None and back.num_trained == 0 and not back.complete
    np.testing.assert_array_equal(np.asarray(back.z_opt), np.asarray(fresh.z_opt))
    assert back.shapes == fresh.shapes


def rewrite(path, tensors=None, meta=None):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(path), framework="np") as f:
        old_meta = json.loads(f.metadata()[META_KEY])
    t = load_file(str(path))
    if tensors is not None:
        t = tensors(t)
    m = old_meta if meta is None else meta(old_meta)
    save_file(t, str(path), metadata={META_KEY: json.dumps(m)})


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(b"not a safetensors file"), "not a readable"),
        (lambda p: p.unlink(), "no such file"),
        (lambda p: rewrite(p, meta=lambda m: {**m, "version": 99}), "unsupported version 99"),
        (
            lambda p: rewrite(p, meta=lambda m: {**m, "format": "other"}),
            "not a singan-augment-growing",
        ),
        (
            lambda p: rewrite(p, meta=lambda m: {k: v for k, v in m.items() if k != "seed"}),
            "malformed",
        ),
        (
            lambda p: rewrite(p, tensors=lambda t: {k: v for k, v in t.items() if k != "g/tail/b"}),
            "missing \\['g/tail/b'\\]",
        ),
        (
            lambda p: rewrite(p, tensors=lambda t: {**t, "g/head/b": np.zeros(7, np.float32)}),
            "misshapen \\['g/head/b'\\]",
        ),
        (lambda p: rewrite(p, meta=lambda m: {**m, "amps": m["amps"][:1]}), "1 amplitudes"),
    ],
)
def test_bad_files_are_refused_by_name(model, tmp_path, damage, message):
    save_growing(model, tmp_path)
    damage(tmp_path / FILE_NAME)
    with pytest.raises(PyramidFileError, match=message):
        load_growing(tmp_path)
