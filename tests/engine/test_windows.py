"""Training windows (``TrainConfig.crop``): where a window may fall, that the generator
confined to it computes the window's part of its whole output, and that training on windows
is deterministic, resumable, checked, and the published step where a window would cover the
whole scale."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from singan_augment.engine.config import TrainConfig
from singan_augment.engine.fit import fit, init_pyramid
from singan_augment.engine.generate import draw_noises, run_chain
from singan_augment.engine.scales import pad
from singan_augment.engine.windows import Window, random_window, take_window, window_size
from singan_augment.errors import InputError
from singan_augment.files.pyramid_files import load_pyramid, save_pyramid
from singan_augment.testing import (
    TINY_MODEL,
    TINY_PYRAMID,
    TINY_VOLUME_MODEL,
    TINY_VOLUME_PYRAMID,
    stage_leaves,
    tiny_image,
    tiny_volume,
    untrained_pyramid,
)


@pytest.mark.parametrize(
    "shape, crop, expect",
    [
        ((32, 36), 0, None),  # published: the whole scale
        ((32, 36), 36, None),  # a window as large as the scale is the scale
        ((32, 36), 100, None),
        ((32, 36), 20, (20, 20)),
        ((32, 36), 34, (32, 34)),  # only the longer side is cut
        ((12, 40, 16), 14, (12, 14, 14)),  # a volume
    ],
)
def test_the_window_is_the_crop_within_the_scale(shape, crop, expect):
    assert window_size(shape, crop) == expect


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 40), min_size=2, max_size=3),
    frac=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_a_random_window_lies_inside_and_take_window_is_slicing(shape, frac, seed):
    size = [max(1, int(round(s * frac))) for s in shape]
    win = random_window(jax.random.PRNGKey(seed), shape, size)
    starts = [int(v) for v in win.starts]
    assert win.size == tuple(size)
    assert all(0 <= a <= s - w for a, s, w in zip(starts, shape, size))
    x = np.random.default_rng(seed).standard_normal((2, *shape, 3)).astype(np.float32)
    want = x[(slice(None), *(slice(a, a + w) for a, w in zip(starts, size)), slice(None))]
    np.testing.assert_array_equal(np.asarray(take_window(jnp.asarray(x), win)), want)


def test_every_position_of_a_window_is_drawn():
    shape, size = (6, 9), (4, 5)  # 3 x 5 positions
    seen = {
        tuple(int(v) for v in random_window(k, shape, size).starts)
        for k in jax.random.split(jax.random.PRNGKey(0), 400)
    }
    assert seen == {(r, c) for r in range(3) for c in range(5)}


@pytest.mark.parametrize("volume", [False, True])
def test_the_confined_generator_computes_the_windows_part_of_its_output(volume):
    """In eval mode (BatchNorm from running averages) the last generator confined to a window
    gives exactly the window of its whole output, through a chain of two generators, at every
    position tried, borders included."""
    if volume:
        pyr = untrained_pyramid(
            tiny_volume(), model_config=TINY_VOLUME_MODEL, pyramid_config=TINY_VOLUME_PYRAMID
        )
    else:
        pyr = untrained_pyramid(tiny_image(), model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID)
    mcfg, shapes, stages = pyr.model_config, pyr.shapes[1:], pyr.stages[1:]
    noises = draw_noises(jax.random.PRNGKey(3), 1, shapes, pyr.num_channels, False)
    noise_p = [pad(s.amp * z, mcfg.pad) for s, z in zip(stages, noises)]
    prev = jax.random.uniform(jax.random.PRNGKey(4), (1, *shapes[0], pyr.num_channels)) - 0.5
    args = ([s.params for s in stages], [s.stats for s in stages], prev, noise_p, shapes, mcfg)
    whole, _ = run_chain(*args, train=False)
    size = tuple(max(1, s - 5) for s in shapes[-1])
    corners = [tuple(0 for _ in size), tuple(s - w for s, w in zip(shapes[-1], size))]
    for starts in [*corners, tuple(2 for _ in size)]:
        win = Window(tuple(jnp.int32(v) for v in starts), size)
        part, _ = run_chain(*args, train=False, window=win)
        assert part.shape == (1, *size, pyr.num_channels)
        np.testing.assert_allclose(
            np.asarray(part), np.asarray(take_window(whole, win)), rtol=0, atol=1e-6
        )


KW = dict(model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID, progress=False)
CROPPED = TrainConfig(iters=8, crop=20)  # every scale of the tiny pyramid (25x29 .. 32x36) cut


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(stage_leaves(a), stage_leaves(b), strict=True))


@pytest.fixture(scope="module")
def cropped():
    return fit(tiny_image(), 0, train_config=CROPPED, **KW)


def test_training_on_windows_is_deterministic_and_differs_from_the_whole(cropped):
    again = fit(tiny_image(), 0, train_config=CROPPED, **KW)
    whole = fit(tiny_image(), 0, train_config=dataclasses.replace(CROPPED, crop=0), **KW)
    assert _same(cropped, again)
    assert not _same(cropped, whole)
    assert cropped.train_config.crop == 20
    assert all(np.isfinite(v).all() for v in stage_leaves(cropped))


def test_a_window_covering_every_scale_is_the_published_step():
    from singan_augment.engine.train import make_iteration

    shapes = [(25, 29), (29, 32), (32, 36)]
    for n in range(3):
        step = make_iteration(n, shapes, 3, TINY_MODEL, TrainConfig(crop=36))
        assert step is make_iteration(n, shapes, 3, TINY_MODEL, TrainConfig())
    assert make_iteration(2, shapes, 3, TINY_MODEL, TrainConfig(crop=30)) is not (
        make_iteration(2, shapes, 3, TINY_MODEL, TrainConfig())
    )


def test_a_resumed_run_on_windows_is_the_uninterrupted_one(tmp_path, cropped):
    class Crash(Exception):
        pass

    def crash_after_scale_0(pyrs, scale, _):
        save_pyramid(pyrs[0], tmp_path / "ckpt")
        if scale == 0:
            raise Crash

    with pytest.raises(Crash):
        fit(tiny_image(), 0, train_config=CROPPED, on_scale_done=crash_after_scale_0, **KW)
    partial = load_pyramid(tmp_path / "ckpt", require_complete=False)
    assert partial.num_trained == 1 and partial.train_config.crop == 20
    assert _same(fit(tiny_image(), 0, train_config=CROPPED, resume=partial, **KW), cropped)


@pytest.mark.parametrize("bad", [-1, 2.5, "20", True])
def test_the_crop_is_checked_by_the_config(bad):
    with pytest.raises(InputError, match="TrainConfig.crop"):
        TrainConfig(crop=bad)
    assert TrainConfig.from_dict({"iters": 5}).crop == 0  # a pyramid.json from before it


def test_the_crop_is_part_of_the_schedule():
    from singan_augment.engine.schedules import schedule, schedule_name, with_schedule

    assert schedule_name(dataclasses.replace(schedule("singan"), crop=64)) == "custom"
    assert with_schedule(TrainConfig(crop=64), "singan").crop == schedule("singan").crop


@pytest.mark.parametrize("crop", [1, 4])  # TINY_MODEL's critic border: 2 * pad = 4
def test_a_window_the_critic_cannot_see_through_is_refused_before_training(crop):
    with pytest.raises(InputError, match=r"TrainConfig.crop .* 4 pixels, got " + str(crop)):
        init_pyramid(tiny_image(), 0, model_config=TINY_MODEL, train_config=TrainConfig(crop=crop))


def test_a_volume_trains_on_windows():
    """Volumes take windows along all three axes: a window of 12 voxels cuts every scale of
    the tiny volume pyramid (12x14x13 .. 14x16x15), and the training stays finite and moves the
    reconstruction (noise amplitudes below the [-1, 1] range)."""
    from singan_augment.engine.fit import reconstruction_rmse

    pyr = fit(
        tiny_volume(),
        0,
        model_config=TINY_VOLUME_MODEL,
        pyramid_config=TINY_VOLUME_PYRAMID,
        train_config=TrainConfig(iters=4, crop=12),
        progress=False,
    )
    assert pyr.complete and pyr.train_config.crop == 12
    assert all(window_size(s, 12) is not None for s in pyr.shapes[1:])
    amps = [float(s.amp) for s in pyr.stages]
    assert amps[0] == 1.0 and all(0 < a < 1 for a in amps[1:])
    assert all(np.isfinite(r) for r in reconstruction_rmse(pyr))
