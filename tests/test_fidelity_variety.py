"""benchmarks/fidelity_variety.py: the least-squares line of diversity on ln SWD with its
bootstrap interval, the points it is fitted on, and the table and figure from the committed
time-to-quality results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from singan_augment.testing import load_script

fv = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "fidelity_variety.py")


@pytest.mark.parametrize("a,b", [(0.65, 0.45), (1.0, 0.0), (0.9, -0.2)])
def test_an_exact_line_is_recovered_with_a_closed_interval(a, b):
    x = np.array([0.4, 0.7, 1.0, 1.6, 2.5])
    f = fv.fit_line(x, a + b * np.log(x))
    assert f.n == 5
    assert f.a == pytest.approx(a) and f.b == pytest.approx(b)
    assert f.at == pytest.approx(a + b * np.log(1.1))
    assert f.lo == pytest.approx(f.at) and f.hi == pytest.approx(f.at)
    if b != 0:
        assert f.r2 == pytest.approx(1.0)


def test_noise_opens_the_interval_around_the_fit_and_more_points_narrow_it():
    rng = np.random.default_rng(3)

    def fit(n):
        x = np.exp(rng.uniform(-1, 1, n))
        return fv.fit_line(x, 0.7 + 0.4 * np.log(x) + rng.normal(0, 0.1, n))

    few, many = fit(8), fit(200)
    for f in (few, many):
        assert f.lo < f.at < f.hi
        assert 0 < f.r2 < 1
    assert many.hi - many.lo < few.hi - few.lo
    assert many.lo < 0.7 + 0.4 * np.log(1.1) < many.hi


def test_the_fit_is_deterministic_under_its_seed():
    x = [0.5, 0.6, 0.8, 1.0, 1.3, 1.7, 2.0, 2.6]
    y = [0.4, 0.55, 0.7, 0.6, 0.9, 0.75, 1.1, 0.95]
    assert fv.fit_line(x, y) == fv.fit_line(x, y)
    assert fv.fit_line(x, y, seed=1) != fv.fit_line(x, y)


@pytest.mark.parametrize(
    "x,y,match",
    [
        ([1.0, 2.0], [0.5, 0.6], "at least 3 points, got 2"),
        ([1.0, 2.0, 3.0], [0.5, 0.6], "one length"),
        ([1.0, 0.0, 3.0], [0.5, 0.6, 0.7], "finite and positive"),
        ([1.0, np.nan, 3.0], [0.5, 0.6, 0.7], "finite and positive"),
        ([2.0, 2.0, 2.0], [0.5, 0.6, 0.7], "one distinct value"),
    ],
)
def test_bad_points_are_refused_by_name(x, y, match):
    with pytest.raises(ValueError, match=match):
        fv.fit_line(x, y)


@pytest.fixture(scope="module")
def results():
    return fv.ttq.load_results()


def test_points_are_ratios_to_the_published_pyramid_and_sorted_by_kind(results):
    runs = results["coffee"]
    pts = {p.name: p for p in fv.image_points("coffee", runs)}
    assert "singan" not in pts
    bq = runs["singan"]["quality"]
    for p in pts.values():
        assert p.kind in fv.KINDS
        for s in fv.STARTS:
            assert p.swd[s] == pytest.approx(runs[p.name]["quality"][s]["swd"] / bq[s]["swd"])
            assert p.div[s] == pytest.approx(
                runs[p.name]["quality"][s]["diversity"] / bq[s]["diversity"]
            )
        assert p.fitted == (p.kind == "candidate")
        if p.fitted and p.time is not None:
            assert p.time <= fv.FIT_MAX_TIME
    assert pts["singans1"].kind == "published, another seed"
    assert pts["plateau2000"].kind == "slower candidate"  # 1/2.5 of the time
    assert pts["con3d039p105rg10f2"].fitted and fv.is_fast("coffee", "con3d039p105rg10f2")
    assert fv.is_fast("brain", "con3p105rg10f2s1") and not fv.is_fast("brain", "con3p105")
    assert fv.is_fast("histology", "con3d039p105rg10f2s1")  # `fast`'s own name, seed 1
    assert not fv.is_fast("coffee", "con3f1p105rg10f2")  # resolved so on histology only


def test_an_image_without_its_baseline_is_named(results):
    runs = {k: v for k, v in results["coffee"].items() if k != "singan"}
    with pytest.raises(KeyError, match="coffee: no finished 'singan'"):
        fv.image_points("coffee", runs)


def test_the_table_lists_exactly_the_candidates_inside_each_box(results):
    lines = fv.table(results)
    rows = [r for r in lines[2:] if r.startswith("| coffee | 0 |")]
    assert len(rows) == 1
    inside = {
        p.name
        for p in fv.image_points("coffee", results["coffee"])
        if p.kind in ("candidate", "slower candidate")
        and p.swd["start0"] <= 1.1
        and p.div["start0"] >= 0.8
    }
    listed = rows[0].rsplit("|", 2)[1]
    assert {n for n in inside if f" {n} (" in listed} == inside
    assert listed.count("(") == len(inside)
    assert len([r for r in lines[2:] if r.startswith("| ")]) == 2 * sum(
        "singan" in r for r in results.values()
    )


def test_the_figure_is_written(results, tmp_path):
    out = tmp_path / "fv.png"
    fv.figure({k: results[k] for k in ("coffee", "ihc")}, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
