import dataclasses

import jax
import numpy as np
import pytest

from singan_augment.engine.config import TrainConfig
from singan_augment.engine.fit import (
    coarsest_diversity,
    fit,
    fit_many,
    init_pyramid,
    reconstruction_rmse,
    scale_train_config,
)
from singan_augment.errors import InputError, PyramidMismatchError
from singan_augment.files.pyramid_files import load_pyramid, save_pyramid
from singan_augment.testing import (
    TINY_MODEL,
    TINY_PYRAMID,
    TINY_TRAIN,
    TINY_VOLUME_MODEL,
    TINY_VOLUME_PYRAMID,
    stage_leaves,
    tiny_image,
    tiny_volume,
)

KW = dict(
    model_config=TINY_MODEL, train_config=TINY_TRAIN, pyramid_config=TINY_PYRAMID, progress=False
)


def test_reconstruction_error_falls_with_training():
    img = tiny_image()
    rmse = {}
    # Three layers: the two-layer TINY_MODEL (5 px receptive field) barely learns to
    # reconstruct (RMSE 0.42 -> 0.37 in 60 iterations; three layers: 0.42 -> 0.23).
    model = dataclasses.replace(TINY_MODEL, num_layers=3)
    for iters in (2, 60):
        p = init_pyramid(
            img,
            0,
            model_config=model,
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
    for a, b in zip(stage_leaves(resumed), stage_leaves(tiny_pyramid), strict=True):
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
    for a, b in zip(stage_leaves(ab[0]), stage_leaves(ba[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(stage_leaves(ab[0])[0]), np.asarray(stage_leaves(ab[1])[0]))


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


@pytest.mark.parametrize(
    "decay, floor, start, expect",
    [
        (0.0, 1, 0, [40, 40, 40]),  # published: the same count at every scale
        (1.0, 1, 0, [40, 20, 10]),  # count falls with the area (areas 1x, 2x, 4x)
        (1.0, 15, 0, [40, 20, 15]),  # ... but not below iters_min
        (0.5, 1, 0, [40, 28, 20]),
        (1.0, 1, 1, [40, 40, 20]),  # full count up to scale 1, then falls from its area
        (1.0, 1, 9, [40, 40, 40]),  # a start beyond the pyramid: no scale falls
        (0.0, 1, 1, [40, 40, 40]),  # no decay: the start changes nothing
    ],
)
def test_scale_iters_follow_the_area(decay, floor, start, expect):
    cfg = TrainConfig(
        iters=40, iters_decay=decay, iters_min=floor, iters_decay_from=start, lr_drop_at=0.5
    )
    shapes = [(10, 10), (10, 20), (20, 20)]
    got = [cfg.scale_iters(n, shapes) for n in range(3)]
    assert [g[0] for g in got] == expect
    assert [g[1] for g in got] == [round(0.5 * n) for n in expect]


@pytest.mark.parametrize(
    "by_scale, expect",
    [
        ((), [40, 20, 10]),  # the rule alone (areas 1x, 2x, 4x)
        ((7,), [7, 20, 10]),  # the first scale set, the rest by the rule
        ((7, 9), [7, 9, 10]),
        ((7, 9, 11, 13), [7, 9, 11]),  # longer than the pyramid: its own scales only
    ],
)
def test_iters_by_scale_sets_the_first_scales_and_the_rule_the_rest(by_scale, expect):
    cfg = TrainConfig(iters=40, iters_decay=1.0, lr_drop_at=0.5, iters_by_scale=by_scale)
    shapes = [(10, 10), (10, 20), (20, 20)]
    got = [cfg.scale_iters(n, shapes) for n in range(3)]
    assert [g[0] for g in got] == expect
    assert [g[1] for g in got] == [round(0.5 * n) for n in expect]


@pytest.mark.parametrize("bad", [(0,), (2, -1), (1.5,), (True,), "12", [12]])
def test_iters_by_scale_is_part_of_the_schedule_and_checked(bad):
    import json

    from singan_augment.engine.schedules import schedule_name
    from singan_augment.engine.train import make_iteration

    with pytest.raises(InputError, match=r"iters_by_scale must be"):
        TrainConfig(iters_by_scale=bad)
    cfg = TrainConfig(iters_by_scale=(30, 20))
    assert schedule_name(cfg) == "custom"
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # a JSON list
    assert TrainConfig.from_dict({"iters": 5}).iters_by_scale == ()  # older pyramid.json
    # the counts live in the optimiser state: any counts share the published step
    shapes = [(10, 10), (10, 20), (20, 20)]
    assert make_iteration(1, shapes, 3, TINY_MODEL, cfg) is make_iteration(
        1, shapes, 3, TINY_MODEL, TrainConfig()
    )


@pytest.mark.parametrize(
    "growth, scales, expect",
    [
        (0.0, 0, [10.0, 10.0, 10.0]),  # published: alpha = 10 at every scale
        (1.0, 0, [10.0, 20.0, 40.0]),  # alpha grows with the area (areas 1x, 2x, 4x)
        (0.5, 0, [10.0, 10.0 * 2**0.5, 20.0]),
        (1.0, 1, [10.0, 10.0, 40.0]),  # only the finest scale grows
        (1.0, 2, [10.0, 20.0, 40.0]),
        (1.0, 5, [10.0, 20.0, 40.0]),  # more than the pyramid has: every scale
    ],
)
def test_scale_rec_weight_grows_with_the_area_and_reaches_the_step(growth, scales, expect):
    from singan_augment.engine.train import make_iteration

    cfg = TrainConfig(rec_weight_growth=growth, rec_weight_growth_scales=scales)
    shapes = [(10, 10), (10, 20), (20, 20)]
    got = [cfg.scale_rec_weight(n, shapes) for n in range(3)]
    np.testing.assert_allclose(got, expect)
    # alpha reaches the step through the scale's constants, so every alpha shares the
    # published step's compiled program
    from singan_augment.engine.train import scale_consts
    from singan_augment.testing import untrained_pyramid

    pyr = untrained_pyramid(tiny_image(), model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID)
    for n in range(pyr.num_scales):
        c = scale_consts(n, pyr.reals[n], pyr.stages, pyr.shapes, pyr.z_opt, cfg, TINY_MODEL)
        assert float(c.rec_weight) == pytest.approx(cfg.scale_rec_weight(n, pyr.shapes))
        step = make_iteration(n, shapes, 3, TINY_MODEL, cfg)
        assert step is make_iteration(n, shapes, 3, TINY_MODEL, TrainConfig())


def test_the_step_depends_only_on_how_many_generators_train():
    """Concurrency settings reach the compiled step only as k, the generators trained at the
    scale (and their lr scale when k > 1), so schedules share the published step where k = 1."""
    from singan_augment.engine.train import make_iteration

    shapes = [(10, 10), (10, 20), (20, 20)]

    def step(n, **kw):
        return make_iteration(n, shapes, 3, TINY_MODEL, TrainConfig(**kw))

    fast = dict(concurrent_stages=3, concurrent_freeze_diversity=0.39)
    frozen = dict(concurrent_stages=3, concurrent_frozen_scales=1)
    assert step(0, **fast) is step(0)
    assert step(1, **frozen) is step(1)
    assert step(1, **frozen) is step(1, concurrent_lr_scale=0.5)  # k = 1: lr scale unused
    assert step(2, **frozen) is step(2, concurrent_stages=2)
    assert step(2, **frozen) is not step(2, concurrent_stages=3)
    assert step(2, concurrent_stages=2) is not step(2, concurrent_stages=2, concurrent_lr_scale=0.5)


def test_rec_weight_growth_is_part_of_the_schedule_and_checked():
    from singan_augment.engine.schedules import schedule_name

    assert schedule_name(TrainConfig(rec_weight_growth=1.0)) == "custom"
    assert schedule_name(TrainConfig(rec_weight_growth=1.0, rec_weight_growth_scales=2)) == "custom"
    with pytest.raises(InputError, match="rec_weight_growth"):
        TrainConfig(rec_weight_growth=-1.0)
    with pytest.raises(InputError, match="rec_weight_growth_scales"):
        TrainConfig(rec_weight_growth_scales=-1)


def test_a_decayed_schedule_trains_fewer_iterations_at_the_fine_scales():
    """The counts reach the training loop: each scale runs the iterations its config plans
    (the first set by ``iters_by_scale``, the finer ones falling with the area from
    ``iters``), and the run is deterministic under its seed."""
    tcfg = TrainConfig(iters=12, iters_decay=1.0, iters_min=3, iters_by_scale=(5,))
    runs = []

    def record(pyrs, scale, summaries):
        runs.append(int(summaries[0]["iters_run"]))

    kw = {**KW, "train_config": tcfg}
    a = fit(tiny_image(), 3, on_scale_done=record, **kw)
    b = fit(tiny_image(), 3, **kw)
    planned = [tcfg.scale_iters(n, a.shapes)[0] for n in range(a.num_scales)]
    assert runs == planned and planned[0] == 5
    assert planned[1] < 12 and planned[1:] == sorted(planned[1:], reverse=True)
    for x, y in zip(stage_leaves(a), stage_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_warm_start_copies_the_siblings_generators_and_is_recorded(tiny_pyramid):
    """With a warm start, every scale starts from the sibling's generator, so after a
    one-iteration fine-tune each generator is close to the sibling's and far from a cold
    start; the provenance names the sibling, and a resume must use the same one."""
    one = {**KW, "train_config": TrainConfig(iters=1)}
    img = tiny_image(seed=5)
    warm = fit(img, 0, warm_start=tiny_pyramid, channel_names=["t1", "t2", "flair"], **one)
    cold = fit(img, 0, channel_names=["t1", "t2", "flair"], **one)
    for n in range(warm.num_scales):
        w_last = np.asarray(warm.stages[n].params["layers"][0]["w"])
        sib = np.asarray(tiny_pyramid.stages[n].params["layers"][0]["w"])
        c_last = np.asarray(cold.stages[n].params["layers"][0]["w"])
        assert np.abs(w_last - sib).max() < 0.5 * np.abs(c_last - sib).max(), n
    assert warm.provenance["warm_start"]["sha256"] == tiny_pyramid.provenance["sha256"]
    with pytest.raises(PyramidMismatchError, match="warm-started"):
        fit(img, 0, resume=warm, channel_names=["t1", "t2", "flair"], **one)


def test_warm_start_refuses_a_pyramid_that_does_not_fit(tiny_pyramid, tiny_label_pyramid):
    with pytest.raises(PyramidMismatchError, match="channels"):
        fit(tiny_image(), 0, warm_start=tiny_label_pyramid, **KW)
    partial = init_pyramid(
        tiny_image(),
        0,
        model_config=TINY_MODEL,
        train_config=TINY_TRAIN,
        pyramid_config=TINY_PYRAMID,
    )
    with pytest.raises(PyramidMismatchError, match="complete"):
        fit(tiny_image(), 0, warm_start=partial, **KW)


def test_spacing_is_recorded_for_the_finest_scale_and_checked_on_resume(tiny_pyramid):
    img = tiny_image()
    p = init_pyramid(
        img, 0, spacing=(0.5, 1.0), model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID
    )
    (h, w), (fh, fw) = img.shape[1:], p.shapes[-1]
    np.testing.assert_allclose(p.spacing, (0.5 * h / fh, 1.0 * w / fw))
    assert (
        init_pyramid(img, 0, model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID).spacing is None
    )
    with pytest.raises(InputError, match="spacing"):
        init_pyramid(
            img, 0, spacing=(0.5, 0.0), model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID
        )
    from dataclasses import replace

    with pytest.raises(PyramidMismatchError, match="spacing"):
        fit(
            img, 0, channel_names=["t1", "t2", "flair"], spacing=2.0,
            resume=replace(tiny_pyramid, spacing=(9.0, 9.0)), **KW,
        )  # fmt: skip


# --- volumes ---------------------------------------------------------------------------------

VOLUME_KW = dict(
    channel_names=["t1", "lesion"],
    label_channels=["lesion"],
    model_config=TINY_VOLUME_MODEL,
    train_config=TINY_TRAIN,
    pyramid_config=TINY_VOLUME_PYRAMID,
    spacing=(2.0, 1.0, 1.0),
    progress=False,
)


def test_a_volume_trains_a_3d_pyramid(tiny_volume_pyramid):
    pyr = tiny_volume_pyramid
    assert pyr.spatial_dims == 3 and pyr.complete
    assert pyr.shapes == ((12, 14, 13), (13, 15, 14), (14, 16, 15))
    assert pyr.reals[-1].shape == (14, 16, 15, 2) and pyr.z_opt.shape == (1, 12, 14, 13, 2)
    first = pyr.stages[0].params["layers"][0]["w"]
    assert first.shape == (3, 3, 3, 2, 4)  # 3x3x3 kernels, DHWIO
    assert pyr.spacing == (2.0, 1.0, 1.0)
    assert pyr.channels.kinds == ("image", "label")
    # training moved the reconstruction towards the volume (a scale's noise amplitude is the
    # RMSE of the coarser reconstruction, so it is finite and below the [-1, 1] range)
    amps = [float(s.amp) for s in pyr.stages]
    assert amps[0] == 1.0 and all(0 < a < 1 for a in amps[1:])
    assert all(np.isfinite(r) for r in reconstruction_rmse(pyr))


def test_a_resumed_volume_pyramid_is_the_uninterrupted_one(tmp_path, tiny_volume_pyramid):
    def crash_after_scale_0(pyrs, scale, _):
        save_pyramid(pyrs[0], tmp_path / "ckpt")
        if scale == 0:
            raise Crash

    with pytest.raises(Crash):
        fit(tiny_volume(mask=True), 2, on_scale_done=crash_after_scale_0, **VOLUME_KW)
    partial = load_pyramid(tmp_path / "ckpt", require_complete=False)
    assert partial.num_trained == 1 and partial.spatial_dims == 3
    resumed = fit(tiny_volume(mask=True), 2, resume=partial, **VOLUME_KW)
    for a, b in zip(stage_leaves(resumed), stage_leaves(tiny_volume_pyramid), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    "image, kwargs, match",
    [
        (np.zeros((2, 3, 14, 14, 14)), {}, r"\(C, H, W\) or \(C, D, H, W\)"),
        (np.zeros((1, 14, 14, 14)), {"spacing": (1.0, 1.0)}, "three positive"),
        (np.zeros((1, 14, 14, 14)), {"model_config": TINY_MODEL.__class__(conv_impl="winograd")},
         "no 3-D form"),
        (np.zeros((1, 8, 14, 14)), {}, "short side 8 is below"),
    ],
)  # fmt: skip
def test_bad_volumes_are_refused_before_training(image, kwargs, match):
    kw = {"pyramid_config": TINY_VOLUME_PYRAMID, "progress": False, **kwargs}
    with pytest.raises(InputError, match=match):
        fit(image, 0, **kw)


@pytest.mark.parametrize(
    ("k", "frozen", "scale", "trainable", "factors"),
    [
        (1, 0, 4, 1, (1.0,)),
        (3, 0, 0, 1, (1.0,)),
        (3, 0, 1, 2, (0.1, 1.0)),
        (3, 0, 5, 3, (0.010000000000000002, 0.1, 1.0)),
        # the coarsest generator frozen: the window never reaches scale 0
        (3, 1, 0, 1, (1.0,)),
        (3, 1, 1, 1, (1.0,)),
        (3, 1, 2, 2, (0.1, 1.0)),
        (3, 1, 3, 3, (0.010000000000000002, 0.1, 1.0)),
        (3, 2, 2, 1, (1.0,)),
        (1, 1, 4, 1, (1.0,)),
    ],
)
def test_concurrent_stages_and_their_learning_rates(k, frozen, scale, trainable, factors):
    cfg = TrainConfig(concurrent_stages=k, concurrent_frozen_scales=frozen)
    assert cfg.trainable_stages(scale) == trainable
    assert cfg.concurrent_lr_factors(scale) == pytest.approx(factors)


def test_concurrent_stages_are_part_of_the_schedule_and_checked():
    from singan_augment.engine.schedules import schedule_name

    assert schedule_name(TrainConfig(concurrent_stages=3)) == "custom"
    assert TrainConfig.from_dict({"iters": 5}).concurrent_stages == 1  # older pyramid.json
    with pytest.raises(InputError, match="concurrent_stages"):
        TrainConfig(concurrent_stages=0)
    with pytest.raises(InputError, match="concurrent_lr_scale"):
        TrainConfig(concurrent_lr_scale=1.5)
    with pytest.raises(InputError, match="concurrent_frozen_scales"):
        TrainConfig(concurrent_frozen_scales=-1)
    assert schedule_name(TrainConfig(concurrent_frozen_scales=1)) == "custom"
    assert schedule_name(TrainConfig(iters_decay_from=2)) == "custom"


@pytest.mark.parametrize("value", ["x", 3, None])
def test_a_choice_field_refuses_what_its_annotation_does_not_list(value):
    match = rf"TrainConfig\.coarsest_noise must be one of 'shared', 'independent', got {value!r}"
    with pytest.raises(InputError, match=match):
        TrainConfig(coarsest_noise=value)


# --- the per-image rule: freeze the coarsest generator when its own samples are diverse ---

RULE = dataclasses.replace(TINY_TRAIN, iters=4, concurrent_stages=2)


def _rule_fit(image, seed, train_config, stop_scale=1):
    p = init_pyramid(
        image, seed, model_config=TINY_MODEL, train_config=train_config,
        pyramid_config=TINY_PYRAMID,
    )  # fmt: skip
    return fit_many([p], stop_scale=stop_scale, progress=False)[0]


def test_coarsest_diversity_is_metrics_diversity_and_deterministic(tiny_pyramid):
    from singan_augment.engine.generate import synthesize
    from singan_augment.metrics import diversity

    key = jax.random.PRNGKey(3)
    d = coarsest_diversity(tiny_pyramid, 12, key=key)
    x = synthesize(
        tiny_pyramid.stages[:1], tiny_pyramid.shapes[:1], jax.random.split(key, 12), None,
        tiny_pyramid.model_config, channels=3, shared_coarsest=True,
    )  # fmt: skip
    real = np.moveaxis(np.asarray(tiny_pyramid.reals[0]), -1, 0)[None]  # (1, C, H, W)
    want = diversity(np.moveaxis(np.asarray(x), -1, 1), real)
    assert d == pytest.approx(want, rel=1e-5) and d > 0.0
    assert coarsest_diversity(tiny_pyramid) == coarsest_diversity(tiny_pyramid)


@pytest.mark.parametrize("threshold, frozen", [(100.0, 0), (1e-6, 1)])
def test_the_freeze_rule_trains_exactly_the_retrained_or_the_frozen_schedule(threshold, frozen):
    """Above the threshold the coarsest generator is frozen (bit for bit the run with
    ``concurrent_frozen_scales=1``); at or below it, it is fine-tuned (the plain run); the
    measured diversity is recorded either way."""
    img = tiny_image()
    ruled = _rule_fit(img, 0, dataclasses.replace(RULE, concurrent_freeze_diversity=threshold))
    fixed = _rule_fit(img, 0, dataclasses.replace(RULE, concurrent_frozen_scales=frozen))
    assert all(np.array_equal(a, b) for a, b in zip(stage_leaves(ruled), stage_leaves(fixed)))
    d = ruled.provenance["coarsest_diversity"]
    assert (d > threshold) == bool(frozen)
    assert scale_train_config(ruled) == fixed.train_config  # the rule resolves to that schedule
    assert "coarsest_diversity" not in fixed.provenance  # measured only when the rule asks


def test_fit_many_trains_pyramids_the_rule_splits_apart_as_if_alone():
    a, b = tiny_image(), tiny_image()[:, ::-1, :].copy() * 0.5 + 0.25
    rule = dataclasses.replace(RULE, concurrent_freeze_diversity=1.0)
    first = [_rule_fit(img, 0, rule, stop_scale=0) for img in (a, b)]
    d = [p.provenance["coarsest_diversity"] for p in first]
    assert d[0] != d[1]
    mid = dataclasses.replace(rule, concurrent_freeze_diversity=float(np.mean(d)))
    starts = [dataclasses.replace(p, train_config=mid) for p in first]
    assert {scale_train_config(p).concurrent_frozen_scales for p in starts} == {0, 1}
    seen = []
    both = fit_many(
        starts, progress=False, stop_scale=1, on_scale_done=lambda p, n, s: seen.append(len(p))
    )
    assert seen == [1, 1]  # each kind trained in its own group
    for start, got in zip(starts, both):
        alone = fit_many([start], progress=False, stop_scale=1)[0]
        assert all(np.array_equal(x, y) for x, y in zip(stage_leaves(got), stage_leaves(alone)))
        kept = np.array_equal(stage_leaves(got)[0], stage_leaves(start)[0])
        assert kept == (scale_train_config(start).concurrent_frozen_scales == 1)


def test_the_freeze_rule_is_part_of_the_schedule_and_checked():
    from singan_augment.engine.schedules import schedule_name

    with pytest.raises(InputError, match="concurrent_freeze_diversity"):
        TrainConfig(concurrent_freeze_diversity=-0.1)
    assert schedule_name(TrainConfig(concurrent_freeze_diversity=0.3)) == "custom"


@pytest.mark.parametrize("bad", [0, -1, 2, 1.5, "3"])
def test_the_lazy_penalty_is_part_of_the_schedule_and_checked(bad):
    """``gp_every`` must be a positive int dividing ``d_steps`` (3): the error names it."""
    from singan_augment.engine.schedules import schedule_name

    with pytest.raises(InputError, match="gp_every"):
        TrainConfig(gp_every=bad)
    assert TrainConfig(d_steps=4, gp_every=2).gp_every == 2
    assert schedule_name(TrainConfig(gp_every=3)) == "custom"
    assert TrainConfig.from_dict({"iters": 5}).gp_every == 1  # older pyramid.json


# --- the mode-seeking term on the concurrent window's coarser generators ---


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"concurrent_diversity_weight": -1.0}, "concurrent_diversity_weight"),
        ({"concurrent_diversity_weight": float("nan")}, "concurrent_diversity_weight"),
        ({"concurrent_diversity_floor": -0.5}, "concurrent_diversity_floor"),
    ],
)
def test_the_mode_seeking_weight_is_part_of_the_schedule_and_checked(kwargs, match):
    from singan_augment.engine.schedules import schedule_name

    with pytest.raises(InputError, match=match):
        TrainConfig(**kwargs)
    assert schedule_name(TrainConfig(concurrent_diversity_weight=1.0)) == "custom"
    assert TrainConfig.from_dict({"iters": 5}).concurrent_diversity_weight == 0.0  # older file
    assert TrainConfig.from_dict({"iters": 5}).concurrent_diversity_floor == 0.0


def test_the_mode_seeking_term_keeps_the_coarsest_generators_variety():
    """Fine-tuned through scale 1's losses, the coarsest generator's own samples vary more
    with the term than without it, from the same scale-0 weights and seed, both as the plain
    log term and as a floor at the window's starting variety; a floor far below that variety
    never acts, so that run is the run without the term, bit for bit."""
    img = tiny_image()
    cfgs = {
        "none": RULE,
        "log": dataclasses.replace(RULE, concurrent_diversity_weight=10.0),
        "floor 1": dataclasses.replace(
            RULE, concurrent_diversity_weight=10.0, concurrent_diversity_floor=1.0
        ),
        "floor 1e-6": dataclasses.replace(
            RULE, concurrent_diversity_weight=10.0, concurrent_diversity_floor=1e-6
        ),
    }
    runs = {name: _rule_fit(img, 0, cfg) for name, cfg in cfgs.items()}
    after0 = [_rule_fit(img, 0, cfgs[name], stop_scale=0) for name in ("none", "log")]
    assert all(
        np.array_equal(a, b) for a, b in zip(stage_leaves(after0[0]), stage_leaves(after0[1]))
    )
    key = jax.random.PRNGKey(5)
    d = {name: coarsest_diversity(r, 24, key=key) for name, r in runs.items()}
    assert d["log"] > d["none"] * 1.05, d
    assert d["floor 1"] > d["none"] * 1.02, d
    assert all(
        np.array_equal(a, b)
        for a, b in zip(stage_leaves(runs["floor 1e-6"]), stage_leaves(runs["none"]))
    )


def test_window_variety_is_a_deterministic_and_stable_reference(tiny_pyramid):
    """The floor's reference: the same for the same key, and, averaged over its 16 pairs,
    within a fifth of itself under another key (one pair alone varies far more)."""
    from singan_augment.engine.train import window_variety

    def v(seed, pairs=16):
        args = (tiny_pyramid.shapes, 0, 2, jax.random.PRNGKey(seed), 3, True, TINY_MODEL)
        return float(window_variety(tiny_pyramid.stages, *args, pairs=pairs))

    assert v(1) > 0.0 and v(1) == v(1) and v(1) != v(2)
    assert abs(v(1) - v(2)) < 0.2 * v(1)


def test_the_mode_seeking_term_leaves_a_one_generator_step_alone():
    """Where one generator trains (no concurrent window) the weight changes nothing."""
    img = tiny_image()
    one = dataclasses.replace(RULE, concurrent_stages=1)
    plain = _rule_fit(img, 0, one)
    weighted = _rule_fit(img, 0, dataclasses.replace(one, concurrent_diversity_weight=10.0))
    assert all(np.array_equal(a, b) for a, b in zip(stage_leaves(plain), stage_leaves(weighted)))


# --- the reconstruction anchor on a concurrent window's coarser generators ---


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(concurrent_rec_anchor=-1.0), "concurrent_rec_anchor"),
        (
            dict(concurrent_rec_anchor=1.0),
            r"concurrent_rec_anchor \(1.0\) needs concurrent_stages >= 2, got 1",
        ),
    ],
)
def test_the_anchor_is_checked(kw, match):
    with pytest.raises(InputError, match=match):
        TrainConfig(**kw)


def test_the_anchor_is_part_of_the_schedule_and_reaches_the_step_only_as_on_or_off():
    from singan_augment.engine.schedules import schedule_name
    from singan_augment.engine.train import make_iteration

    shapes = [(10, 10), (10, 20), (20, 20)]
    two = dict(concurrent_stages=2)

    def step(n, **kw):
        return make_iteration(n, shapes, 3, TINY_MODEL, TrainConfig(**kw))

    assert schedule_name(TrainConfig(**two, concurrent_rec_anchor=1.0)) == "custom"
    assert step(0, **two, concurrent_rec_anchor=3.0) is step(0)  # one generator: nothing to anchor
    assert step(1, **two, concurrent_rec_anchor=3.0) is step(1, **two, concurrent_rec_anchor=0.5)
    assert step(1, **two, concurrent_rec_anchor=3.0) is not step(1, **two)


def test_an_anchored_window_keeps_the_coarsest_reconstruction_closer_to_its_image():
    """Anchored while scale 1 trains, the coarsest generator stays a better reconstruction of
    its own scale, and the trained scale's own reconstruction pays for it: the trade that
    docs/time_to_quality.md measured at full size ("Coarser generators anchored to their own
    scales"). Scale 0 trains only inside scale 1's window, so two scales show it."""
    img = tiny_image()

    def rmse(b):
        cfg = dataclasses.replace(
            TINY_TRAIN, iters=40, concurrent_stages=2, concurrent_rec_anchor=b
        )
        pyr = _rule_fit(img, 0, cfg, stop_scale=1)
        assert pyr.num_trained == 2
        return reconstruction_rmse(pyr)

    plain, anchored = rmse(0.0), rmse(10.0)
    assert anchored[0] < 0.99 * plain[0]
    assert anchored[1] > 1.01 * plain[1]
