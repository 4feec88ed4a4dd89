import jax
import numpy as np
import pytest

from singan_augment.engine import train
from singan_augment.engine.fit import fit
from singan_augment.testing import TINY_MODEL, TINY_PYRAMID, TINY_TRAIN, tiny_image


def _leaves(pyr):
    return jax.tree.leaves([(s.params, s.stats, s.amp) for s in pyr.stages])


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
    for a, b in zip(_leaves(shown), _leaves(quiet)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    per_scale = TINY_TRAIN.iters
    scales = len(shown.stages)
    if sync_each_s == 0.0:  # every iteration after the first was waited for
        assert n_shown - len(waited) == scales * (per_scale - 1)
    else:  # only the second, which measures the iteration time
        assert n_shown - len(waited) == scales
