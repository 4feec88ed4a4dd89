import numpy as np
import pytest

from singan_augment import SCHEDULES, TrainConfig, schedule, schedule_name
from singan_augment.engine.fit import fit
from singan_augment.engine.sample import sample
from singan_augment.engine.schedules import COARSEST_CHOICES, with_coarsest, with_schedule
from singan_augment.errors import InputError
from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid, save_pyramid
from singan_augment.testing import TINY_MODEL, TINY_PYRAMID, tiny_image


def test_singan_is_the_published_schedule():
    cfg = schedule("singan")
    assert cfg == TrainConfig() and cfg.iters == 2000 and cfg.iters_decay == 0.0
    shapes = [(25, 34), (60, 80), (188, 250)]
    assert [cfg.scale_iters(n, shapes) for n in range(3)] == [(2000, 1600)] * 3


def test_fast_spends_fewer_iterations_where_a_scale_costs_more():
    fast = schedule("fast")
    shapes = [(25, 34), (60, 80), (188, 250)]
    counts = [fast.scale_iters(n, shapes)[0] for n in range(3)]
    assert counts == sorted(counts, reverse=True) and counts[0] <= 2000
    assert counts[-1] >= fast.iters_min


def test_finetune_is_fasts_step_with_fewer_iterations():
    import dataclasses

    fast, tune = schedule("fast"), schedule("finetune")
    assert dataclasses.replace(tune, iters=fast.iters, iters_min=fast.iters_min) == fast
    shapes = [(31, 25), (40, 32), (50, 41), (63, 51), (80, 65), (101, 83), (128, 104)]
    # the counts of the measured brain fine-tune (docs/time_to_quality.md)
    assert [tune.scale_iters(n, shapes)[0] for n in range(7)] == [300, 177, 108, 67, 41, 25, 20]


def test_finetune_refuses_to_train_without_a_warm_start(tmp_path):
    from singan_augment.expansion.fit_dataset import fit_dataset

    kw = dict(model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID, progress=False)
    with pytest.raises(InputError, match="'finetune' fine-tunes a warm start"):
        fit(tiny_image(), 0, schedule="finetune", **kw)
    np.save(tmp_path / "a.npy", tiny_image())
    with pytest.raises(InputError, match="--warm-start"):
        fit_dataset(tmp_path, tmp_path / "out", train_config=schedule("finetune"), **kw)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_names_round_trip(name):
    assert schedule_name(schedule(name)) == name
    assert schedule_name(with_schedule(TrainConfig(gp_weight=0.2), name)) == name


def test_a_changed_count_is_custom_and_unknown_names_are_refused():
    assert schedule_name(TrainConfig(iters=300)) == "custom"
    with pytest.raises(InputError, match="unknown schedule 'quick'.*singan, fast"):
        schedule("quick")


@pytest.mark.parametrize("name", ["singan"])
def test_each_schedule_trains_samples_and_is_recorded(name, tmp_path):
    """A scaled-down run of the schedule (the counts divided by 100) trains, samples in range,
    is deterministic, and records its schedule. The fast schedule's run (concurrent stages,
    whose steps cost the most to compile) is
    ``test_resume_of_the_fast_schedule_equals_an_uninterrupted_run``: it trains, samples,
    is bit-identical on resume and records its config."""
    import dataclasses

    ref = schedule(name)
    tcfg = dataclasses.replace(ref, iters=max(ref.iters // 100, 2), iters_min=1)
    kw = dict(model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID, progress=False)
    a = fit(tiny_image(), 1, train_config=tcfg, **kw)
    b = fit(tiny_image(), 1, train_config=tcfg, **kw)
    sa, sb = sample(a, 3, 2).images, sample(b, 3, 2).images
    np.testing.assert_array_equal(sa, sb)
    assert np.isfinite(sa).all() and sa.shape == (2, 3, 32, 36)
    save_pyramid(a, tmp_path / "p")
    import json

    meta = json.loads((tmp_path / "p" / JSON_NAME).read_text())
    assert meta["schedule"] == "custom"  # scaled down: not the named counts
    assert meta["train_config"]["iters_decay"] == ref.iters_decay
    assert meta["train_config"]["concurrent_stages"] == ref.concurrent_stages
    assert load_pyramid(tmp_path / "p").train_config == tcfg


def test_fit_takes_a_schedule_by_name(monkeypatch):
    """``fit(schedule="fast")`` hands training a pyramid whose config has the fast counts and
    keeps the other settings (how the counts are then trained:
    test_fit.py::test_a_decayed_schedule_trains_fewer_iterations_at_the_fine_scales)."""
    from singan_augment.engine import fit as fit_module

    seen = {}

    def train(pyrs, **kwargs):
        seen["cfg"] = pyrs[0].train_config
        return pyrs

    monkeypatch.setattr(fit_module, "fit_many", train)
    kw = dict(model_config=TINY_MODEL, pyramid_config=TINY_PYRAMID, progress=False)
    fit(tiny_image(), 0, schedule="fast", train_config=TrainConfig(gp_weight=0.2), **kw)
    assert schedule_name(seen["cfg"]) == "fast" and seen["cfg"].gp_weight == 0.2
    shapes = [(10, 10), (20, 20)]
    # 2000 * 4 ** -1.05 = 467 at a scale of four times the area; three stages trained together
    assert [seen["cfg"].scale_iters(n, shapes)[0] for n in (0, 1)] == [2000, 467]
    assert seen["cfg"].concurrent_stages == 3


def test_resume_of_the_fast_schedule_equals_an_uninterrupted_run(tmp_path):
    """The fast schedule (counts scaled down; its decay, reconstruction-weight growth and
    concurrent stages kept): training scale n also trains the lower generators (their noise
    amplitudes kept); a run resumed from the checkpoint after scale 0 retrains them exactly as
    the uninterrupted run did, bit for bit; the pyramid samples."""
    import dataclasses

    tcfg = dataclasses.replace(schedule("fast"), iters=6, iters_min=2)
    assert tcfg.concurrent_stages > 1 and tcfg.rec_weight_growth > 0
    kw = dict(
        model_config=TINY_MODEL, train_config=tcfg, pyramid_config=TINY_PYRAMID, progress=False
    )
    after = []

    def checkpoint(pyrs, scale, _):
        after.append(pyrs[0])
        save_pyramid(pyrs[0], tmp_path / f"ckpt{scale}")

    whole = fit(tiny_image(), 4, on_scale_done=checkpoint, **kw)
    # the per-image rule: the coarsest generator's own diversity, measured after scale 0 and
    # checkpointed, decides whether scale 1 retrains it
    d = after[0].provenance["coarsest_diversity"]
    assert whole.provenance["coarsest_diversity"] == d
    s0 = jax_leaves_of(after[0].stages[0])
    retrained = any(not np.array_equal(a, b) for a, b in zip(s0, jax_leaves_of(after[1].stages[0])))
    assert retrained == (d <= tcfg.concurrent_freeze_diversity)
    assert float(after[1].stages[0].amp) == float(after[0].stages[0].amp)
    partial = load_pyramid(tmp_path / "ckpt0", require_complete=False)
    assert partial.num_trained == 1 and partial.train_config == tcfg
    assert partial.provenance["coarsest_diversity"] == d
    resumed = fit(tiny_image(), 4, resume=partial, **kw)
    for a, b in zip(jax_leaves(resumed), jax_leaves(whole), strict=True):
        np.testing.assert_array_equal(a, b)
    a = sample(resumed, 9, 2, start_scale=1).images
    np.testing.assert_array_equal(a, sample(whole, 9, 2, start_scale=1).images)
    assert np.isfinite(a).all()


def _scale0(tcfg):
    """Train scale 0 of a tiny pyramid; return (pyramid, the scale's summary)."""
    from singan_augment.engine.fit import fit_many, init_pyramid

    p = init_pyramid(
        tiny_image(), 0, model_config=TINY_MODEL, train_config=tcfg, pyramid_config=TINY_PYRAMID
    )
    seen = {}
    out = fit_many(
        [p], stop_scale=0, progress=False, on_scale_done=lambda _p, _n, s: seen.update(s[0])
    )
    return out[0], seen


def test_plateau_stops_a_scale_early_and_drops_the_lr_first():
    # tol 1.0: any fall short of 100 % is a plateau, so the check after the second window
    # (iteration 8) fires: the lr drops at once and 25 % of 8 = 2 iterations follow.
    pyr, summ = _scale0(TrainConfig(iters=40, plateau_window=4, plateau_tol=1.0))
    assert summ["iters_run"] == 10
    # ... which is exactly the published rule for a 10-iteration scale (drop at 8 of 10)
    ref, ref_summ = _scale0(TrainConfig(iters=10))
    assert ref_summ["iters_run"] == 10
    for a, b in zip(jax_leaves(pyr), jax_leaves(ref), strict=True):
        np.testing.assert_array_equal(a, b)
    _, off = _scale0(TrainConfig(iters=12))
    assert off["iters_run"] == 12


def test_plateau_lr_drop_moves_the_boundary_to_now():
    import jax.numpy as jnp

    from singan_augment.engine.train import DropState, ScaleState, drop_lr_now

    opt = ((), DropState(jnp.asarray(7), jnp.asarray(40)))
    d = drop_lr_now(ScaleState({}, [], {}, opt, opt))
    assert int(d.g_opt[1].boundary) == 7 and int(d.d_opt[1].boundary) == 7
    assert int(d.g_opt[1].count) == 7


def test_plateau_fields_are_part_of_the_schedule_and_checked():
    assert schedule_name(TrainConfig(plateau_window=100)) == "custom"
    with pytest.raises(InputError, match="plateau_tol"):
        TrainConfig(plateau_tol=2.0)
    with pytest.raises(InputError, match="plateau_window"):
        TrainConfig(plateau_window=-1)


def jax_leaves(pyr):
    return [x for s in pyr.stages for x in jax_leaves_of(s)]


def jax_leaves_of(stage):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves((stage.params, stage.stats, stage.amp))]


@pytest.mark.parametrize("name", ["fast", "finetune"])
def test_coarsest_choice_sets_only_the_coarsest_generators_fate(name):
    import dataclasses

    cfg = schedule(name)
    assert with_coarsest(cfg, "rule") == cfg
    frozen, trained = with_coarsest(cfg, "freeze"), with_coarsest(cfg, "train")
    assert (frozen.concurrent_frozen_scales, frozen.concurrent_freeze_diversity) == (1, 0.0)
    assert (trained.concurrent_frozen_scales, trained.concurrent_freeze_diversity) == (0, 0.0)
    back = dict(
        concurrent_frozen_scales=cfg.concurrent_frozen_scales,
        concurrent_freeze_diversity=cfg.concurrent_freeze_diversity,
    )
    assert dataclasses.replace(frozen, **back) == dataclasses.replace(trained, **back) == cfg
    # scale 1 trains alone when the coarsest is frozen, with it when it trains on
    assert (frozen.trainable_stages(1), trained.trainable_stages(1)) == (1, 2)
    assert schedule_name(frozen) == schedule_name(trained) == "custom"  # recorded as such
    # a config that freezes more scales keeps them frozen
    more = dataclasses.replace(cfg, concurrent_frozen_scales=2)
    assert with_coarsest(more, "freeze").concurrent_frozen_scales == 2


@pytest.mark.parametrize("choice", [c for c in COARSEST_CHOICES if c != "rule"])
def test_coarsest_choice_needs_a_concurrent_schedule(choice):
    assert with_coarsest(schedule("singan"), "rule") == schedule("singan")
    with pytest.raises(InputError, match=f"coarsest '{choice}'.*concurrent_stages=1"):
        with_coarsest(schedule("singan"), choice)


def test_an_unknown_coarsest_choice_is_refused():
    with pytest.raises(InputError, match="'thaw' is not one of rule, freeze, train"):
        with_coarsest(schedule("fast"), "thaw")
