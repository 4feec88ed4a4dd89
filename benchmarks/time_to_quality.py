"""Time to a good pyramid: quality against training time, per schedule, per image.

Protocol (written before the runs; see docs/time_to_quality.md):

* Images (max side 128, so 7-8 scales): the shipped brain T1/T2w/FLAIR slice 4, the left half
  of the shipped H&E tile with its derived nuclei mask as a 4th (label) channel, and
  scikit-image's ``coffee`` (centre crop 3:4); a second held-out image, scikit-image's
  ``immunohistochemistry`` (``ihc``, whole), was added on 2026-12-02 for the revised rule,
  and a third, scikit-image's ``retina`` (a centred 3:4 crop inside the fundus disc), on
  2026-12-03 for the threshold fixed by formula.
  Warm-start siblings: brain slice 2 and the H&E tile's right half.
* One pyramid per (image, schedule), seed 0 (a repeat with another seed is a schedule of its
  own name). Each is checkpointed after every scale and resumed after a crash, so the queue
  survives interruptions; the per-scale wall and CPU seconds are kept with the checkpoint
  (a scale cut short is redone and counted once).
* Quality of a finished pyramid (``singan_augment.metrics``): 50 samples from start scale 0
  and 50 from start scale 1; pooled multi-scale patch SWD against the training image at the
  finest scale (the unclamped resize, so every schedule is scored against the same
  reference), the per-sample SWD spread (median, 10th/90th percentile), diversity (with a
  bootstrap 10-90 % interval), and for the H&E tile the per-sample mask consistency.
* Time: the machine is shared with development work, so wall seconds are contended.
  Process CPU seconds (all threads) are reported beside them; ratios are taken on both.

    python benchmarks/time_to_quality.py run --images brain --schedules singan,iters250
    python benchmarks/time_to_quality.py report      # table + figure from the cache

Results are cached in ``benchmarks/results/time_to_quality/<image>/<schedule>/``: the
pyramid files (git-ignored) and ``timing.json`` / ``quality.json`` (committed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parent / "results" / "time_to_quality"
MAX_SIZE = 128
N_SAMPLES = 50
SEED = 0


def commit_id() -> str:
    import subprocess

    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "singan_augment"]).returncode
    return run.stdout.strip() + ("+local" if dirty else "")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------------- images


@dataclass(frozen=True)
class BenchImage:
    name: str
    load: Callable[[], np.ndarray]  # (C, H, W) float32 in [0, 1]
    channels: tuple[str, ...]
    labels: tuple[str, ...] = ()
    sibling: Callable[[], np.ndarray] | None = None


def _brain(i: int) -> np.ndarray:
    from singan_augment.data import brain_multicontrast

    return brain_multicontrast(i)[0]


def _he(half: int) -> np.ndarray:
    from singan_augment.data import histology

    img, mask, _ = histology("he")
    both = np.concatenate([img, mask[None].astype(np.float32)])
    w = both.shape[2] // 2
    return np.ascontiguousarray(both[:, :, half * w : (half + 1) * w])


def _coffee() -> np.ndarray:
    from skimage import data

    img = data.coffee().astype(np.float32) / 255.0  # 400x600
    cw = 400 * 4 // 3
    x0 = (600 - cw) // 2
    return np.ascontiguousarray(np.moveaxis(img[:, x0 : x0 + cw], -1, 0))


def _ihc() -> np.ndarray:
    from skimage import data

    # the second held-out image (amendment of 2026-12-02, 06:20), never looked at before
    img = data.immunohistochemistry().astype(np.float32) / 255.0  # 512x512
    return np.ascontiguousarray(np.moveaxis(img, -1, 0))


def _retina() -> np.ndarray:
    from skimage import data

    # the third held-out image (amendment of 2026-12-03, 12:40), never looked at before: the
    # fundus disc is centred at (703, 704) with radius ~696 px (pixels brighter than 20/255);
    # the crop is the largest centred 3:4 rectangle inside it, shrunk by 10 % so that no
    # black border enters (750 x 1000 px)
    img = data.retina()[328:1078, 204:1204].astype(np.float32) / 255.0
    return np.ascontiguousarray(np.moveaxis(img, -1, 0))


IMAGES = {
    "brain": BenchImage(
        "brain", lambda: _brain(4), ("t1", "t2w_sim", "flair_sim"), sibling=lambda: _brain(2)
    ),
    "histology": BenchImage(
        "histology",
        lambda: _he(0),
        ("r", "g", "b", "nuclei"),
        ("nuclei",),
        sibling=lambda: _he(1),
    ),
    "coffee": BenchImage("coffee", _coffee, ("r", "g", "b")),
    "ihc": BenchImage("ihc", _ihc, ("r", "g", "b")),
    "retina": BenchImage("retina", _retina, ("r", "g", "b")),
}

# ----------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Schedule:
    """A named way to train: train-config overrides, model-config overrides, warm start,
    pyramid-config overrides (``num_scales``: a fixed scale count)."""

    name: str
    train: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    warm: bool = False  # fine-tune from the sibling image's pyramid
    sibling_schedule: str = "singan"  # the schedule the sibling's pyramid is trained with
    note: str = ""
    seed: int = SEED  # a repeat of a schedule with another training seed has its own name
    pyramid: dict = field(default_factory=dict)


def reseeded(sched: Schedule, seed: int, note: str | None = None) -> Schedule:
    """``sched`` trained with another seed: named ``<name>s<seed>``, its note ``note`` (by
    default ``sched``'s note and "; seed <seed>")."""
    return replace(
        sched, name=f"{sched.name}s{seed}", seed=seed, note=note or f"{sched.note}; seed {seed}"
    )


def variant(base: Schedule, name: str, note: str, **train) -> Schedule:
    """``base`` renamed, with the ``TrainConfig`` fields in ``train`` changed."""
    return replace(base, name=name, train={**base.train, **train}, note=note)


def _schedules() -> dict[str, Schedule]:
    out = [
        Schedule("singan", note="published: 2000 iterations at every scale"),
        Schedule("iters1000", {"iters": 1000}),
        Schedule("iters500", {"iters": 500}),
        Schedule("iters250", {"iters": 250}),
        Schedule("noclamp500", {"iters": 500}, {"clamp": False}, note="clamp effect at 500"),
        Schedule("decay1000p05", {"iters": 1000, "iters_decay": 0.5, "iters_min": 100}),
        Schedule("decay500p05", {"iters": 500, "iters_decay": 0.5, "iters_min": 100}),
        Schedule("decay600p1", {"iters": 600, "iters_decay": 1.0, "iters_min": 60}),
        Schedule(
            "plateau2000",
            {"iters": 2000, "plateau_window": 100, "plateau_tol": 0.02},
            note="published counts as a cap; stop a scale once its reconstruction loss falls "
            "< 2 % over a 100-iteration window (lr drop, then 25 % more)",
        ),
        Schedule(
            "decay2000p1",
            {"iters": 2000, "iters_decay": 1.0, "iters_min": 100},
            note="cost-balanced (added 2026-12-01): the published 2000 at the cheap coarsest "
            "scale, falling with area",
        ),
        Schedule(
            "decay2000p15",
            {"iters": 2000, "iters_decay": 1.5, "iters_min": 100},
            note="cost-balanced, steeper (added 2026-12-01)",
        ),
        Schedule(
            "decay2000p1rg12",
            {"iters": 2000, "iters_decay": 1.0, "iters_min": 100, "rec_weight_growth": 1.2},
            note="decay2000p1 with the reconstruction weight growing with area^1.2 (alpha 10 "
            "at the coarsest scale, about 300 at the finest; added 2026-12-01, 10:00)",
        ),
        Schedule(
            "decay2000p09rg06",
            {"iters": 2000, "iters_decay": 0.9, "iters_min": 100, "rec_weight_growth": 0.6},
            note="more iterations than decay2000p1 (power 0.9, 1/6.2 of the baseline's cost on "
            "brain) and a milder alpha growth (area^0.6: 55 at the finest; added 10:20)",
        ),
        Schedule(
            "decay2000p09rg08",
            {"iters": 2000, "iters_decay": 0.9, "iters_min": 100, "rec_weight_growth": 0.8},
            note="as decay2000p09rg06 with alpha growing as area^0.8 (98 at the finest)",
        ),
        Schedule(
            "decay2000p09rg09",
            {"iters": 2000, "iters_decay": 0.9, "iters_min": 100, "rec_weight_growth": 0.9},
            note="as decay2000p09rg08 with alpha growing as area^0.9 (129 at the finest; "
            "added 10:45)",
        ),
        Schedule(
            "decay2000p09rg10",
            {"iters": 2000, "iters_decay": 0.9, "iters_min": 100, "rec_weight_growth": 1.0},
            note="as decay2000p09rg08 with alpha growing as area^1.0 (172 at the finest)",
        ),
        Schedule("warm250", {"iters": 250}, warm=True),
        Schedule("warm100", {"iters": 100}, warm=True),
    ]
    by_name = {s.name: s for s in out}
    # repeats with training seed 1 (amendment of 2026-12-01, 13:20): is a score the seed's?
    for name in ("decay2000p09rg08", "decay2000p09rg09"):
        note = f"{name} with training seed 1 (added 2026-12-01, 13:20)"
        by_name[f"{name}s1"] = reseeded(by_name[name], 1, note=note)
    rg10 = by_name["decay2000p09rg10"]
    f2 = replace(
        rg10,
        name="decay2000p09rg10f2",
        train={**rg10.train, "rec_weight_growth_scales": 2},
        note="as decay2000p09rg10 with the growth confined to the two finest scales "
        "(added 2026-12-01, 15:25)",
    )
    by_name[f2.name] = f2
    # ConSinGAN-style concurrent stages (amendment of 2026-12-01, 17:50, corrected 17:55
    # before any run): three generators trained together, lr x0.1 per scale back;
    # iterations to power 1.05 (1/6.5 of the baseline on brain, the two steps' costs
    # measured side by side)
    con = {"iters": 2000, "iters_decay": 1.05, "iters_min": 100, "concurrent_stages": 3}
    by_name["con3p105"] = Schedule(
        "con3p105", con, note="3 concurrent stages, lr scale 0.1 (added 2026-12-01, 17:55)"
    )
    by_name["con3p105rg10f2"] = Schedule(
        "con3p105rg10f2",
        {**con, "rec_weight_growth": 1.0, "rec_weight_growth_scales": 2},
        note="con3p105 with alpha grown at the two finest scales (added 2026-12-01, 17:55)",
    )
    # its seed-1 repeat, as the amendment of 17:50/17:55 provides for a passing schedule
    c = by_name["con3p105rg10f2"]
    by_name["con3p105rg10f2s1"] = reseeded(c, 1, note=f"{c.note}, seed 1 (added 18:25)")
    by_name[f"{f2.name}s1"] = reseeded(f2, 1, note=f"{f2.note}, seed 1")
    # warm starts from the sibling's `fast` pyramid (amendment of 2026-12-01, 20:50): in a
    # dataset, fit-dataset trains the first pyramid with `fast`; the fine-tune is the
    # published one-stage step with fast's alpha growth, 60 / 30 iterations at every scale
    grow = {"rec_weight_growth": 1.0, "rec_weight_growth_scales": 2}
    for n in (60, 30):
        by_name[f"warmfast{n}"] = Schedule(
            f"warmfast{n}",
            {"iters": n, **grow},
            warm=True,
            sibling_schedule="con3p105rg10f2",
            note=f"every scale from the sibling's fast pyramid, then {n} iterations "
            "(added 2026-12-01, 20:50)",
        )
    # more fine-tuning where it is cheap (amendment of 21:55, after warmfast60/30 were read)
    for it, p in ((600, 1.5), (400, 1.0)):
        name = f"warmfast{it}p{str(p).replace('.', '')}"
        by_name[name] = Schedule(
            name,
            {"iters": it, "iters_decay": p, "iters_min": 30, **grow},
            warm=True,
            sibling_schedule="con3p105rg10f2",
            note=f"warm start, then {it} (A_n/A_0)^-{p} iterations, floor 30 (added 21:55)",
        )
    # the coarsest generator kept out of the concurrent window (amendment of 2026-12-01, 23:40,
    # after the histology verdict): trained alone at scale 0 and frozen, as published
    c = by_name["con3p105rg10f2"]
    by_name["con3f1p105rg10f2"] = Schedule(
        "con3f1p105rg10f2",
        {**c.train, "concurrent_frozen_scales": 1},
        note="con3p105rg10f2 with the coarsest generator frozen after scale 0 (added 23:40)",
    )
    # its seed-1 repeat on ihc (2026-12-03, 11:28): is the diagnosis's pass the seed's?
    f1 = by_name["con3f1p105rg10f2"]
    by_name["con3f1p105rg10f2s1"] = reseeded(f1, 1, note=f"{f1.note}, seed 1 (added 2026-12-03)")
    # ConSinGAN's learning-rate scale as the dial between the two: 0.03 and 0.01 for the
    # validation screen on the siblings to pick from (amendment of 2026-12-02, 00:30; neither
    # ran on the benchmark images), and 0.015, the screen's log-midpoint (amendment of 00:50)
    for lr, added in ((0.03, "00:30"), (0.01, "00:30"), (0.015, "00:50")):
        name = f"con3lr{round(lr * 1000):03d}p105rg10f2"
        by_name[name] = Schedule(
            name,
            {**c.train, "concurrent_lr_scale": lr},
            note=f"con3p105rg10f2 with learning rate x{lr:g} per scale back (added {added})",
        )
    # a per-image rule (amendment of 2026-12-02, 03:35): the coarsest generator frozen when its
    # own diversity after scale 0 exceeds 0.39 (the validation siblings' geometric midpoint)
    by_name["con3d039p105rg10f2"] = Schedule(
        "con3d039p105rg10f2",
        {**c.train, "concurrent_freeze_diversity": 0.39},
        note="con3p105rg10f2, the coarsest generator frozen if its own diversity > 0.39 "
        "(added 2026-12-02, 03:35)",
    )
    # the rule with iterations falling faster, chosen on cost alone so that every image is
    # under 1/6 (amendment of 2026-12-02, 04:45: the rule's run on coffee was 1/5.48)
    by_name["con3d039p115rg10f2"] = Schedule(
        "con3d039p115rg10f2",
        {**by_name["con3d039p105rg10f2"].train, "iters_decay": 1.15},
        note="con3d039p105rg10f2 with iterations (A_n/A_0)^-1.15 (added 2026-12-02, 04:45)",
    )
    # the variant the rule did not choose on coffee, at the cheaper power (amendment of
    # 2026-12-02, 06:20): the coarsest generator frozen whatever its diversity
    by_name["con3f1p115rg10f2"] = Schedule(
        "con3f1p115rg10f2",
        {**by_name["con3f1p105rg10f2"].train, "iters_decay": 1.15},
        note="con3f1p105rg10f2 with iterations (A_n/A_0)^-1.15 (added 2026-12-02, 06:20)",
    )
    # the rule with its threshold moved by a formula fixed before the runs that decide it
    # (amendment of 2026-12-02, 06:20): the geometric midpoint of brain slice 2 (0.254,
    # fine-tune) and coffee (0.357), adopted only if coffee shows it needs the frozen variant
    by_name["con3d030p115rg10f2"] = Schedule(
        "con3d030p115rg10f2",
        {**by_name["con3d039p115rg10f2"].train, "concurrent_freeze_diversity": 0.30},
        note="con3d039p115rg10f2 with threshold 0.30 (added 2026-12-02, 06:20)",
    )
    # the coarsest generator slowed, not frozen, with the finer windows kept at x0.1: one
    # schedule for every image instead of the per-image rule (amendment of 2026-12-02, 11:23)
    base = {**by_name["con3p105rg10f2"].train, "iters_decay": 1.15}
    for f in (0.15, 0.3):
        name = f"con3c{round(f * 100):03d}p115rg10f2"
        by_name[name] = Schedule(
            name,
            {**base, "concurrent_coarsest_lr": f},
            note=f"con3p105rg10f2 at power 1.15 with the coarsest generator's learning rate "
            f"x{f:g} while it trains with finer scales (added 2026-12-02, 11:23)",
        )
    # width 32 at every scale (amendment of 2026-12-02, 17:04): the coarsest generator frozen,
    # fast's counts (power 1.05) or the smallest power in 0.80 ... 1.05 that the width-32
    # calibrations cost at <= 1/6.3 of the baseline on brain, histology and coffee
    frozen = by_name["con3f1p105rg10f2"]
    powers = {"08": 0.8, "085": 0.85, "09": 0.9, "095": 0.95, "1": 1.0, "105": 1.05}
    for tag, p in powers.items():
        name = f"con3f1w32p{tag}rg10f2"
        by_name[name] = Schedule(
            name,
            {**frozen.train, "iters_decay": p},
            {"nfc_max": 32},
            note=f"con3f1p105rg10f2 at power {p:g} with the width capped at 32 at every "
            "scale (added 2026-12-02, 17:04)",
        )
    # the middle scales at the published count (amendment of 2026-12-02, 22:20): width 32 and
    # the coarsest generator frozen, 2000 iterations up to scale j, falling from there with the
    # smallest power in 1.00, 1.05, ... 2.50 costed at <= 1/6.3 on brain, histology and coffee
    # (the powers just below the chosen ones are here to show they cost too much)
    w32 = by_name["con3f1w32p08rg10f2"]
    for j, p in ((1, 1.1), (1, 1.15), (2, 1.95), (2, 2.0)):
        name = f"con3f1w32j{j}p{str(p).replace('.', '').rstrip('0')}rg10f2"
        by_name[name] = Schedule(
            name,
            {**w32.train, "iters_decay": p, "iters_decay_from": j},
            w32.model,
            note=f"con3f1w32p08rg10f2 with 2000 iterations up to scale {j}, then "
            f"(A_n/A_{j})^-{p:g} (added 2026-12-02, 22:20)",
        )
    # the middle generators frozen as well (amendment of 2026-12-02, 23:01): the two j-line
    # candidates with their full-count scales trained alone and frozen, as published
    for j, p in ((1, 1.15), (2, 2.0)):
        src = by_name[f"con3f1w32j{j}p{str(p).replace('.', '').rstrip('0')}rg10f2"]
        name = src.name.replace("con3f1", f"con3f{j + 1}")
        by_name[name] = Schedule(
            name,
            {**src.train, "concurrent_frozen_scales": j + 1},
            src.model,
            note=f"{src.name} with the generators of scales 0-{j} frozen after their own scale "
            "(added 2026-12-02, 23:01)",
        )
    # the middle generators braked, not frozen (amendment of 2026-12-02, 23:29): the j = 2
    # candidate with the concurrent learning-rate scale 0.03 and 0.01 instead of 0.1
    src = by_name["con3f1w32j2p2rg10f2"]
    for lr in (0.03, 0.01):
        name = f"con3lr{round(lr * 1000):03d}f1w32j2p2rg10f2"
        by_name[name] = Schedule(
            name,
            {**src.train, "concurrent_lr_scale": lr},
            src.model,
            note=f"{src.name} with learning rate x{lr:g} per scale back (added 2026-12-02, 23:29)",
        )
    # the middle generators braked alone (amendment of 2026-12-03, 06:22): the j = 2 candidate
    # with the finer windows at x0.1 as before and the generators of scales 1-2 (the ones trained
    # at the published count) at a further x0.2 or x0.15 whenever they train with a finer scale
    for c in (0.2, 0.15):
        name = f"con3b3c{round(c * 100):03d}f1w32j2p2rg10f2"
        by_name[name] = Schedule(
            name,
            {**src.train, "concurrent_coarsest_lr": c, "concurrent_coarsest_scales": 3},
            src.model,
            note=f"{src.name} with the generators of scales 1-2 at a further x{c:g} in the "
            "concurrent window (added 2026-12-03, 06:22)",
        )
    # a warm start fine-tuned with the fast step itself (amendment of 2026-12-02, 04:00)
    rule = by_name["con3d039p105rg10f2"]
    by_name["warmcon300p105"] = Schedule(
        "warmcon300p105",
        {**rule.train, "iters": 300, "iters_min": 20},
        warm=True,
        sibling_schedule="con3p105rg10f2",
        note="every scale from the sibling's fast pyramid, then fast's concurrent step for "
        "300 (A_n/A_0)^-1.05 iterations, floor 20 (added 2026-12-02, 04:00)",
    )
    # the same fine-tune from a sibling trained by `fast` itself (the per-image rule), as
    # fit-dataset would train a dataset's first pyramid; on brain the rule resolves to
    # con3p105rg10f2, so this is warmcon300p105 there (registered 2026-12-02, 15:20)
    by_name["warmcon300p105r"] = replace(
        by_name["warmcon300p105"],
        name="warmcon300p105r",
        sibling_schedule="con3d039p105rg10f2",
        note=f"{by_name['warmcon300p105'].note}; sibling trained by fast (the per-image rule)",
    )
    # `fast` itself with training seed 1, for histology, whose pass is one seed (registered
    # 2026-12-02, 15:09)
    fast = by_name["con3d039p105rg10f2"]
    by_name["con3d039p105rg10f2s1"] = reseeded(fast, 1)
    # its seed-1 repeat, sibling and fine-tune both seed 1, as the 04:00 amendment requires
    # before the warm-start goal counts (added 2026-12-02, 14:39)
    by_name["warmcon300p105s1"] = replace(
        by_name["warmcon300p105"],
        name="warmcon300p105s1",
        seed=1,
        sibling_schedule="con3p105rg10f2s1",
        note=f"{by_name['warmcon300p105'].note}; seed 1, sibling trained with seed 1",
    )
    # the rule's threshold moved by a formula fixed before the held-out retina runs (amendment
    # of 2026-12-03, 12:40): the geometric midpoint of the coarsest diversities of the two
    # images nearest the old threshold on which the passing side was measured, brain (0.220,
    # fine-tune) and ihc (0.383, frozen): sqrt(0.220 x 0.383) = 0.290
    by_name["con3d029p105rg10f2"] = replace(
        fast,
        name="con3d029p105rg10f2",
        train={**fast.train, "concurrent_freeze_diversity": 0.29},
        note="con3d039p105rg10f2 with threshold 0.29 (added 2026-12-03, 12:40)",
    )
    d29 = by_name["con3d029p105rg10f2"]
    by_name["con3d029p105rg10f2s1"] = reseeded(d29, 1)
    # `fast` with training seed 2, for retina, where seeds 0 and 1 split (registered
    # 2026-12-03, 17:58; it decides nothing, it measures how often `fast` passes there)
    by_name["con3d039p105rg10f2s2"] = reseeded(
        fast, 2, note=f"{fast.note}; seed 2 (2026-12-03, 17:58)"
    )
    # `fast` with every scale's iterations halved (1000 at the coarsest scale, the same fall
    # with area, floor 50), chosen on modelled cost alone for <= 1/10 on brain (1/10.73):
    # can the stretch goal be met where `fast` has a margin? (registered 2026-12-03, 20:10,
    # before it ran; it does not change `fast`)
    half = replace(
        fast,
        name="con3d039i1000p105rg10f2",
        train={**fast.train, "iters": 1000, "iters_min": 50},
        note="con3d039p105rg10f2 with iterations halved: 1000 (A_n/A_0)^-1.05, floor 50 "
        "(added 2026-12-03, 20:10)",
    )
    by_name[half.name] = half
    by_name[f"{half.name}s1"] = reseeded(half, 1)
    # its fine-tuned side: the coarsest generator always trained on with the window, whatever
    # its own diversity (on coffee the rule froze it at 0.404; registered 2026-12-06, 00:36,
    # before it ran; a diagnosis: it does not change `fast`)
    half_ft = variant(
        half,
        "con3i1000p105rg10f2",
        "con3d039i1000p105rg10f2 with the coarsest generator always fine-tuned (no freeze rule) "
        "(added 2026-12-06)",
        concurrent_freeze_diversity=0.0,
    )
    by_name[half_ft.name] = half_ft
    by_name[f"{half_ft.name}s1"] = reseeded(half_ft, 1)
    # the concurrent window's coarser generators pulled by the trained scale's reconstruction
    # loss alone (TrainConfig.concurrent_adversarial_pull 0, retired 2026-12-06), one schedule
    # for every image (no freeze rule), at power 1.15, the cheapest fall that brings coffee
    # under 1/6 (registered 2026-12-03, 22:13, before it ran; section "The concurrent pull
    # through the reconstruction alone")
    rp = Schedule(
        "con3rp115rg10f2",
        {
            **by_name["con3p105rg10f2"].train,
            "iters_decay": 1.15,
            "concurrent_adversarial_pull": 0.0,
        },
        note="con3p105rg10f2 at power 1.15, the coarser generators trained by the "
        "reconstruction loss alone (added 2026-12-03, 22:13)",
    )
    by_name[rp.name] = rp
    # the same with a share a of the adversarial gradient reaching the coarser generators
    # (TrainConfig.concurrent_adversarial_pull); the validation screen picks which share runs
    # (registered 2026-12-04, 05:10, before any run; section "A share of the adversarial pull")
    for share, tag in ((0.1, "a01"), (0.3, "a03")):
        by_name[f"con3{tag}p115rg10f2"] = replace(
            rp,
            name=f"con3{tag}p115rg10f2",
            train={**rp.train, "concurrent_adversarial_pull": share},
            note=f"con3rp115rg10f2 with a share {share:g} of the adversarial pull on the "
            "coarser generators (added 2026-12-04, 05:10)",
        )
    # `fast` with the lazy gradient penalty (TrainConfig.gp_every 3: on the first of each
    # iteration's three D steps, weighted 3x), the same iteration counts: a cheaper step, not
    # a new schedule of counts (registered 2026-12-04, 17:50, before it ran; section "A lazy
    # gradient penalty")
    by_name["con3d039g3p105rg10f2"] = variant(
        fast,
        "con3d039g3p105rg10f2",
        "con3d039p105rg10f2 with the gradient penalty on one D step in three, weighted 3x "
        "(added 2026-12-04, 17:50)",
        gp_every=3,
    )
    # the concurrent pull as in ConSinGAN (no freeze rule, one schedule for every image) with a
    # mode-seeking term on the window's coarser generators (TrainConfig.
    # concurrent_diversity_weight w: -w log mean|y - y'| over two random inputs), at the
    # weights 1 and 10 and a power grid; the power that runs is read from coffee's
    # calibration of the step before either trains (registered 2026-12-04, 21:05, before any
    # run; section "A mode-seeking term on the pulled generators")
    for w in (1, 10):
        for power in (1.15, 1.2, 1.25, 1.3, 1.35):
            tag = f"p{str(power).replace('.', '')}"
            name = f"con3m{w}{tag}rg10f2"
            by_name[name] = Schedule(
                name,
                {
                    **by_name["con3p105rg10f2"].train,
                    "iters_decay": power,
                    "concurrent_diversity_weight": float(w),
                },
                note=f"con3p105rg10f2 at power {power:g} with the mode-seeking term, weight {w} "
                "(added 2026-12-04, 21:05)",
            )
    # the term as a floor (TrainConfig.concurrent_diversity_floor 1: w max(0, log v0 - log v),
    # v0 the window's variety at the scale's start), w = 10, at the power read for the plain
    # term (the same step): registered 2026-12-04, 21:54, before it ran, after the plain term's
    # runs had shown the reconstruction traded away (section "A mode-seeking term on the
    # pulled generators")
    plain = by_name["con3m10p12rg10f2"]
    by_name["con3m10h1p12rg10f2"] = variant(
        plain,
        "con3m10h1p12rg10f2",
        "con3m10p12rg10f2 with the term as a floor at the window's starting variety "
        "(added 2026-12-04, 21:54)",
        concurrent_diversity_floor=1.0,
    )
    # the coffee candidate nearest the bar with training seed 1, scored over 5 draws of the
    # samples (registered 2026-12-05, 00:00, before it ran; section "A second seed of the
    # coffee candidate nearest the bar")
    j1 = by_name["con3f1w32j1p115rg10f2"]
    by_name[f"{j1.name}s1"] = reseeded(j1, 1, note=f"{j1.note}; seed 1 (added 2026-12-05)")
    # the published schedule itself with training seed 1, on coffee: how far the baseline's
    # own seed moves the bar (registered 2026-12-05, 00:04, before it ran; section "The
    # baseline's own second seed on coffee")
    by_name["singans1"] = reseeded(by_name["singan"], 1)
    # ConSinGAN's other half: a fixed, smaller scale count (PyramidConfig.num_scales 5 or 6,
    # evenly spaced between the published pyramid's two ends), with `fast --coarsest freeze`'s
    # step (three concurrent stages, the coarsest generator frozen); the power that runs is the
    # smallest on this grid that coffee's calibration of the step costs at <= 1/6.3
    # (registered 2026-12-05, 03:13, before any run; section "Fewer scales")
    frozen = by_name["con3f1p105rg10f2"]
    for count in (5, 6):
        for power in (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05):
            tag = f"p{str(power).replace('.', '').rstrip('0')}"
            name = f"con3f1n{count}{tag}rg10f2"
            by_name[name] = Schedule(
                name,
                {**frozen.train, "iters_decay": power},
                note=f"con3f1p105rg10f2 at power {power:g} on a pyramid of {count} scales "
                "(added 2026-12-05, 03:13)",
                pyramid={"num_scales": count},
            )
    # the learning rate of a scale's own generator and critic raised as its count falls
    # (TrainConfig.lr_iters_power q = 0.5: lr * (2000 / iters_n)^0.5), on `fast --coarsest
    # freeze`'s step at power 1.15; coffee, seeds 0 and 1 (registered 2026-12-05, 06:25, before
    # any code for it existed; section "A learning rate that grows as a scale's iterations
    # shrink")
    f1p115 = by_name["con3f1p115rg10f2"]
    q05 = variant(
        f1p115,
        "con3f1q05p115rg10f2",
        "con3f1p115rg10f2 with each scale's own lr x (2000 / iters_n)^0.5 (added 2026-12-05)",
        lr_iters_power=0.5,
    )
    by_name[q05.name] = q05
    by_name[f"{q05.name}s1"] = reseeded(q05, 1, note=f"{q05.note}; seed 1")
    # the j line's seed 0 trained again with identical settings into a directory of its own,
    # its first run kept no weights (registered 2026-12-05, 08:26; section "Two-seed verdicts
    # on coffee")
    by_name[f"{j1.name}r"] = replace(
        j1, name=f"{j1.name}r", note=f"{j1.note}; trained again for its weights (2026-12-05)"
    )
    # the j line with the mode-seeking floor on its pulled generators (w = 10, f = 1, as
    # con3m10h1p12rg10f2), seeds 0 and 1, read by the two-seed rule of 08:26; the power is the
    # smallest of 1.15, 1.2, 1.25 that coffee's calibration of the width-32 step with the term
    # costs at <= 1/6.3 (registered 2026-12-05, 09:23, before any run; section "The mode-seeking
    # floor on the j line")
    for power in (1.15, 1.2, 1.25):
        tag = f"p{str(power).replace('.', '').rstrip('0')}"
        jm = Schedule(
            f"con3f1w32j1m10h1{tag}rg10f2",
            {
                **j1.train,
                "iters_decay": power,
                "concurrent_diversity_weight": 10.0,
                "concurrent_diversity_floor": 1.0,
            },
            dict(j1.model),
            note=f"con3f1w32j1p115rg10f2 at power {power:g} with the mode-seeking floor "
            "(w 10, f 1) on the window's pulled generators (added 2026-12-05, 09:23)",
        )
        by_name[jm.name] = jm
        by_name[f"{jm.name}s1"] = reseeded(jm, 1, note=f"{jm.note}; seed 1")
    # training windows (TrainConfig.crop = 64: every scale wider or taller than 64 px trained
    # on random 64-px windows), first at `fast`'s own counts and rule: the same schedule made
    # cheaper, if its quality holds (registered 2026-12-05, 15:33, before any run; section
    # "Training windows at `fast`'s counts")
    fast = by_name["con3d039p105rg10f2"]
    by_name["con3d039x64p105rg10f2"] = Schedule(
        "con3d039x64p105rg10f2",
        {**fast.train, "crop": 64},
        note="fast (con3d039p105rg10f2) with every scale over 64 px trained on random 64-px "
        "windows (added 2026-12-05)",
    )
    # the windows' saving spent on iterations, on histology only: power 0.85, the smallest
    # on a 0.05 grid that histology's window calibration costs at <= 1/6.3 (1/6.34)
    # (registered 2026-12-05, 17:16, before it ran; a diagnosis, not a candidate; section
    # "Training windows at `fast`'s counts")
    x = by_name["con3d039x64p105rg10f2"]
    by_name["con3d039x64p085rg10f2"] = replace(
        x,
        name="con3d039x64p085rg10f2",
        train={**x.train, "iters_decay": 0.85},
        note="con3d039x64p105rg10f2 at power 0.85 (added 2026-12-05)",
    )
    # `fast` with the finest two scales' reconstruction weight grown with area^0.5 instead of
    # area^1 (alpha 35/43 instead of 121/183 on histology), seeds 0 and 1 on histology and
    # brain, read by the two-seed rule of 08:26 (registered 2026-12-05, 17:51, before any run;
    # section "A milder reconstruction weight at the finest scales")
    g05 = variant(
        fast,
        "con3d039p105rg05f2",
        "fast (con3d039p105rg10f2) with rec_weight_growth 0.5 (added 2026-12-05)",
        rec_weight_growth=0.5,
    )
    by_name[g05.name] = g05
    by_name[f"{g05.name}s1"] = reseeded(g05, 1, note=f"{g05.note}; seed 1")
    # `fast` with each coarser generator of a concurrent window anchored to its own scale's
    # image at its own alpha (TrainConfig.concurrent_rec_anchor 1); costed as `fast`'s step
    # (registered 2026-12-05, 18:32, before any run; section "Coarser generators anchored to
    # their own scales")
    anchored = variant(
        fast,
        "con3d039a1p105rg10f2",
        "fast (con3d039p105rg10f2) with concurrent_rec_anchor 1 (added 2026-12-05)",
        concurrent_rec_anchor=1.0,
    )
    by_name[anchored.name] = anchored
    by_name[f"{anchored.name}s1"] = reseeded(anchored, 1, note=f"{anchored.note}; seed 1")
    # the same anchor at a tenth of the weight, histology and brain seed 0: where on the line
    # between `fast` and b = 1 it falls (registered 2026-12-05, 19:18, before it ran; a
    # diagnosis, not a candidate; same section)
    by_name["con3d039a01p105rg10f2"] = variant(
        fast,
        "con3d039a01p105rg10f2",
        "fast (con3d039p105rg10f2) with concurrent_rec_anchor 0.1 (added 2026-12-05)",
        concurrent_rec_anchor=0.1,
    )
    # `fast` with two concurrent stages instead of ConSinGAN's three: the coarsest generator
    # pulled through scale 1's window only, every generator by one finer scale (registered
    # 2026-12-06, 03:00, before it ran; section "Two concurrent stages")
    by_name["con2d039p105rg10f2"] = variant(
        fast,
        "con2d039p105rg10f2",
        "fast (con3d039p105rg10f2) with two concurrent stages (added 2026-12-06)",
        concurrent_stages=2,
    )
    by_name["con2d039p105rg10f2s1"] = reseeded(by_name["con2d039p105rg10f2"], 1)
    # `fast` with half its iterations at scales 1-3 only (1198, 757, 474 -> 599, 379, 237 on
    # coffee's pyramid; the finer scales keep `fast`'s counts): does the coarse window's pull
    # duration set the variety and the fine scales' iterations the fidelity? (registered
    # 2026-12-06, 03:34, before it ran; section "Half the pull at scales 1-3")
    by_name["con3d039h3p105rg10f2"] = variant(
        fast,
        "con3d039h3p105rg10f2",
        "fast (con3d039p105rg10f2) with 2000, 599, 379, 237 iterations at scales 0-3 "
        "(added 2026-12-06)",
        iters_by_scale=(2000, 599, 379, 237),
    )
    by_name["con3d039h3p105rg10f2s1"] = reseeded(by_name["con3d039h3p105rg10f2"], 1)
    # the one-at-a-time family (the published step, iterations falling with area, the
    # reconstruction weight growing with area) on coffee, where every candidate run so far
    # was concurrent; power 0.95 instead of brain's 0.9, whose cost on coffee is 1/5.96
    # (registered 2026-12-06, 04:33, before any run; section "The one-at-a-time family on
    # coffee")
    for rg in ("08", "09"):
        base = by_name[f"decay2000p09rg{rg}"]
        name = f"decay2000p095rg{rg}"
        by_name[name] = variant(
            base, name, f"{base.name} at power 0.95 (added 2026-12-06)", iters_decay=0.95
        )
    return by_name


SCHEDULES = _schedules()


def baseline_repeat(name: str) -> bool:
    """Whether ``name`` is the published schedule trained with another seed (``singans1``):
    a measure of the baseline's own spread, not a candidate."""
    sched = SCHEDULES.get(name)
    base = SCHEDULES["singan"]
    return (
        sched is not None
        and name != "singan"
        and replace(sched, name=base.name, seed=base.seed, note=base.note) == base
    )


def configs(schedule: Schedule):
    """The schedule's (model, train, pyramid) configs. One that sets a retired training
    option (``engine.config.RETIRED_TRAIN_FIELDS``) raises ``InputError`` naming it: its
    results stay, and the commit that can run it is named in the message."""
    from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig

    return (
        ModelConfig(**schedule.model),
        TrainConfig.from_dict(schedule.train),
        PyramidConfig(max_size=MAX_SIZE, **schedule.pyramid),
    )


def retired(schedule: Schedule) -> bool:
    """Whether the schedule sets a training option retired since it ran."""
    from singan_augment.engine.config import retired_train_fields

    return bool(retired_train_fields(schedule.train))


def fast_name() -> str:
    """The benchmark's name of the engine's ``fast`` schedule: the from-scratch schedule with
    the default model, the benchmark's seed and ``fast``'s train config."""
    from singan_augment.engine.config import ModelConfig, PyramidConfig
    from singan_augment.engine.schedules import schedule

    fast = (ModelConfig(), schedule("fast"), PyramidConfig(max_size=MAX_SIZE))
    return next(
        n
        for n, s in SCHEDULES.items()
        if not s.warm and s.seed == SEED and not retired(s) and configs(s) == fast
    )


# ----------------------------------------------------------------------------- training


def job_dir(image: str, schedule: str) -> Path:
    return ROOT / image / schedule


def sibling_dir(image: str, schedule: str = "singan") -> Path:
    return ROOT / image / f"_sibling_{schedule}"


def train(image: BenchImage, schedule: Schedule, out: Path, *, sibling: bool = False) -> dict:
    """Train (or resume) one pyramid into ``out``; returns timing.json's content."""
    from singan_augment.engine.fit import fit
    from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid, save_pyramid

    mcfg, tcfg, pcfg = configs(schedule)
    timing_path = out / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {"scales": {}}
    resume = load_pyramid(out, require_complete=False) if (out / JSON_NAME).exists() else None
    if resume is not None and resume.complete and "total_wall_s" in timing:
        return timing
    warm = None
    if schedule.warm:
        warm = ensure_sibling(image, schedule.sibling_schedule)
    img = image.sibling() if sibling else image.load()
    timing.setdefault("code", []).append(commit_id())  # one entry per (re)start of this job
    marks = {"wall": time.perf_counter(), "cpu": cpu_seconds()}

    def checkpoint(pyrs, scale, summaries):
        now_wall, now_cpu = time.perf_counter(), cpu_seconds()
        h, w = pyrs[0].shapes[scale]
        timing["scales"][str(scale)] = {
            "size": f"{h}x{w}",
            "iters": int(
                summaries[0].get(
                    "iters_run", pyrs[0].train_config.scale_iters(scale, pyrs[0].shapes)[0]
                )
            ),
            "wall_s": now_wall - marks["wall"],
            "cpu_s": now_cpu - marks["cpu"],
            "s_per_iter": summaries[0]["s_per_iter"],
            "rec_rmse": summaries[0]["rec_rmse"],
        }
        save_pyramid(pyrs[0], out)
        tmp = timing_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(timing, indent=1))
        os.replace(tmp, timing_path)
        marks["wall"], marks["cpu"] = time.perf_counter(), cpu_seconds()

    fit(
        img,
        schedule.seed,
        channel_names=image.channels,
        label_channels=image.labels,
        model_config=mcfg,
        train_config=tcfg,
        pyramid_config=pcfg,
        provenance={"source": f"benchmarks/time_to_quality.py:{image.name}"},
        resume=resume,
        on_scale_done=checkpoint,
        warm_start=warm,
        progress=sys.stderr.isatty(),
    )
    timing["total_wall_s"] = sum(s["wall_s"] for s in timing["scales"].values())
    timing["total_cpu_s"] = sum(s["cpu_s"] for s in timing["scales"].values())
    timing["schedule"] = schedule.name
    timing["host_cpus"] = os.cpu_count()
    timing_path.write_text(json.dumps(timing, indent=1))
    return timing


def ensure_sibling(image: BenchImage, schedule: str = "singan"):
    """The sibling image's pyramid at ``schedule`` (trained once, cached). Its time is not
    charged to the warm-started pyramid: in a dataset it is the first pyramid."""
    from singan_augment.files.pyramid_files import load_pyramid

    if image.sibling is None:
        raise SystemExit(f"{image.name} has no sibling image for a warm start")
    d = sibling_dir(image.name, schedule)
    train(image, SCHEDULES[schedule], d, sibling=True)
    return load_pyramid(d)


# ----------------------------------------------------------------------------- quality


def reference(image: BenchImage, shape: tuple[int, int]) -> np.ndarray:
    """The training image at the finest scale's size, in the data range (no clamp)."""
    import jax.numpy as jnp

    from singan_augment.engine.scales import resize

    img = image.load()
    hwc = np.asarray(resize(jnp.asarray(np.moveaxis(img, 0, -1)), shape))
    lo, hi = img.min(axis=(1, 2)), img.max(axis=(1, 2))
    return np.clip(np.moveaxis(hwc, -1, 0), lo[:, None, None], hi[:, None, None])


def spread(values) -> dict:
    v = np.asarray(values, np.float64)
    return {
        "median": float(np.median(v)),
        "p10": float(np.percentile(v, 10)),
        "p90": float(np.percentile(v, 90)),
        "mean": float(v.mean()),
    }


def draw_samples(pyr, start: int, draw: int = 0):
    """``N_SAMPLES`` samples from ``start``; draw 0 is the one every ``quality.json`` scores."""
    from singan_augment.engine.sample import sample

    return sample(pyr, 1000 + start + 10 * draw, N_SAMPLES, start_scale=start)


def sample_scores(imgs: np.ndarray, ref: np.ndarray) -> dict:
    """The bar's measures of (N, C, H, W) samples against the (C, H, W) reference: pooled
    multi-scale patch SWD, its per-sample spread, diversity, and diversity's bootstrap spread
    (200 resamples, seed 0)."""
    from singan_augment import metrics

    rng = np.random.default_rng(0)
    boot = [metrics.diversity(imgs[rng.integers(0, len(imgs), len(imgs))], ref) for _ in range(200)]
    return {
        "swd": metrics.sliced_wasserstein(imgs, ref),
        "swd_per_sample": spread(
            [metrics.sliced_wasserstein(x, ref, n_patches=1024) for x in imgs]
        ),
        "diversity": metrics.diversity(imgs, ref),
        "diversity_boot": spread(boot),
    }


def quality(image: BenchImage, out: Path) -> dict:
    from singan_augment import metrics
    from singan_augment.files.pyramid_files import load_pyramid

    pyr = load_pyramid(out)
    ref = reference(image, pyr.shapes[-1])
    result = {}
    for start in (0, 1):
        s = draw_samples(pyr, start)
        imgs = s.images
        entry = sample_scores(imgs, ref)
        if image.labels:
            li = pyr.channels.label_indices
            ii = pyr.channels.image_indices
            cons = [metrics.mask_consistency(x[ii], lab) for x, lab in zip(imgs, s.labels)]
            entry["mask_consistency"] = spread(cons)
            entry["label_channel_max_overshoot"] = float(
                np.abs(np.asarray(imgs[:, li]) - np.clip(imgs[:, li], 0, 1)).max()
            )
        result[f"start{start}"] = entry
    (out / "quality.json").write_text(json.dumps(result, indent=1))
    return result


# ----------------------------------------------------------------------------- cost model


CALIBRATION_ITERS = 21


class Step(NamedTuple):
    """The kind of training step a schedule runs, which its calibration is keyed by: how many
    generators train at once (``TrainConfig.concurrent_stages``), the width cap
    (``ModelConfig.nfc_max``; None: published), the lazy-penalty interval
    (``TrainConfig.gp_every``), whether the mode-seeking term is on
    (``TrainConfig.concurrent_diversity_weight`` > 0: one more pass of the window's coarser
    generators; its weight does not change the cost), a fixed scale count
    (``PyramidConfig.num_scales``; 0: SinGAN's count): another pyramid has other shapes, so
    its own calibration; and the training window (``TrainConfig.crop``; 0: the whole scale).
    ``Step()`` is the published step."""

    stages: int = 1
    nfc_max: int | None = None
    gp_every: int = 1
    mode_seeking: bool = False
    num_scales: int = 0
    crop: int = 0


MODE_SEEKING_CALIBRATION_WEIGHT = 1.0  # any weight > 0 runs the same program


def calibrate(image: BenchImage, step: Step = Step()) -> dict:
    """Per-scale compile seconds and steady seconds per iteration of this image's pyramid at
    the published architecture, from a short run (``CALIBRATION_ITERS`` iterations per scale)
    on the same code path as training. Run it on an otherwise idle machine. ``step`` says
    which kind of step (``Step``): the concurrent one costs more per iteration, a capped
    width less."""
    from singan_augment.engine.config import TrainConfig
    from singan_augment.engine.fit import fit

    width = {} if step.nfc_max is None else {"nfc_max": step.nfc_max}
    count = {"num_scales": step.num_scales} if step.num_scales else {}
    mcfg, _, pcfg = configs(replace(SCHEDULES["singan"], model=width, pyramid=count))
    scales = {}
    mark = {"t": time.perf_counter()}

    def done(pyrs, n, summaries):
        wall = time.perf_counter() - mark["t"]
        per = summaries[0]["s_per_iter"]
        h, w = pyrs[0].shapes[n]
        scales[str(n)] = {
            "size": f"{h}x{w}",
            "s_per_iter": per,
            "compile_s": max(wall - per * (CALIBRATION_ITERS - 1), 0.0),
        }
        mark["t"] = time.perf_counter()

    weight = MODE_SEEKING_CALIBRATION_WEIGHT if step.mode_seeking else 0.0
    fit(
        image.load(),
        SEED,
        channel_names=image.channels,
        label_channels=image.labels,
        model_config=mcfg,
        train_config=TrainConfig(
            iters=CALIBRATION_ITERS,
            concurrent_stages=step.stages,
            gp_every=step.gp_every,
            concurrent_diversity_weight=weight,
            crop=step.crop,
        ),
        pyramid_config=pcfg,
        on_scale_done=done,
        progress=False,
    )
    return {
        "scales": scales,
        "code": commit_id(),
        "host_cpus": os.cpu_count(),
        "concurrent_stages": step.stages,
        "nfc_max": mcfg.nfc_max,
        "gp_every": step.gp_every,
        "concurrent_diversity_weight": weight,
        "num_scales": len(scales),
        "crop": step.crop,
    }


def calibration_path(image: str, step: Step = Step()) -> Path:
    name = "calibration"
    if step.stages != 1:
        name += f"_c{step.stages}"
    if step.nfc_max is not None:
        name += f"_w{step.nfc_max}"
    if step.gp_every != 1:
        name += f"_g{step.gp_every}"
    if step.mode_seeking:
        name += "_ms"
    if step.num_scales:
        name += f"_n{step.num_scales}"
    if step.crop:
        name += f"_x{step.crop}"
    return ROOT / image / f"{name}.json"


def schedule_step(name: str) -> Step:
    """The kind of step (``Step``) a named schedule trains with; an unknown name: the
    published step."""
    sched = SCHEDULES.get(name)
    if sched is None:
        return Step()
    train = sched.train
    return Step(
        int(train.get("concurrent_stages", 1)),
        sched.model.get("nfc_max"),
        int(train.get("gp_every", 1)),
        float(train.get("concurrent_diversity_weight", 0.0)) > 0.0,
        int(sched.pyramid.get("num_scales", 0)),
        int(train.get("crop", 0)),
    )


def cost_seconds(cal: dict, timing: dict) -> float:
    """Modelled training seconds of a finished job: sum over scales of compile + iterations x
    steady s/iter, all from the one calibration run. Robust to the contention that inflates
    the measured wall and CPU seconds of jobs that ran beside other work; exact for
    schedules that differ only in iteration counts (same architecture and precision)."""
    return sum(
        cal["scales"][n]["compile_s"] + s["iters"] * cal["scales"][n]["s_per_iter"]
        for n, s in timing["scales"].items()
    )


def cmd_calibrate(args) -> int:
    names = args.images.split(",")
    if len(names) > 1:
        # one process per image: calibrating a second image in the same process once ran out
        # of LLVM code memory (the many compilations' mappings), so each image starts afresh
        import subprocess

        for name in names:
            cmd = [sys.executable, __file__, "calibrate", "--images", name]
            cmd += ["--concurrent-stages", str(args.concurrent_stages)]
            cmd += [] if args.nfc_max is None else ["--nfc-max", str(args.nfc_max)]
            cmd += ["--gp-every", str(args.gp_every)]
            cmd += ["--mode-seeking"] if args.mode_seeking else []
            cmd += ["--num-scales", str(args.num_scales)]
            cmd += ["--crop", str(args.crop)]
            if subprocess.run(cmd).returncode != 0:
                return 1
        return 0
    for name in names:
        step = Step(
            args.concurrent_stages,
            args.nfc_max,
            args.gp_every,
            args.mode_seeking,
            args.num_scales,
            args.crop,
        )
        cal = calibrate(IMAGES[name], step)
        if step != Step():
            # the published step right after, in the same session
            ref = calibrate(IMAGES[name])
            cal["reference"] = {
                "scales": ref["scales"],
                "code": ref["code"],
                "note": "the published step calibrated right after the concurrent one, in the "
                "same session: concurrent jobs are costed as c3 x (calibration.json / reference)",
            }
        path = calibration_path(name, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cal, indent=1))
        total = sum(v["compile_s"] + 2000 * v["s_per_iter"] for v in cal["scales"].values())
        print(
            f"{name}: "
            + ", ".join(
                f"{n}: {v['size']} {v['s_per_iter']:.3f} s/it + {v['compile_s']:.1f} s"
                for n, v in cal["scales"].items()
            )
            + f"; 2000 iterations at every scale of this step modelled at {total:.0f} s",
            flush=True,
        )
    return 0


# ----------------------------------------------------------------------------- commands


def cmd_run(args) -> int:
    images = [IMAGES[n] for n in args.images.split(",")]
    scheds = [SCHEDULES[n] for n in args.schedules.split(",")]
    for sched in scheds:  # schedule-major: every image gets the cheap schedules first
        for image in images:
            if sched.warm and image.sibling is None:
                continue
            out = job_dir(image.name, sched.name)
            out.mkdir(parents=True, exist_ok=True)
            t = train(image, sched, out)
            if not (out / "quality.json").exists():
                quality(image, out)
            q = json.loads((out / "quality.json").read_text())
            print(
                f"{image.name:10s} {sched.name:14s} wall {t['total_wall_s']:8.0f} s "
                f"cpu {t['total_cpu_s']:8.0f} s  SWD0 {q['start0']['swd']:.4f} "
                f"SWD1 {q['start1']['swd']:.4f} div0 {q['start0']['diversity']:.3f} "
                f"div1 {q['start1']['diversity']:.3f}",
                flush=True,
            )
    return 0


def load_results() -> dict[str, dict[str, dict]]:
    """Every finished job of this registry, by image and schedule. Result folders of schedules
    the registry does not hold (the growing generator's, removed from main on 2026-12-06 and
    kept at ``9263eb4``, whose timings and step this module cannot cost) are left out."""
    res: dict[str, dict[str, dict]] = {}
    for d in sorted(ROOT.glob("*/*")):
        if d.name.startswith("_") or d.name not in SCHEDULES:
            continue
        if not (d / "quality.json").exists():
            continue
        t = json.loads((d / "timing.json").read_text())
        if "total_wall_s" not in t:
            continue
        res.setdefault(d.parent.name, {})[d.name] = {
            "timing": t,
            "quality": json.loads((d / "quality.json").read_text()),
        }
    return res


def _calibration(image: str, step: Step = Step()) -> dict | None:
    path = calibration_path(image, step)
    return json.loads(path.read_text()) if path.exists() else None


CACHE_HIT_S = 1.0  # a "compile" faster than this was a cache hit (real ones take 9-26 s here)


def modelled_seconds(image: str, name: str, timing: dict) -> float | None:
    """A job's modelled seconds from the calibration of its kind of step (None if missing).

    The published step's calibration (``calibration.json``) is the unit every factor is
    taken in. Another kind of step (concurrent stages) is calibrated together with a
    ``reference`` calibration of the published step in the same session, and its per-scale
    costs are converted by ``calibration.json / reference``, so that the two steps' relative
    cost is the one measured side by side. A capped width (``nfc_max``) is another kind of
    step, calibrated the same way, and so are the lazily penalised one (``gp_every``) and
    the one with the mode-seeking term (``Step``).

    A reference scale whose step was already compiled in that session (its ``compile_s``
    under ``CACHE_HIT_S``: JAX's cache, not a compile) gives no unit for compile seconds, so
    there the step's own compile seconds are taken unconverted. It happened once, at
    ``ihc``'s scale 0 (0.10 s against 11.5 s), where the ratio had charged 1290 s for one
    compile (found 2026-12-03; every other reference scale compiled, 9-20 s)."""
    step = schedule_step(name)
    base = _calibration(image)
    if base is None:
        return None
    if step == Step():
        return cost_seconds(base, timing)
    cal = _calibration(image, step)
    if cal is None or "reference" not in cal:
        return None
    if step.num_scales:
        return cost_seconds(_machine_converted(cal, base, cal["reference"]["scales"]), timing)
    return cost_seconds(converted_calibration(cal, base), timing)


def converted_calibration(cal: dict, base: dict) -> dict:
    """``cal`` (another kind of step, on the published pyramid's scales, with its
    ``reference``: the published step calibrated in the same session) in
    ``calibration.json``'s units: each scale's cost times ``base / reference`` at that scale
    (compile seconds unconverted where the reference's was a cache hit)."""
    ref = cal["reference"]["scales"]
    conv = {
        n: {
            key: v[key]
            if key == "compile_s" and ref[n][key] < CACHE_HIT_S
            else v[key] * base["scales"][n][key] / ref[n][key]
            for key in ("s_per_iter", "compile_s")
        }
        for n, v in cal["scales"].items()
    }
    return {"scales": conv}


def _machine_converted(cal: dict, base: dict, ref: dict) -> dict:
    """``cal``'s per-scale costs on a pyramid whose scales are not the published pyramid's
    (``PyramidConfig.num_scales``), in ``calibration.json``'s units. Scale n of that pyramid
    has no counterpart in the reference, so one factor per key converts every scale: the
    published pyramid's total in ``calibration.json`` over its total in the reference
    calibrated in the same session (compile seconds: over the reference scales that
    compiled, as in ``modelled_seconds``)."""
    factor = {}
    for key in ("s_per_iter", "compile_s"):
        keep = [n for n in ref if key != "compile_s" or ref[n][key] >= CACHE_HIT_S]
        factor[key] = sum(base["scales"][n][key] for n in keep) / sum(ref[n][key] for n in keep)
    return {
        "scales": {
            n: {key: v[key] * factor[key] for key in ("s_per_iter", "compile_s")}
            for n, v in cal["scales"].items()
        }
    }


SWD_BAR = 1.1  # issue 12's bar: SWD at most 1.1x the baseline's ...
DIV_BAR = 0.8  # ... and diversity at least 0.8x, from both start scales


def meets_bar(q: dict, bq: dict) -> bool:
    """Issue 12's bar: SWD <= ``SWD_BAR`` x the baseline's and diversity >= ``DIV_BAR`` x,
    from both start scales."""
    return all(
        q[k]["swd"] <= SWD_BAR * bq[k]["swd"] and q[k]["diversity"] >= DIV_BAR * bq[k]["diversity"]
        for k in ("start0", "start1")
    )


def cmd_report(args) -> int:
    res = load_results()
    lines = [
        "| image | schedule | modelled s | vs singan | measured wall s | measured CPU s "
        "| SWD start 0 (p10-p90 per sample) | SWD start 1 | div 0 | div 1 | meets bar |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    best = []
    for image, runs in res.items():
        cal = _calibration(image)
        base = runs.get("singan")
        model = {n: modelled_seconds(image, n, r["timing"]) for n, r in runs.items()}
        for name, r in sorted(runs.items(), key=lambda kv: kv[1]["timing"]["total_cpu_s"]):
            t, q = r["timing"], r["quality"]
            ratio = bar = "—"
            if base is not None:
                if model[name] is not None:
                    ratio = f"{model[name] / model['singan']:.3f}"
                bar = "yes" if meets_bar(q, base["quality"]) else "no"
            s0, s1 = q["start0"], q["start1"]
            ms = "—" if model[name] is None else f"{model[name]:.0f}"
            lines.append(
                f"| {image} | {name} | {ms} | {ratio} | {t['total_wall_s']:.0f} "
                f"| {t['total_cpu_s']:.0f} "
                f"| {s0['swd']:.4f} ({s0['swd_per_sample']['p10']:.3f}-{s0['swd_per_sample']['p90']:.3f}) "
                f"| {s1['swd']:.4f} | {s0['diversity']:.3f} | {s1['diversity']:.3f} | {bar} |"
            )
        if base is not None and cal is not None:
            ok = [
                n
                for n, r in runs.items()
                if n != "singan"
                and not baseline_repeat(n)
                and model[n] is not None
                and meets_bar(r["quality"], base["quality"])
            ]
            for kind, warm in (("from scratch", False), ("warm start", True)):
                mine = [n for n in ok if n in SCHEDULES and SCHEDULES[n].warm == warm]
                tried = sum(
                    1
                    for n in runs
                    if n in SCHEDULES and SCHEDULES[n].warm == warm and not baseline_repeat(n)
                )
                if warm and not tried:
                    continue
                if mine:
                    n = min(mine, key=lambda k: model[k])
                    f = model["singan"] / model[n]
                    best.append(f"| {image} | {kind} | {n} | {model[n]:.0f} s | 1/{f:.1f} |")
                else:
                    best.append(f"| {image} | {kind} | none of {tried - (not warm)} | — | — |")
    print("\n".join(lines))
    if best:
        print(
            "\n| image | kind (a warm start's sibling is not charged) "
            "| cheapest schedule at the baseline's quality | modelled time | factor |"
        )
        print("|---|---|---|---|---|")
        print("\n".join(best))
    if args.figure:
        figure(res, Path(args.figure))
    return 0


OFF_SCALE = 3.0  # the figure's SWD axis ends at this multiple of the baseline's


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(res), 1)
    fig, axes = plt.subplots(2, n, figsize=(5 * n, 7.5), squeeze=False)
    fast = fast_name()
    for j, (image, runs) in enumerate(res.items()):
        cal = _calibration(image)

        def x_of(r, name, cal=cal, image=image):
            if not cal:
                return r["timing"]["total_cpu_s"]
            m = modelled_seconds(image, name, r["timing"])
            return r["timing"]["total_cpu_s"] if m is None else m

        for i, start in enumerate(("start0", "start1")):
            ax = axes[i, j]
            fam = sorted(
                (x_of(r, name), r["quality"][start]["swd"], name)
                for name, r in runs.items()
                if name == "singan" or name.startswith("iters")
            )
            if fam:
                ax.plot(
                    [f[0] for f in fam],
                    [f[1] for f in fam],
                    "o-",
                    label="published (singan), fewer iterations",
                )
                for x, y, name in fam:
                    ax.annotate(name, (x, y), fontsize=7)
            base = runs.get("singan")
            # points over OFF_SCALE x the baseline's SWD are drawn at that line as triangles,
            # labelled with their ratio, so that one broken run does not squash a panel
            top = None if base is None else OFF_SCALE * base["quality"][start]["swd"]
            clipped = False
            shown = set()
            for name, r in runs.items():
                if baseline_repeat(name):  # the published schedule, another seed
                    ax.plot(
                        x_of(r, name), r["quality"][start]["swd"], ls="none", marker="o",
                        mfc="none", mec="tab:blue", ms=7, label="published, another seed",
                    )  # fmt: skip
                    continue
                if name == "singan" or name.startswith("iters"):
                    continue
                ok = base is not None and meets_bar(r["quality"], base["quality"])
                kind = "fast" if name == fast else ("meets the bar" if ok else "misses")
                style = {
                    "fast": dict(marker="*", ms=12, color="tab:red", mec="black"),
                    "meets the bar": dict(marker="s", ms=6, color="tab:green"),
                    "misses": dict(marker="s", ms=5, color="0.65"),
                }[kind]
                label = None if kind in shown else (f"fast ({name})" if kind == "fast" else kind)
                shown.add(kind)
                x, y = x_of(r, name), r["quality"][start]["swd"]
                if top is not None and y > top:
                    clipped = True
                    style = {**style, "marker": "^"}
                    ax.annotate(
                        f"{y / base['quality'][start]['swd']:.0f}x", (x, top), fontsize=6,
                        xytext=(3, -8), textcoords="offset points",
                    )  # fmt: skip
                    y = top
                ax.plot(x, y, ls="none", label=label, **style)
                if ok or kind == "fast":
                    ax.annotate(name, (x, y), fontsize=5, xytext=(3, 3), textcoords="offset points")
            if base is not None:
                ax.axhline(
                    SWD_BAR * base["quality"][start]["swd"],
                    color="grey",
                    lw=0.7,
                    ls="--",
                    label="1.1x the baseline's SWD",
                )
                t0 = x_of(base, "singan")
                for frac, ls in ((6, ":"), (10, "-.")):
                    ax.axvline(
                        t0 / frac, color="tab:blue", lw=0.7, ls=ls, label=f"1/{frac} of its time"
                    )
            if clipped:
                ax.set_ylim(top=top * 1.05)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(
                "modelled training seconds (log)" if cal else "training CPU seconds (log)"
            )
            ax.set_ylabel(f"patch SWD, start scale {i} (lower is better)")
            ax.set_title(f"{image}, start scale {i}")
            ax.legend(fontsize=6, loc="upper right")
    fig.suptitle(
        "Patch SWD against training time; the baseline is the published schedule (singan). Green: "
        "meets the whole bar (SWD and diversity from both start scales), grey: misses",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def show_image(ax, x, ref, image: BenchImage) -> None:
    """``x`` (C, H, W) on ``ax`` without ticks: in colour if ``image``'s first channels are
    ``r, g, b``, else its first channel in grey; each channel stretched to ``ref``'s range."""
    from singan_augment.expansion.report import display_image

    shown = slice(0, 3) if tuple(image.channels[:3]) == ("r", "g", "b") else slice(0, 1)
    ax.imshow(display_image(np.asarray(x)[shown], np.asarray(ref)[shown]), cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def pyramid_draw(image: str, name: str, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference, the first ``n`` samples from ``start``) of job ``name``'s pyramid, with the
    seeds ``quality`` uses (so these are the first of the samples that were scored)."""
    from singan_augment.engine.sample import sample
    from singan_augment.files.pyramid_files import load_pyramid

    pyr = load_pyramid(job_dir(image, name))
    ref = reference(IMAGES[image], pyr.shapes[-1])
    return ref, sample(pyr, 1000 + start, n, start_scale=start).images


def samples_figure(image: str, names: list[str], path: Path, n: int = 4) -> None:
    """A grid: one row per schedule, the training image, then ``n`` samples from start scale 0
    and ``n`` from start scale 1 (``pyramid_draw``'s, the first of those scored). An image
    whose first channels are ``r, g, b`` is shown in colour, any other by its first channel
    in grey; each channel is stretched to the training image's range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = IMAGES[image]
    fig, axes = plt.subplots(len(names), 1 + 2 * n, figsize=(1.3 * (1 + 2 * n), 1.6 * len(names)))
    axes = np.atleast_2d(axes)
    for r, name in enumerate(names):
        ref, first = pyramid_draw(image, name, 0, n)
        row = [ref, *first, *pyramid_draw(image, name, 1, n)[1]]
        for c, x in enumerate(row):
            ax = axes[r, c]
            show_image(ax, x, ref, img)
            if r == 0:
                ax.set_title(
                    "training image" if c == 0 else f"start {0 if c <= n else 1}", fontsize=7
                )
        axes[r, 0].set_ylabel(name, fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def quality_by_scale(
    image: str, name: str, n: int = 50, seed: int = 0, start: int = 0
) -> dict[str, list[float]]:
    """Diversity and SWD of a finished job's samples from ``start``, the pyramid cut after
    each scale: 50 samples of the scales start..k, scored against the training image at scale
    k (normalised units)."""
    from singan_augment.files.pyramid_files import load_pyramid

    return pyramid_quality_by_scale(load_pyramid(job_dir(image, name)), n, seed, start)


def pyramid_quality_by_scale(
    p, n: int = 50, seed: int = 0, start: int = 0
) -> dict[str, list[float]]:
    """``quality_by_scale`` of a pyramid (its trained scales): ``{"diversity": [...], "swd":
    [...]}``, one value per trained scale from ``start`` on. Below ``start`` the samples
    follow the reconstruction path, as ``sample(start_scale=start)``'s do."""
    from singan_augment.engine.generate import reconstruction, synthesize
    from singan_augment.engine.sample import per_sample_keys
    from singan_augment.engine.scales import resize
    from singan_augment.metrics import diversity, sliced_wasserstein

    shared = p.train_config.coarsest_noise == "shared"
    prev = None
    if start > 0:
        rec = reconstruction(p.stages[:start], p.shapes, p.z_opt, p.model_config)
        prev = resize(rec, p.shapes[start])
    out = {"diversity": [], "swd": []}
    for k in range(start, p.num_trained):
        x = synthesize(
            p.stages[start : k + 1], p.shapes[start : k + 1], per_sample_keys(seed, n), prev,
            p.model_config, channels=p.num_channels, first_scale=start, shared_coarsest=shared,
        )  # fmt: skip
        real = np.moveaxis(np.asarray(p.reals[k]), -1, 0)[None]  # (1, C, H, W)
        imgs = np.moveaxis(np.asarray(x), -1, 1)
        out["diversity"].append(diversity(imgs, real))
        out["swd"].append(sliced_wasserstein(imgs, real))
    return out


def cmd_diversity_by_scale(args) -> int:
    names = args.schedules.split(",")
    start = args.start
    rows = {name: quality_by_scale(args.image, name, start=start) for name in names}
    width = max(len(r["diversity"]) for r in rows.values())
    for key, what in (("diversity", "diversity"), ("swd", "pooled patch SWD")):
        print(f"start-{start} {what} after each scale, {args.image} (50 samples, seed 0)")
        print(f"| schedule | {' | '.join(f'scale {k}' for k in range(start, start + width))} |")
        print("|---|" + "---|" * width)
        for name, row in rows.items():
            print(f"| `{name}` | {' | '.join(f'{v:.4f}' for v in row[key])} |")
        print()
    return 0


def score_spread(
    image: BenchImage, names: list[str], draws: int, cache: Path | None = None
) -> dict:
    """The bar's four measures of finished jobs over ``draws`` fresh draws of the 50 samples and
    of the SWD's patches and projections (draw 0 is the one ``quality.json`` holds): how much of
    a measured ratio is the measurement's own noise. ``{name: {"start0": {"swd": [...],
    "diversity": [...]}, "start1": ...}}``, one value per draw.

    ``cache``: a JSON file of earlier scores, keyed by schedule and by the weights' sha256
    that ``pyramid.json`` records; a job scored there with at least ``draws`` draws is not
    scored again (the draws are seeded, so a rerun would give the same values), and new
    scores are added to it. A partly trained job is refused by ``load_pyramid``.

    A job that kept no weights (the earliest runs) has draw 0 only, in its ``quality.json``:
    it is read from there when ``draws`` is 1 and refused otherwise."""
    from singan_augment import metrics
    from singan_augment.files.atomic import atomic_write
    from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid, read_metadata

    cached = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    out = {}
    for name in names:
        jd = job_dir(image.name, name)
        if not (jd / JSON_NAME).exists() and (jd / "quality.json").exists():
            if draws != 1:
                raise SystemExit(
                    f"{image.name}/{name} kept no weights, so it has draw 0 only (its "
                    f"quality.json); use --draws 1, not {draws}"
                )
            q = json.loads((jd / "quality.json").read_text())
            out[name] = {
                key: {"swd": [q[key]["swd"]], "diversity": [q[key]["diversity"]]}
                for key in ("start0", "start1")
            }
            continue
        sha = read_metadata(jd)["weights_sha256"]
        hit = cached.get(name)
        if hit is not None and hit["weights_sha256"] == sha and hit["draws"] >= draws:
            out[name] = {
                key: {m: v[:draws] for m, v in row.items()} for key, row in hit["scores"].items()
            }
            continue
        pyr = load_pyramid(jd)
        ref = reference(image, pyr.shapes[-1])
        out[name] = {}
        for start in (0, 1):
            row = {"swd": [], "diversity": []}
            for r in range(draws):
                imgs = draw_samples(pyr, start, r).images
                row["swd"].append(metrics.sliced_wasserstein(imgs, ref, seed=r))
                row["diversity"].append(metrics.diversity(imgs, ref))
            out[name][f"start{start}"] = row
        if cache is not None:  # after every job, so an interrupted reading keeps what it scored
            cached[name] = {"weights_sha256": sha, "draws": draws, "scores": out[name]}
            atomic_write(cache, json.dumps(cached, indent=1).encode())
    return out


def spread_ratio_table(res: dict, bases: list[str]) -> list[str]:
    """Markdown rows of each job's measures over the draws and their ratios to the per-draw mean
    of ``bases`` (one base: that job's same draw; several: the mean of their same draws)."""
    rows = [
        "| schedule | start | SWD | SWD ratio | diversity | diversity ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, starts in res.items():
        for key, row in starts.items():
            cells = []
            for m in ("swd", "diversity"):
                v = np.asarray(row[m])
                ref = np.mean([np.asarray(res[b][key][m]) for b in bases], axis=0)
                ratio = v / ref
                cells.append(f"{v.mean():.4f} ({v.min():.4f}-{v.max():.4f})")
                cells.append(f"{ratio.mean():.2f} ({ratio.min():.2f}-{ratio.max():.2f})")
            rows.append(f"| `{name}` | {key[-1]} | {' | '.join(cells)} |")
    return rows


def cmd_score_spread(args) -> int:
    names = args.schedules.split(",")
    bases = args.bases.split(",") if args.bases else names[:1]
    missing = [b for b in bases if b not in names]
    if missing:
        raise SystemExit(f"--bases {','.join(missing)} must be among --schedules")
    cache = ROOT / args.image / "score_spread.json" if args.cache else None
    res = score_spread(IMAGES[args.image], names, args.draws, cache)
    readings = [[b] for b in bases] + ([bases] if len(bases) > 1 else [])
    for group in readings:
        what = " and ".join(f"`{b}`" for b in group) + (" (their mean)" if len(group) > 1 else "")
        print(f"{args.image}: {args.draws} draws of the samples and the SWD's patches; ratios")
        print(f"are to {what} with the same draw (mean, min-max over draws)")
        print("\n".join(spread_ratio_table(res, group)))
        print()
    return 0


def screen_variants(image: BenchImage, variants: dict[str, dict], base: str) -> dict:
    """Validation screen on ``image``'s *sibling* (not the benchmark image): scales 0..2 of
    ``base`` with each variant's train-config overrides (``{cache dir: overrides}``), all from
    one scale 0 (the coarsest generator trains alone there, so it is shared), and the start-0
    diversity and SWD after each scale. Cached in ``<image>/_screen/``."""
    from singan_augment.engine.fit import fit_many, init_pyramid
    from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid, save_pyramid

    mcfg, tcfg, pcfg = configs(SCHEDULES[base])
    root = ROOT / image.name / "_screen"
    first = root / "scale0"
    if (first / JSON_NAME).exists():
        p0 = load_pyramid(first, require_complete=False)
    else:
        p = init_pyramid(
            image.sibling(), SCHEDULES[base].seed, channel_names=image.channels,
            label_channels=image.labels, model_config=mcfg, train_config=tcfg,
            pyramid_config=pcfg,
        )  # fmt: skip
        p0 = fit_many([p], stop_scale=0, progress=False)[0]
        save_pyramid(p0, first)
    rows = {"scale 0 alone (published)": pyramid_quality_by_scale(p0)}
    for name, overrides in variants.items():
        out = root / name
        if (out / JSON_NAME).exists():
            p2 = load_pyramid(out, require_complete=False)
        else:
            p = replace(p0, train_config=replace(tcfg, **overrides))
            t0 = time.perf_counter()
            p2 = fit_many([p], stop_scale=2, progress=False)[0]
            print(f"{image.name} {name}: scales 1-2 in {time.perf_counter() - t0:.0f} s")
            save_pyramid(p2, out)
        rows[name] = pyramid_quality_by_scale(p2)
    return rows


# the screen's variants besides the concurrent learning-rate scales (cache dir: overrides);
# the adversarial-share variants ("pull_reconstruction", "pull<a>") went with
# TrainConfig.concurrent_adversarial_pull (retired 2026-12-06; commit 7bf2715 runs them)
SCREEN_PULLS = {
    "pull_all": {},
    "frozen": {"concurrent_frozen_scales": 1},
}


def screen_pull(name: str) -> dict:
    """The overrides of a named screen variant, one of ``SCREEN_PULLS``."""
    if name not in SCREEN_PULLS:
        known = ", ".join(SCREEN_PULLS)
        raise SystemExit(f"--pulls: unknown variant {name!r} (known: {known})")
    return SCREEN_PULLS[name]


def cmd_screen(args) -> int:
    variants = {f"lr{float(v):g}": {"concurrent_lr_scale": float(v)}
                for v in args.lr_scales.split(",") if v}  # fmt: skip
    variants.update({v: screen_pull(v) for v in args.pulls.split(",") if v})
    for name in args.images.split(","):
        rows = screen_variants(IMAGES[name], variants, args.base)
        ref = rows["scale 0 alone (published)"]["diversity"][0]
        for key, what in (("diversity", "diversity"), ("swd", "pooled patch SWD")):
            print(f"\n{name} sibling: start-0 {what} after scales 0..2 (50 samples)")
            print("| run | scale 0 | scale 1 | scale 2 | diversity at scale 0 / published |")
            print("|---|---|---|---|---|")
            for run, row in rows.items():
                cells = " | ".join(f"{v:.4f}" for v in row[key]) + " | —" * (3 - len(row[key]))
                print(f"| {run} | {cells} | {row['diversity'][0] / ref:.2f} |")
    return 0


def coarsest_diversity_of(image: BenchImage, sibling: bool, base: str = "con3p105rg10f2") -> float:
    """The engine's ``coarsest_diversity`` (what ``concurrent_freeze_diversity`` compares)
    of ``image``'s (or its sibling's) coarsest generator after its own 2000 iterations,
    which every schedule here trains the same way (``base``'s scale 0, seed 0). The scale-0
    pyramid is cached in ``<image>/_scale0[_sibling]/``."""
    from singan_augment.engine.fit import coarsest_diversity, fit_many, init_pyramid
    from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid, save_pyramid

    out = ROOT / image.name / ("_scale0_sibling" if sibling else "_scale0")
    if (out / JSON_NAME).exists():
        p0 = load_pyramid(out, require_complete=False)
    else:
        mcfg, tcfg, pcfg = configs(SCHEDULES[base])
        p = init_pyramid(
            image.sibling() if sibling else image.load(), SCHEDULES[base].seed,
            channel_names=image.channels, label_channels=image.labels, model_config=mcfg,
            train_config=tcfg, pyramid_config=pcfg,
        )  # fmt: skip
        p0 = fit_many([p], stop_scale=0, progress=False)[0]
        save_pyramid(p0, out)
    return coarsest_diversity(p0)


def cmd_coarsest_diversity(args) -> int:
    print("| image | coarsest generator's own diversity (engine.fit.coarsest_diversity) |")
    print("|---|---|")
    for name in args.images.split(","):
        d = coarsest_diversity_of(IMAGES[name], args.siblings)
        print(f"| {name}{' sibling' if args.siblings else ''} | {d:.3f} |")
    return 0


def planned_iters(image: str, name: str) -> list[int] | None:
    """A schedule's iteration count at each scale of an image's calibrated pyramid (the
    pyramid of the schedule's own scale count where it fixes one)."""
    step = schedule_step(name)
    cal = _calibration(image, step if step.num_scales else Step())
    if cal is None:
        return None
    shapes = [tuple(int(v) for v in s["size"].split("x")) for s in cal["scales"].values()]
    _, tcfg, _ = configs(SCHEDULES[name])
    return [tcfg.scale_iters(n, shapes)[0] for n in range(len(shapes))]


def planned_seconds(image: str, name: str) -> float | None:
    """A schedule's modelled seconds on an image before it trains: its iteration counts on the
    calibrated pyramid's shapes, costed as ``modelled_seconds`` costs a finished job."""
    iters = planned_iters(image, name)
    if iters is None:
        return None
    return modelled_seconds(
        image, name, {"scales": {str(n): {"iters": k} for n, k in enumerate(iters)}}
    )


def cmd_cost(args) -> int:
    print("| image | schedule | iterations per scale | modelled s | vs singan |")
    print("|---|---|---|---|---|")
    for image in args.images.split(","):
        base = planned_seconds(image, "singan")
        for name in args.schedules.split(","):
            iters, sec = planned_iters(image, name), planned_seconds(image, name)
            cost = "no calibration" if sec is None else f"{sec:.0f} | 1/{base / sec:.2f}"
            print(f"| {image} | `{name}` | {', '.join(map(str, iters or []))} | {cost} |")
    return 0


def variety_ref_seconds(image: str, name: str) -> dict[int, float]:
    """Seconds (compile included, as in training: one fresh ``jax.jit`` per scale) that the
    mode-seeking floor's reference variety v0 (``engine.train.window_variety``) costs at each
    scale of a finished job, with the finished pyramid's generators in the window (the same
    shapes and widths as at the scale's start). ``timing.json`` and the calibration do not
    count it; it is added to the modelled time. Run it on an idle machine."""
    import jax

    from singan_augment.engine.train import window_variety
    from singan_augment.files.pyramid_files import load_pyramid

    pyr = load_pyramid(job_dir(image, name))
    mcfg, tcfg, _ = configs(SCHEDULES[name])
    shared = tcfg.coarsest_noise == "shared"
    out = {}
    for scale in range(1, pyr.num_scales):
        first = scale - tcfg.trainable_stages(scale) + 1
        if first >= scale:
            continue
        t0 = time.perf_counter()
        v = window_variety(
            pyr.stages, pyr.shapes, first, scale, jax.random.key(scale), pyr.num_channels,
            shared, mcfg,
        )  # fmt: skip
        v.block_until_ready()
        out[scale] = time.perf_counter() - t0
    return out


def cmd_variety_ref_seconds(args) -> int:
    secs = variety_ref_seconds(args.image, args.schedule)
    base = planned_seconds(args.image, "singan")
    sec = planned_seconds(args.image, args.schedule)
    total = sum(secs.values())
    print(
        f"{args.image} {args.schedule}: v0 seconds per scale",
        {k: round(v, 1) for k, v in secs.items()},
    )
    print(
        f"modelled {sec:.0f} s + v0 {total:.0f} s = {sec + total:.0f} s: 1/{base / (sec + total):.2f}"
        f" of singan's {base:.0f} s (1/6 is {base / 6:.0f} s)"
    )
    return 0


def cmd_samples(args) -> int:
    samples_figure(args.image, args.schedules.split(","), Path(args.out))
    print(f"wrote {args.out}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train and score the given (image, schedule) jobs")
    r.add_argument("--images", default=",".join(IMAGES))
    r.add_argument("--schedules", default="iters250,singan")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("calibrate", help="per-scale s/iter and compile time (idle machine)")
    c.add_argument("--images", default=",".join(IMAGES))
    c.add_argument(
        "--concurrent-stages",
        type=int,
        default=1,
        help="calibrate the concurrent step (TrainConfig.concurrent_stages); default 1",
    )
    c.add_argument(
        "--nfc-max",
        type=int,
        default=None,
        help="calibrate with the width capped (ModelConfig.nfc_max); default: published",
    )
    c.add_argument(
        "--gp-every",
        type=int,
        default=1,
        help="calibrate the lazily penalised step (TrainConfig.gp_every); default 1",
    )
    c.add_argument(
        "--mode-seeking",
        action="store_true",
        help="calibrate the step with the mode-seeking term "
        "(TrainConfig.concurrent_diversity_weight > 0)",
    )
    c.add_argument(
        "--num-scales",
        type=int,
        default=0,
        help="calibrate on a pyramid of this many scales (PyramidConfig.num_scales); "
        "default 0: SinGAN's count",
    )
    c.add_argument(
        "--crop",
        type=int,
        default=0,
        help="calibrate with every scale trained on random windows of this many pixels a side "
        "(TrainConfig.crop); default 0: the whole scale",
    )
    c.set_defaults(func=cmd_calibrate)
    f = sub.add_parser("samples", help="a figure of samples from finished jobs, one row each")
    f.add_argument("--image", default="brain")
    f.add_argument("--schedules", default="singan,decay2000p09rg10f2,con3p105,con3p105rg10f2")
    f.add_argument("--out", default="docs/figures/time_to_quality_samples.png")
    f.set_defaults(func=cmd_samples)
    d = sub.add_parser(
        "diversity-by-scale", help="diversity and SWD of finished jobs cut after each scale"
    )
    d.add_argument("--image", default="histology")
    d.add_argument("--schedules", default="singan,con3p105rg10f2")
    d.add_argument(
        "--start", type=int, default=0, help="start scale (below it: the reconstruction path)"
    )
    d.set_defaults(func=cmd_diversity_by_scale)
    ss = sub.add_parser(
        "score-spread",
        help="the bar's measures of finished jobs over fresh draws of samples and SWD patches",
    )
    ss.add_argument("--image", default="coffee")
    ss.add_argument("--schedules", default="singan", help="the first is the ratios' base")
    ss.add_argument("--draws", type=int, default=5)
    ss.add_argument(
        "--bases",
        default="",
        help="comma-separated bases among --schedules: a table of ratios to each, and, for "
        "several, one to their per-draw mean (default: the first schedule)",
    )
    ss.add_argument(
        "--cache",
        action="store_true",
        help="keep the scores in <image>/score_spread.json (keyed by the weights' sha256) and "
        "reuse them",
    )
    ss.set_defaults(func=cmd_score_spread)
    s = sub.add_parser(
        "screen", help="validation screen of concurrent settings on the sibling images"
    )
    s.add_argument("--images", default="brain,histology")
    s.add_argument("--lr-scales", default="0.03,0.01")
    s.add_argument("--pulls", default="", help=f"comma-separated, of: {', '.join(SCREEN_PULLS)}")
    s.add_argument("--base", default="con3p105rg10f2")
    s.set_defaults(func=cmd_screen)
    cd = sub.add_parser(
        "coarsest-diversity",
        help="the coarsest generator's own diversity after scale 0 (the freeze rule's input)",
    )
    cd.add_argument("--images", default="brain,histology")
    cd.add_argument("--siblings", action="store_true", help="the validation siblings instead")
    cd.set_defaults(func=cmd_coarsest_diversity)
    k = sub.add_parser("cost", help="modelled cost of schedules before they train")
    k.add_argument("--images", default="brain,histology,coffee")
    k.add_argument("--schedules", default="singan")
    k.set_defaults(func=cmd_cost)
    v = sub.add_parser(
        "variety-ref-seconds",
        help="time the mode-seeking floor's reference variety per scale (idle machine)",
    )
    v.add_argument("--image", default="coffee")
    v.add_argument("--schedule", default="con3f1w32j1m10h1p12rg10f2")
    v.set_defaults(func=cmd_variety_ref_seconds)
    p = sub.add_parser("report", help="print the table (and write the figure) from the cache")
    p.add_argument("--figure", default="docs/figures/time_to_quality.png")
    p.set_defaults(func=cmd_report)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
