"""benchmarks/noise_amp_probe.py's ``--refreshed`` arithmetic: the published amplitude rule
re-applied to a finished pyramid. A pyramid trained one scale at a time never changes a
scale's coarser generators after its amplitude is set, so re-applying the rule must give back
the amplitudes it trained with; a pyramid whose coarser generators changed afterwards must not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from singan_augment.testing import load_script, with_generator_scaled

probe = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "noise_amp_probe.py")


def test_a_published_pyramid_gets_its_own_amplitudes_back(tiny_pyramid):
    assert tiny_pyramid.train_config.concurrent_stages == 1
    ratios = probe.refreshed_amp_ratios(tiny_pyramid)
    assert len(ratios) == tiny_pyramid.num_trained
    np.testing.assert_allclose(ratios, 1.0, rtol=1e-5)


@pytest.mark.parametrize("scale", [0, 1])
def test_a_coarser_generator_changed_afterwards_moves_the_finer_amplitudes(tiny_pyramid, scale):
    """Perturb one coarser generator's weights, as concurrent training does after the finer
    scale's amplitude is set: every scale above it reads another amplitude, none below."""
    ratios = probe.refreshed_amp_ratios(with_generator_scaled(tiny_pyramid, scale, 1.5))
    np.testing.assert_allclose(ratios[: scale + 1], 1.0, rtol=1e-5)
    assert all(abs(r - 1.0) > 1e-3 for r in ratios[scale + 1 :])


def test_recalibrated_bn_changes_only_the_running_averages_and_is_deterministic(tiny_pyramid):
    import jax

    a = probe.recalibrated_bn(tiny_pyramid, n=16, seed=1)
    b = probe.recalibrated_bn(tiny_pyramid, n=16, seed=1)
    other = probe.recalibrated_bn(tiny_pyramid, n=16, seed=2)
    for k, (old, new, again, moved) in enumerate(
        zip(tiny_pyramid.stages, a.stages, b.stages, other.stages)
    ):
        for x, y in zip(jax.tree.leaves(old.params), jax.tree.leaves(new.params)):
            np.testing.assert_array_equal(x, y)
        assert float(old.amp) == float(new.amp)
        for x, y in zip(jax.tree.leaves(new.stats), jax.tree.leaves(again.stats)):
            np.testing.assert_array_equal(x, y)  # the same seed, the same statistics
        assert not all(
            np.array_equal(x, y)
            for x, y in zip(jax.tree.leaves(new.stats), jax.tree.leaves(moved.stats))
        ), f"scale {k}: another seed gave the same statistics"
        assert not all(
            np.allclose(x, y)
            for x, y in zip(jax.tree.leaves(old.stats), jax.tree.leaves(new.stats))
        ), f"scale {k}: nothing recalibrated"


def test_recalibrated_bn_at_the_coarsest_scale_sees_zero_mean_noise_through_the_first_conv(
    tiny_pyramid,
):
    """At scale 0 the input is zero-padded noise (amplitude a), so the first conv's output
    has mean b (its bias) and, away from the padding, variance a^2 * sum(w^2) over the kernel
    (one noise channel shared by every input channel: the kernel's channels summed first).
    The recalibrated averages must show both: the mean within sampling error of b, the
    variance between the padding's dilution and that value."""
    pyr = probe.recalibrated_bn(tiny_pyramid, n=64, seed=0)
    layer = tiny_pyramid.stages[0].params["layers"][0]
    stat = pyr.stages[0].stats[0]
    w, b, a = np.asarray(layer["w"]), np.asarray(layer["b"]), float(tiny_pyramid.stages[0].amp)
    assert tiny_pyramid.train_config.coarsest_noise == "shared"
    expect_var = a**2 * np.sum(np.sum(w, axis=2) ** 2, axis=(0, 1))  # per output channel
    h, wd = tiny_pyramid.shapes[0]
    p = tiny_pyramid.model_config.pad
    pixels = 64 * (h + 2 * p - 2) * (wd + 2 * p - 2)
    err = 4 * np.sqrt(expect_var / pixels)  # 4 standard errors of i.i.d. pixels (1.2 seen)
    np.testing.assert_array_less(np.abs(np.asarray(stat["mean"]) - b), err + 1e-7)
    inside = (h - 2) * (wd - 2) / ((h + 2 * p - 2) * (wd + 2 * p - 2))
    var = np.asarray(stat["var"])
    assert np.all(var > 0.8 * inside * expect_var) and np.all(var < 1.05 * expect_var), (
        var / expect_var
    )
