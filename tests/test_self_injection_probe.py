"""benchmarks/self_injection_probe.py: the training image injected into its own pyramid."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(_DIR))
_spec = importlib.util.spec_from_file_location(
    "self_injection_probe", _DIR / "self_injection_probe.py"
)
probe = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("self_injection_probe", probe)
_spec.loader.exec_module(probe)


def test_self_injection_reads_only_the_generators_from_its_scale_up(tiny_pyramid):
    """Deterministic under its seed, finite and positive; the coarsest generator changed, the
    injections at scales 1 and 2 are unchanged (they start above it), and the finest generator
    changed, both move."""
    scales = [1, tiny_pyramid.num_scales - 1]
    base = probe.self_injection(tiny_pyramid, scales, n=2)
    assert base == probe.self_injection(tiny_pyramid, scales, n=2)
    assert all(np.isfinite(v) and v > 0 for m in base.values() for v in m.values())

    def moved(scale):
        stage = tiny_pyramid.stages[scale]
        params = jax.tree.map(lambda x: x * 1.5, stage.params)
        stages = list(tiny_pyramid.stages)
        stages[scale] = stage._replace(params=params)
        return probe.self_injection(replace(tiny_pyramid, stages=tuple(stages)), scales, n=2)

    assert moved(0) == base
    finest = moved(tiny_pyramid.num_scales - 1)
    assert all(finest[s]["rmse"] != base[s]["rmse"] for s in scales)
