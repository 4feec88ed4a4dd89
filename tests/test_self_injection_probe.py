"""benchmarks/self_injection_probe.py: the training image injected into its own pyramid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from singan_augment.testing import load_script, with_generator_scaled

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "self_injection_probe.py"
probe = load_script(_PATH)


def test_self_injection_reads_only_the_generators_from_its_scale_up(tiny_pyramid):
    """Deterministic under its seed, finite and positive; the coarsest generator changed, the
    injections at scales 1 and 2 are unchanged (they start above it), and the finest generator
    changed, both move."""
    scales = [1, tiny_pyramid.num_scales - 1]
    base = probe.self_injection(tiny_pyramid, scales, n=2)
    assert base == probe.self_injection(tiny_pyramid, scales, n=2)
    assert all(np.isfinite(v) and v > 0 for m in base.values() for v in m.values())

    def moved(scale):
        return probe.self_injection(with_generator_scaled(tiny_pyramid, scale, 1.5), scales, n=2)

    assert moved(0) == base
    finest = moved(tiny_pyramid.num_scales - 1)
    assert all(finest[s]["rmse"] != base[s]["rmse"] for s in scales)
