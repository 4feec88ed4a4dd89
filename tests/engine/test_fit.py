import jax
import numpy as np
import pytest

from singan_augment.engine.config import TrainConfig
from singan_augment.engine.fit import fit, fit_many, init_pyramid, reconstruction_rmse
from singan_augment.errors import InputError, PyramidMismatchError
from singan_augment.files.pyramid_files import load_pyramid, save_pyramid
from singan_augment.testing import TINY_MODEL, TINY_PYRAMID, TINY_TRAIN, tiny_image

KW = dict(
    model_config=TINY_MODEL, train_config=TINY_TRAIN, pyramid_config=TINY_PYRAMID, progress=False
)


def _leaves(pyr):
    return jax.tree.leaves([(s.params, s.stats, s.amp) for s in pyr.stages])


def test_reconstruction_error_falls_with_training():
    img = tiny_image()
    rmse = {}
    for iters in (2, 60):
        p = init_pyramid(
            img,
            0,
            model_config=TINY_MODEL,
            train_config=TrainConfig(iters=iters),
            pyramid_config=TINY_PYRAMID,
        )
        p = fit_many([p], stop_scale=0, progress=False)[0]
        rmse[iters] = reconstruction_rmse(p)[0]
    assert rmse[60] < 0.7 * rmse[2], rmse


class Crash(Exception):
    pass


def test_resume_is_equivalent_to_an_uninterrupted_run(tmp_path, tiny_pyramid):
    # tiny_pyramid was trained with seed 0 on tiny_image() with KW settings, uninterrupted.
    def crash_after_scale_0(pyrs, scale, _):
        save_pyramid(pyrs[0], tmp_path / "ckpt")
        if scale == 0:
            raise Crash

    with pytest.raises(Crash):
        fit(
            tiny_image(),
            0,
            channel_names=["t1", "t2", "flair"],
            on_scale_done=crash_after_scale_0,
            **KW,
        )
    partial = load_pyramid(tmp_path / "ckpt", require_complete=False)
    assert partial.num_trained == 1
    resumed = fit(tiny_image(), 0, channel_names=["t1", "t2", "flair"], resume=partial, **KW)
    for a, b in zip(_leaves(resumed), _leaves(tiny_pyramid), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resume_refuses_a_different_image(tiny_pyramid):
    partial = tiny_pyramid
    with pytest.raises(PyramidMismatchError, match="different image"):
        fit(tiny_image(seed=5), 0, channel_names=["t1", "t2", "flair"], resume=partial, **KW)


def test_fit_many_lanes_are_independent():
    # Each pyramid in a vmapped batch depends only on its own image and seed: swapping the
    # batch order gives bit-identical pyramids. (Batch-of-1 vs batch-of-2 agree only to float
    # rounding, which GAN training then amplifies, so that is not asserted bit for bit.)
    imgs = [tiny_image(seed=s) for s in (1, 2)]
    pyrs = [
        init_pyramid(
            im, s, model_config=TINY_MODEL, train_config=TINY_TRAIN, pyramid_config=TINY_PYRAMID
        )
        for s, im in enumerate(imgs)
    ]
    ab = fit_many(pyrs, stop_scale=0, progress=False)
    ba = fit_many(pyrs[::-1], stop_scale=0, progress=False)
    for a, b in zip(_leaves(ab[0]), _leaves(ba[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(_leaves(ab[0])[0]), np.asarray(_leaves(ab[1])[0]))


def test_fit_many_rejects_mixed_shapes():
    a = init_pyramid(tiny_image(h=32, w=36), 0, pyramid_config=TINY_PYRAMID)
    b = init_pyramid(tiny_image(h=30, w=30), 0, pyramid_config=TINY_PYRAMID)
    with pytest.raises(PyramidMismatchError):
        fit_many([a, b], progress=False)


@pytest.mark.parametrize(
    "image,match",
    [
        (np.full((3, 32, 32), np.nan, np.float32), "non-finite"),
        (np.zeros((3, 12, 40), np.float32), "min_size"),
        (np.zeros((32, 32), np.float32), "channel-first"),
    ],
)
def test_bad_training_images(image, match):
    with pytest.raises(InputError, match=match):
        fit(image, 0, **KW)


def test_channel_names_must_match():
    with pytest.raises(InputError, match="channel names"):
        fit(tiny_image(), 0, channel_names=["a", "b"], **KW)
