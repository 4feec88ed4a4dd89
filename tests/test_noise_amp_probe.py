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
