"""benchmarks/growing_screen.py: a growing job is costed from its own calibration, converted
scale by scale into the published calibration's units; seed repeats share a calibration; a
job's ratios read the bar as time_to_quality.py reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from singan_augment.testing import load_script

screen = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "growing_screen.py")
tq = screen.tq


def scales(per_iter, compile_s):
    return {
        str(n): {"size": "8x8", "s_per_iter": s, "compile_s": c}
        for n, (s, c) in enumerate(zip(per_iter, compile_s))
    }


@pytest.fixture
def results(tmp_path, monkeypatch):
    """One image with a published calibration (2 scales), a growing calibration whose
    reference runs at half the published speed, the baseline's timing and quality, and a
    finished growing job."""
    monkeypatch.setattr(tq, "ROOT", tmp_path)
    img = tmp_path / "brain"
    (img / "singan").mkdir(parents=True)
    (img / "calibration.json").write_text(json.dumps({"scales": scales([0.1, 0.2], [10.0, 20.0])}))
    name = "grow3w32p105rg10"
    cal = {
        "scales": scales([0.4, 0.6], [30.0, 50.0]),
        "reference": {"scales": scales([0.2, 0.4], [20.0, 40.0])},
    }
    screen.calibration_path("brain", screen.SCHEDULES[name]).write_text(json.dumps(cal))
    iters = {"scales": {"0": {"iters": 2000}, "1": {"iters": 2000}}}
    (img / "singan" / "timing.json").write_text(json.dumps(iters))
    base_q = {k: {"swd": 0.1, "diversity": 0.5} for k in ("start0", "start1")}
    (img / "singan" / "quality.json").write_text(json.dumps(base_q))
    for job in (name, f"{name}s1"):
        (img / job).mkdir()
        (img / job / "timing.json").write_text(
            json.dumps({"scales": {"0": {"iters": 100}, "1": {"iters": 50}}})
        )
        q = {"start0": {"swd": 0.105, "diversity": 0.45}, "start1": {"swd": 0.12, "diversity": 0.5}}
        (img / job / "quality.json").write_text(json.dumps(q))
    return name


def test_a_growing_job_is_costed_in_the_published_units(results):
    # each scale's cost times published / reference: 0.4 * 0.5 = 0.2 s, 0.6 * 0.5 = 0.3 s;
    # compile 30 * 0.5 = 15 s, 50 * 0.5 = 25 s
    timing = {"scales": {"0": {"iters": 100}, "1": {"iters": 50}}}
    assert screen.modelled("brain", results, timing) == pytest.approx(
        15 + 100 * 0.2 + 25 + 50 * 0.3
    )
    assert screen.modelled("brain", f"{results}s1", timing) == screen.modelled(
        "brain", results, timing
    )


def test_ratios_read_the_bar(results):
    r = screen.ratios("brain", results)
    base = 10 + 2000 * 0.1 + 20 + 2000 * 0.2
    assert r["factor"] == pytest.approx(base / 75.0)
    assert r["swd0"] == pytest.approx(1.05) and r["diversity0"] == pytest.approx(0.9)
    assert r["swd1"] == pytest.approx(1.2)
    assert r["meets_bar"] is False  # start-1 SWD 1.2x the baseline's


def test_a_missing_calibration_gives_no_cost(results):
    assert screen.modelled("brain", "grow3p115rg10", {"scales": {}}) is None
    assert screen.ratios("coffee", results) is None


def test_seed_repeats_share_their_step():
    for name, s in screen.SCHEDULES.items():
        if name.endswith("s1"):
            base = screen.SCHEDULES[name.removesuffix("s1")]
            assert screen.step_tag(s) == screen.step_tag(base) and s.seed == 1
    tags = {screen.step_tag(s) for s in screen.SCHEDULES.values()}
    assert tags == {"w32_c3", "w64_c3"}
