"""benchmarks/time_to_quality.py's ``score_spread`` on a job that kept no weights: its draw 0
comes from ``quality.json`` when one draw is asked for, and more draws are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from singan_augment.testing import load_script

ttq = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_quality.py")


@pytest.fixture
def weightless_job(tmp_path, monkeypatch):
    """A results tree with one brain job holding only ``quality.json``, as the earliest runs do."""
    monkeypatch.setattr(ttq, "ROOT", tmp_path)
    job = tmp_path / "brain" / "old"
    job.mkdir(parents=True)
    q = {
        "start0": {"swd": 0.031, "diversity": 0.25, "diversity_boot": {"median": 0.24}},
        "start1": {"swd": 0.012, "diversity": 0.02, "swd_per_sample": {"median": 0.013}},
    }
    (job / "quality.json").write_text(json.dumps(q))
    return q


def test_one_draw_of_a_weightless_job_is_its_quality_json(weightless_job):
    out = ttq.score_spread(ttq.IMAGES["brain"], ["old"], draws=1)
    assert out == {
        "old": {
            key: {
                "swd": [weightless_job[key]["swd"]],
                "diversity": [weightless_job[key]["diversity"]],
            }
            for key in ("start0", "start1")
        }
    }


@pytest.mark.parametrize("draws", [2, 5])
def test_more_draws_of_a_weightless_job_are_refused_by_name(weightless_job, draws):
    with pytest.raises(SystemExit, match=rf"brain/old kept no weights.*--draws 1, not {draws}"):
        ttq.score_spread(ttq.IMAGES["brain"], ["old"], draws=draws)


def test_ratio_table_reads_a_weightless_base(weightless_job):
    """The two-seed table's arithmetic on one draw: a job twice its base's SWD reads 2.00."""
    res = ttq.score_spread(ttq.IMAGES["brain"], ["old"], draws=1)
    res["twice"] = {key: {m: [2 * v[0]] for m, v in row.items()} for key, row in res["old"].items()}
    rows = ttq.spread_ratio_table(res, ["old"])
    twice = [r for r in rows if r.startswith("| `twice` | 0 |")]
    assert len(twice) == 1 and "| 2.00 (2.00-2.00) |" in twice[0]


def test_a_windowed_schedule_is_costed_from_its_own_calibration():
    """A schedule with ``TrainConfig.crop`` is another kind of step: its calibration file is
    its own, and the published schedules' steps are not moved by it."""
    step = ttq.schedule_step("con3d039x64p105rg10f2")
    assert step.crop == 64 and step.stages == 3
    assert ttq.calibration_path("coffee", step).name == "calibration_c3_x64.json"
    assert ttq.schedule_step("con3d039p105rg10f2").crop == 0
    assert ttq.calibration_path("coffee", ttq.schedule_step("singan")).name == "calibration.json"


@pytest.mark.parametrize("start", [0, 1])
def test_quality_by_scale_ends_at_the_samples_the_engine_draws(tiny_pyramid, start):
    """Cut after the last scale, ``pyramid_quality_by_scale`` scores exactly what
    ``sample_normalised(start_scale=start)`` draws with the same seed; one value per scale from
    ``start`` on."""
    import numpy as np

    from singan_augment.engine.sample import sample_normalised
    from singan_augment.metrics import diversity

    n = 4
    rows = ttq.pyramid_quality_by_scale(tiny_pyramid, n=n, seed=3, start=start)
    assert len(rows["diversity"]) == len(rows["swd"]) == tiny_pyramid.num_trained - start
    x = np.moveaxis(np.asarray(sample_normalised(tiny_pyramid, 3, n, start_scale=start)), -1, 1)
    real = np.moveaxis(np.asarray(tiny_pyramid.reals[-1]), -1, 0)[None]
    assert rows["diversity"][-1] == pytest.approx(diversity(x, real), rel=1e-6)
    assert all(v > 0 for v in rows["diversity"])


def test_every_registered_schedule_builds_or_names_its_retired_option():
    """The registry keeps the schedules that ran with options retired since
    (``engine.config.RETIRED_TRAIN_FIELDS``): they refuse to build by the option's name, every
    other schedule builds, and ``fast`` is still found among them."""
    from singan_augment.engine.config import RETIRED_TRAIN_FIELDS
    from singan_augment.errors import InputError

    retired = [s for s in ttq.SCHEDULES.values() if ttq.retired(s)]
    assert {"con3c015p115rg10f2", "con3f1q05p115rg10f2"} <= {s.name for s in retired}
    for sched in ttq.SCHEDULES.values():
        if sched in retired:
            with pytest.raises(InputError, match="|".join(RETIRED_TRAIN_FIELDS)):
                ttq.configs(sched)
        else:
            ttq.configs(sched)
    assert ttq.fast_name() == "con3d039p105rg10f2"


def test_the_report_reads_every_committed_result(tmp_path, capsys):
    """``report`` on the committed results tree: it prints a row per registered job and draws
    the figure; result folders of schedules the registry no longer holds (the growing
    generator's) are left out, not costed as another step (its crash on them went unseen
    from 2026-12-05 to 2026-12-06)."""
    fig = tmp_path / "ttq.png"
    assert ttq.main(["report", "--figure", str(fig)]) == 0
    assert fig.stat().st_size > 10_000
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| coffee | con")]
    assert rows and "| coffee | singan | " in out
    on_disk = {d.parent.name for d in ttq.ROOT.glob("*/grow*/quality.json")}
    assert on_disk  # the growing runs are committed ...
    assert "| grow" not in out and not any(
        n.startswith("grow") for runs in ttq.load_results().values() for n in runs
    )  # ... and not reported
