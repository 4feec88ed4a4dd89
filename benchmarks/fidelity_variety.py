"""The fidelity–variety line: every committed time-to-quality result on patch SWD against
diversity, both as ratios to the image's published pyramid (``singan``), with issue 12's box
(SWD <= 1.1x, diversity >= 0.8x) and a least-squares line per image and start scale.

Protocol, registered before this ran: docs/time_to_quality.md, "The fidelity–variety line,
drawn and fitted". Reads ``benchmarks/results/time_to_quality`` (draw 0, as the protocol's
verdicts do); trains and samples nothing.

    python benchmarks/fidelity_variety.py                       # the table
    python benchmarks/fidelity_variety.py --figure docs/figures/time_to_quality_fidelity_variety.png

Which points are fitted: candidates, i.e. not ``singan``, not the published schedule's
other seed, not the published schedule at fewer iterations (``iters*``), not a warm start,
and modelled at most ``FIT_MAX_TIME`` of ``singan``'s time (or not modelled at all). The
others are drawn with their own markers and not fitted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import time_to_quality as ttq  # noqa: E402

# issue 12: the bar's SWD and diversity (``ttq.SWD_BAR``, ``ttq.DIV_BAR``) in 1/6 of the time
TIME_BAR = 1 / 6
FIT_MAX_TIME = 1 / 4  # candidates slower than this share of the baseline's time are not fitted
STARTS = ("start0", "start1")
# ``fast``'s rule resolves, bit for bit, to a fixed schedule trained under that schedule's own
# name on these images (docs/time_to_quality.md, "A per-image rule"); elsewhere ``fast``'s runs
# are named ``ttq.fast_name()`` (and ``...s<seed>`` for other seeds)
FAST_RESOLVED = {"brain": "con3p105rg10f2", "histology": "con3f1p105rg10f2"}
KINDS = (
    "candidate",
    "slower candidate",
    "published, another seed",
    "published, fewer iterations",
    "warm start",
)


class Point(NamedTuple):
    """One finished job, as ratios to its image's ``singan``: ``swd`` and ``div`` map
    ``"start0"``/``"start1"`` to SWD and diversity ratios; ``time`` is the modelled-time ratio
    (None where its step has no calibration); ``kind`` is one of ``KINDS``."""

    name: str
    kind: str
    time: float | None
    swd: dict[str, float]
    div: dict[str, float]

    @property
    def fitted(self) -> bool:
        return self.kind == "candidate"

    @property
    def candidate(self) -> bool:
        """A candidate schedule, fitted or slower than ``FIT_MAX_TIME``."""
        return self.kind in ("candidate", "slower candidate")

    def in_box(self, start: str) -> bool:
        return self.swd[start] <= ttq.SWD_BAR and self.div[start] >= ttq.DIV_BAR


def kind_of(name: str, time: float | None) -> str:
    """Which of ``KINDS`` a job of the registry is (``time``: its modelled-time ratio)."""
    if ttq.baseline_repeat(name):
        return "published, another seed"
    if name.startswith("iters"):
        return "published, fewer iterations"
    if ttq.SCHEDULES[name].warm:
        return "warm start"
    if time is not None and time > FIT_MAX_TIME:
        return "slower candidate"
    return "candidate"


def is_fast(image: str, name: str) -> bool:
    """Whether job ``name`` on ``image`` is ``fast``'s schedule (any training seed), under its
    own name or under the fixed schedule its rule resolved to there (``FAST_RESOLVED``)."""
    bases = {ttq.fast_name(), FAST_RESOLVED.get(image)} - {None}
    return any(
        name == base or (name.startswith(base + "s") and name[len(base) + 1 :].isdigit())
        for base in bases
    )


def image_points(image: str, runs: dict[str, dict]) -> list[Point]:
    """Every job of ``runs`` (``load_results()[image]``) but ``singan`` itself, as ``Point``s.
    Raises ``KeyError`` naming the image if it has no finished ``singan``."""
    if "singan" not in runs:
        raise KeyError(f"{image}: no finished 'singan' job to take ratios to")
    bq = runs["singan"]["quality"]
    t0 = ttq.modelled_seconds(image, "singan", runs["singan"]["timing"])
    out = []
    for name, r in sorted(runs.items()):
        if name == "singan":
            continue
        m = ttq.modelled_seconds(image, name, r["timing"])
        time = None if m is None or t0 is None else m / t0
        q = r["quality"]
        out.append(
            Point(
                name,
                kind_of(name, time),
                time,
                {s: q[s]["swd"] / bq[s]["swd"] for s in STARTS},
                {s: q[s]["diversity"] / bq[s]["diversity"] for s in STARTS},
            )
        )
    return out


class LineFit(NamedTuple):
    """``y = a + b ln x`` by least squares over ``n`` points; ``at`` is the fitted y at
    ``x_at`` and ``lo``/``hi`` its bootstrap interval (``nan`` where no resample had two
    distinct x)."""

    n: int
    a: float
    b: float
    r2: float
    x_at: float
    at: float
    lo: float
    hi: float


def _ols(u: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    du = u - u.mean()
    b = float(du @ (y - y.mean()) / (du @ du))
    return float(y.mean() - b * u.mean()), b


def fit_line(
    x, y, *, x_at: float = ttq.SWD_BAR, n_boot: int = 2000, seed: int = 0, level: float = 0.9
) -> LineFit:
    """Least squares of ``y`` on ``ln x`` (``x`` > 0, at least two distinct values), the fitted
    ``y`` at ``x_at`` and its ``level`` bootstrap interval over ``n_boot`` resamples of the
    points (resamples whose x are all equal are skipped). Raises ``ValueError`` naming the
    problem on fewer than 3 points, unequal lengths, a non-positive x or one distinct x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got shapes {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError(f"a line needs at least 3 points, got {len(x)}")
    if np.any(~np.isfinite(x)) or np.any(x <= 0) or np.any(~np.isfinite(y)):
        raise ValueError("x must be finite and positive, y finite")
    u = np.log(x)
    if np.ptp(u) == 0:
        raise ValueError(f"x has one distinct value ({x[0]}): no line through it")
    a, b = _ols(u, y)
    resid = y - (a + b * u)
    tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / tot if tot > 0 else 1.0
    ua = np.log(x_at)
    preds = [ai + bi * ua for ai, bi in _boot_lines(u, y, n_boot, seed)]
    tail = (1 - level) / 2
    lo, hi = np.quantile(preds, [tail, 1 - tail]) if preds else (np.nan, np.nan)
    return LineFit(len(x), a, b, r2, x_at, float(a + b * ua), float(lo), float(hi))


def _boot_lines(u: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> list[tuple[float, float]]:
    """(a, b) of the least-squares line through each of ``n_boot`` resamples of the points
    (with replacement; resamples whose ``u`` are all equal are skipped)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        i = rng.integers(0, len(u), len(u))
        if np.ptp(u[i]) > 0:
            out.append(_ols(u[i], y[i]))
    return out


def image_fits(points: list[Point]) -> dict[str, LineFit | None]:
    """The line of the fitted points per start scale (None where fewer than 3 are fitted)."""
    fitted = [p for p in points if p.fitted]
    out = {}
    for s in STARTS:
        try:
            out[s] = fit_line([p.swd[s] for p in fitted], [p.div[s] for p in fitted])
        except ValueError:
            out[s] = None
    return out


def table(res: dict[str, dict[str, dict]]) -> list[str]:
    """Markdown lines: per image and start scale, the fit and every point inside the box."""
    lines = [
        "| image | start | fitted points | a | b | R² "
        "| fitted diversity at SWD 1.1x (90 % interval) "
        "| inside this start's box (time; whole bar?) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for image, runs in res.items():
        if "singan" not in runs:
            continue
        pts = image_points(image, runs)
        fits = image_fits(pts)
        bq = runs["singan"]["quality"]
        for s in STARTS:
            f = fits[s]
            inside = [
                f"{p.name} ({'—' if p.time is None else f'1/{1 / p.time:.1f}'}; "
                f"{'yes' if ttq.meets_bar(runs[p.name]['quality'], bq) else 'no'})"
                for p in pts
                if p.in_box(s) and p.candidate
            ]
            fit = "| — | — | — | — | — "
            if f is not None:
                fit = f"| {f.n} | {f.a:.2f} | {f.b:.2f} | {f.r2:.2f} "
                fit += f"| {f.at:.2f} ({f.lo:.2f}–{f.hi:.2f}) "
            lines.append(f"| {image} | {s[-1]} {fit}| {', '.join(inside) or 'none'} |")
    return lines


X_RANGE = (0.25, 4.0)  # the figure's SWD-ratio axis; points beyond are drawn at its ends


def figure(res: dict[str, dict[str, dict]], path: Path) -> None:
    """Diversity ratio against SWD ratio (log), one column per image, one row per start
    scale: the box shaded, the fitted line with its 90 % bootstrap band, ``fast`` starred,
    the points within 1/6 of the time filled, the slower ones hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = [i for i, r in res.items() if "singan" in r]
    fig, axes = plt.subplots(2, len(images), figsize=(4.2 * len(images), 7.6), squeeze=False)
    style = {
        "candidate": dict(marker="s", color="0.35"),
        "slower candidate": dict(marker="s", color="0.35"),
        "published, another seed": dict(marker="o", color="tab:blue", mfc="none"),
        "published, fewer iterations": dict(marker=".", color="tab:blue"),
        "warm start": dict(marker="D", color="tab:purple"),
    }
    legend: dict = {}
    for j, image in enumerate(images):
        pts = image_points(image, res[image])
        fits = image_fits(pts)
        for i, s in enumerate(STARTS):
            ax = axes[i, j]
            box = dict(color="tab:green", alpha=0.12, lw=0, label="the bar's box")
            ax.add_patch(
                plt.Rectangle((X_RANGE[0], ttq.DIV_BAR), ttq.SWD_BAR - X_RANGE[0], 10, **box)
            )
            ax.plot(1, 1, "o", color="tab:blue", ms=8, label="published (singan)")
            shown = set()
            for p in pts:
                x = float(np.clip(p.swd[s], *X_RANGE))
                st = dict(style[p.kind], ms=5, ls="none")
                quick = p.time is not None and p.time <= TIME_BAR
                if p.candidate:
                    st["mfc"] = st["color"] if quick else "none"
                    label = f"candidate, {'within' if quick else 'over'} 1/6 of the time"
                else:
                    label = p.kind
                if x != p.swd[s]:
                    st["marker"] = ">" if x > 1 else "<"
                if is_fast(image, p.name):
                    st.update(marker="*", ms=12, color="tab:red", mec="black", mfc="tab:red")
                    label = "fast (each seed run)"
                ax.plot(x, p.div[s], label=None if label in shown else label, **st)
                shown.add(label)
                if p.kind != "published, another seed" and ttq.meets_bar(
                    res[image][p.name]["quality"], res[image]["singan"]["quality"]
                ):
                    whole = None if "whole" in shown else "meets the whole bar (draw 0)"
                    ring = dict(ls="none", marker="o", ms=10, mfc="none", mec="tab:green")
                    ax.plot(x, p.div[s], label=whole, **ring)
                    shown.add("whole")
            f = fits[s]
            if f is not None:
                fitted = [p for p in pts if p.fitted]
                u = np.log([p.swd[s] for p in fitted])
                y = np.array([p.div[s] for p in fitted])
                grid = np.geomspace(*X_RANGE, 60)
                line = f.a + f.b * np.log(grid)
                ax.plot(grid, line, color="tab:orange", lw=1.2, label="least squares, candidates")
                note = f"{f.n} fitted, R² {f.r2:.2f}\n"
                note += f"at 1.1x: {f.at:.2f} ({f.lo:.2f}–{f.hi:.2f})"
                ax.text(
                    0.97, 0.03, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=6
                )
                band = _band(u, y, np.log(grid))
                ax.fill_between(grid, band[0], band[1], color="tab:orange", alpha=0.15, lw=0)
                err = [[f.at - f.lo], [f.hi - f.at]]
                ax.errorbar(ttq.SWD_BAR, f.at, yerr=err, color="tab:orange", capsize=3, lw=1)
            ax.set_xscale("log")
            ax.set_xlim(*X_RANGE)
            ax.set_ylim(0, max(2.2, max(p.div[s] for p in pts) * 1.05))
            ax.set_xticks([0.25, 0.5, 1, 1.1, 2, 4])
            ax.set_xticklabels(["0.25", "0.5", "1", "", "2", "4"])
            ax.minorticks_off()
            ax.set_xlabel(f"SWD / published's, start {i} (log; lower: more faithful)")
            ax.set_ylabel(f"diversity / published's, start {i}")
            ax.set_title(f"{image}, start scale {i}", fontsize=9)
            for h, lab in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(lab, h)
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=5, fontsize=7)
    fig.suptitle(
        "Fidelity against variety, every finished schedule as a ratio to the published pyramid "
        "(draw 0). Green: the bar's box; orange: least squares of diversity on ln SWD over the "
        "candidates, band and bar = 90 % bootstrap",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _band(u: np.ndarray, y: np.ndarray, grid_u: np.ndarray, n_boot: int = 2000, seed: int = 0):
    """The 5 % and 95 % points of the bootstrap lines at ``grid_u`` (for the figure)."""
    lines = [a + b * grid_u for a, b in _boot_lines(u, y, n_boot, seed)]
    return np.quantile(np.array(lines), [0.05, 0.95], axis=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--figure", help="also write the figure here (PNG)")
    args = ap.parse_args(argv)
    res = ttq.load_results()
    print("\n".join(table(res)))
    if args.figure:
        figure(res, Path(args.figure))
        print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
