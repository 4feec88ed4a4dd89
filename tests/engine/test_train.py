import dataclasses

import jax
import numpy as np
import pytest

from singan_augment.engine import train
from singan_augment.engine.fit import fit
from singan_augment.testing import TINY_MODEL, TINY_PYRAMID, TINY_TRAIN, stage_leaves, tiny_image


@pytest.mark.parametrize("sync_each_s", [0.0, 1e9])
def test_the_progress_bar_waiting_for_each_iteration_changes_nothing(monkeypatch, sync_each_s):
    """With the bar on, long iterations are waited for one by one (``SYNC_EACH_S``; 0 forces
    it here): the weights are bit-identical to a run without a bar."""
    waited = []
    real_wait = jax.block_until_ready
    monkeypatch.setattr(train, "SYNC_EACH_S", sync_each_s)
    monkeypatch.setattr(train.jax, "block_until_ready", lambda x: waited.append(1) or real_wait(x))
    kw = dict(model_config=TINY_MODEL, train_config=TINY_TRAIN, pyramid_config=TINY_PYRAMID)
    shown = fit(tiny_image(), 3, progress=True, **kw)
    n_shown = len(waited)
    waited.clear()
    quiet = fit(tiny_image(), 3, progress=False, **kw)
    for a, b in zip(stage_leaves(shown), stage_leaves(quiet)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    per_scale = TINY_TRAIN.iters
    scales = len(shown.stages)
    if sync_each_s == 0.0:  # every iteration after the first was waited for
        assert n_shown - len(waited) == scales * (per_scale - 1)
    else:  # only the second, which measures the iteration time
        assert n_shown - len(waited) == scales


def test_the_concurrent_factors_reach_the_step():
    """One iteration of one D and one G step at scale 1 with two generators training. Adam's
    first update moves each weight by exactly its learning rate, so the largest change is
    ``lr`` for the scale's critic and generator and ``lr * 0.1`` (``concurrent_lr_scale``) for
    the coarser generator trained with it."""
    from singan_augment.engine.config import PyramidConfig, TrainConfig
    from singan_augment.engine.fit import scale_initial_weights
    from singan_augment.testing import untrained_pyramid

    # the coarser generator need not be trained for this: an initialised one trains alike
    pcfg = PyramidConfig(min_size=12, max_size=24)
    full = untrained_pyramid(tiny_image(h=24, w=24), model_config=TINY_MODEL, pyramid_config=pcfg)
    pyr = dataclasses.replace(full, stages=full.stages[:1])
    cfg = TrainConfig(iters=8, d_steps=1, g_steps=1, concurrent_stages=2)
    g, d = scale_initial_weights(pyr, 1, jax.random.PRNGKey(1))
    lower = [(pyr.stages[0].params, pyr.stages[0].stats)]
    state = train.init_state(g, d, cfg, 1, lower=lower, scale=1)
    consts = train.scale_consts(1, pyr.reals[1], pyr.stages, pyr.shapes, pyr.z_opt, cfg, TINY_MODEL)
    step = train.make_iteration(1, pyr.shapes, 3, TINY_MODEL, cfg)
    new, _ = step(state, consts, jax.random.PRNGKey(2))

    def moved(after, before):
        pairs = zip(jax.tree.leaves(after), jax.tree.leaves(before))
        return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in pairs)

    got = [
        moved(new.d_params, state.d_params),
        moved(new.g_params[1], state.g_params[1]),
        moved(new.g_params[0], state.g_params[0]),
    ]
    lr = TrainConfig().lr_g
    np.testing.assert_allclose(got, [lr, lr, 0.1 * lr], rtol=1e-3)


def test_the_anchor_needs_the_coarser_images_and_weighs_each_by_its_alpha(tiny_pyramid):
    from singan_augment.engine.config import TrainConfig

    pyr = tiny_pyramid
    cfg = TrainConfig(concurrent_stages=3, concurrent_rec_anchor=0.5, rec_weight_growth=1.0)
    args = (2, pyr.reals[2], pyr.stages, pyr.shapes, pyr.z_opt, cfg, TINY_MODEL)
    with pytest.raises(
        ValueError, match=r"concurrent_rec_anchor needs the training image at scales 0..1"
    ):
        train.scale_consts(*args)
    consts = train.scale_consts(*args, lower_reals=pyr.reals[:2])
    assert [np.asarray(r).shape for r in consts.lower_reals] == [
        (1, *pyr.shapes[j], pyr.num_channels) for j in (0, 1)
    ]
    want = [0.5 * cfg.scale_rec_weight(j, pyr.shapes) for j in (0, 1)]
    assert [float(w) for w in consts.lower_anchor_weights] == pytest.approx(want)
    plain = train.scale_consts(*args[:5], TrainConfig(concurrent_stages=3), TINY_MODEL)
    assert plain.lower_reals == () and plain.lower_anchor_weights == ()
