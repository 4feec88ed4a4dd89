"""benchmarks/host_schedules.py: lesion and seam in tumour insertion, compared across hosts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from singan_augment.testing import load_script

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "host_schedules.py"
hs = load_script(_PATH)


def test_measure_host_is_deterministic_and_covers_every_blend_and_scale(tiny_pyramid):
    seeds, scales = [100, 101], (1, 2)
    rows = hs.measure_host(tiny_pyramid, seeds, scales=scales)
    assert json.dumps(rows) == json.dumps(hs.measure_host(tiny_pyramid, seeds, scales=scales))
    assert len(rows) == len(seeds) * len(scales) * len(hs.BLENDS)
    assert {(r["seed"], r["scale"], r["blend"]) for r in rows} == {
        (s, k, b) for s in seeds for k in scales for b in hs.BLENDS
    }
    assert all(np.isfinite(r["seam_ratio"]) and r["seam_ratio"] > 0 for r in rows)
    summary = hs.summarise(rows)
    assert set(summary) == {(b, k) for b in hs.BLENDS for k in scales}
    self_gaps = hs.gaps(summary, summary)
    assert all(g == {"retention_gap": 0.0, "seam_gap": 0.0} for g in self_gaps.values())
    assert hs.within(self_gaps)


def _summary(retention=(0.8, 0.8, 0.8), seam=0.7):
    stats = {"retention_per_channel": list(retention), "seam_ratio": [seam, seam, seam]}
    return {(b, s): copy.deepcopy(stats) for b in hs.BLENDS for s in hs.SCALES}


@pytest.mark.parametrize(
    ("retention", "seam", "blend", "expected"),
    [
        ((0.85, 0.75, 0.89), 0.79, "default", True),
        ((0.8, 0.69, 0.8), 0.7, "default", False),  # one channel 0.11 below
        ((0.8, 0.8, 0.8), 0.59, "default", False),  # the seam 0.11 lower
        ((0.8, 0.8, 0.8), 0.81, "regenerate", False),  # the seam 0.11 higher
    ],
)
def test_within_reads_every_channel_and_the_seam(retention, seam, blend, expected):
    base = _summary()
    host = _summary()
    for (b, _), v in host.items():
        if b == blend:
            v["retention_per_channel"] = list(retention)
            v["seam_ratio"][0] = seam
    assert hs.within(hs.gaps(host, base), blend) is expected


def test_within_refuses_a_blend_it_has_no_rows_for():
    with pytest.raises(ValueError, match="keep_core"):
        hs.within(hs.gaps(_summary(), _summary()), "keep_core")
