"""Named training schedules: the published one and the fast one.

``singan`` is the published schedule (2000 iterations at every scale), the path that the
equivalence tests hold to the PyTorch twin. ``fast`` trains the generators of three scales
together, ConSinGAN-style (``concurrent_stages=3``, learning rate x0.1 per scale back), with
iterations falling with a scale's area (2000 at the coarsest scale, ``2000 * (A_n /
A_0) ** -1.05``, at least 100) and the reconstruction weight grown with the area at the two
finest scales (``rec_weight_growth=1``, ``rec_weight_growth_scales=2``). Whether the
coarsest generator joins the concurrent training is decided per image
(``concurrent_freeze_diversity=0.39``): it is frozen when its own samples are diverse (a
texture, e.g. an H&E tile) and fine-tuned when they are not (a layout, e.g. a brain slice).
On the 128-px brain slice and H&E + nuclei-mask tile it costs 1/6.2 and 1/6.05 of
``singan``'s time and meets its quality from start scales 0 and 1 (brain with two training
seeds, the H&E tile with one of two). It has not yet generalised: on the three held-out
images it misses the published start-0 diversity with seed 0 (coffee 0.44x, also over the time
bar at 1/5.48; scikit-image's ``ihc`` 0.59x at 1/7.74 and ``retina`` 0.75x at 1/6.21, where
one seed of three passes); its samples there keep the training image's layout
(``benchmarks/time_to_quality.py``; docs/time_to_quality.md has the measurements, the seeds
and how the threshold was chosen).

``finetune`` is ``fast``'s step with far fewer iterations (300 at the coarsest scale, the same
fall with the area, at least 20), for a pyramid warm-started from a finished pyramid of a
sibling image (``fit(warm_start=...)``, ``fit-dataset --warm-start``); it refuses to train
without one. On the 128-px brain slice, warm-started from a sibling slice's ``fast`` pyramid,
it costs 1/21.4 of ``singan``'s time (the sibling's own training not counted) and meets its
quality from start scales 0 and 1 with two seeds (docs/time_to_quality.md, "A warm start
fine-tuned with the fast step").
"""

from __future__ import annotations

import dataclasses

from singan_augment.errors import InputError

from .config import TrainConfig

SCHEDULES: dict[str, TrainConfig] = {
    "singan": TrainConfig(),
    "fast": TrainConfig(
        iters=2000,
        iters_decay=1.05,
        iters_min=100,
        rec_weight_growth=1.0,
        rec_weight_growth_scales=2,
        concurrent_stages=3,
        concurrent_freeze_diversity=0.39,
    ),
}
SCHEDULES["finetune"] = dataclasses.replace(SCHEDULES["fast"], iters=300, iters_min=20)

# The schedules that only fine-tune a warm start (training from scratch with them is refused).
WARM_START_ONLY = ("finetune",)

# The fields that make a schedule (the losses, optimiser and noise settings are shared).
SCHEDULE_FIELDS = (
    "iters",
    "iters_decay",
    "iters_min",
    "iters_decay_from",
    "iters_by_scale",
    "lr_drop_at",
    "plateau_window",
    "plateau_tol",
    "rec_weight_growth",
    "rec_weight_growth_scales",
    "concurrent_stages",
    "concurrent_lr_scale",
    "concurrent_frozen_scales",
    "concurrent_freeze_diversity",
    "gp_every",
    "concurrent_diversity_weight",
    "concurrent_diversity_floor",
    "crop",
    "concurrent_rec_anchor",
)


def schedule(name: str) -> TrainConfig:
    """The ``TrainConfig`` of a named schedule.

    Raises:
        InputError: an unknown name (the message lists the known ones).
    """
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name]


def schedule_name(config: TrainConfig) -> str:
    """The name in ``SCHEDULES`` whose schedule fields ``config`` has, else
    ``"custom"`` (e.g. ``--iters 300``)."""
    for name, ref in SCHEDULES.items():
        if all(getattr(config, f) == getattr(ref, f) for f in SCHEDULE_FIELDS):
            return name
    return "custom"


def check_warm_start_schedule(config: TrainConfig, warm_start: object) -> None:
    """Refuse a fine-tuning schedule (``finetune``) without a warm start.

    Raises:
        InputError: ``config`` is a warm-start-only schedule and ``warm_start`` is None.
    """
    name = schedule_name(config)
    if name in WARM_START_ONLY and warm_start is None:
        raise InputError(
            f"schedule {name!r} fine-tunes a warm start ({config.iters} iterations at the "
            "coarsest scale): pass a sibling's finished pyramid as warm_start (fit-dataset "
            "--warm-start DIR), or train from scratch with 'fast' or 'singan'"
        )


def with_schedule(config: TrainConfig, name: str) -> TrainConfig:
    """``config`` with the schedule fields of ``name`` (its other fields kept)."""
    ref = schedule(name)
    return dataclasses.replace(config, **{f: getattr(ref, f) for f in SCHEDULE_FIELDS})


# What a concurrent schedule does with the coarsest generator once it has trained alone.
COARSEST_CHOICES = ("rule", "freeze", "train")


def with_coarsest(config: TrainConfig, choice: str) -> TrainConfig:
    """``config`` with the coarsest generator's fate in a concurrent schedule set by hand.

    ``"rule"`` keeps the schedule's own setting (for ``fast``, the per-image rule
    ``concurrent_freeze_diversity``). ``"freeze"`` trains it alone and keeps it fixed
    (``concurrent_frozen_scales`` >= 1), as published: with ``fast``'s counts on the five
    images of docs/time_to_quality.md (seed 0), start-0 samples kept 0.81-1.08x the published
    pyramid's diversity, where fine-tuning kept 0.44-0.88x, and on three of them it cost
    fidelity (start-0 SWD 1.2-1.7x; 2.2x from start 1 on ``retina``). ``"train"`` always
    trains it on with the finer scales, at the concurrent learning rate: more faithful
    samples that vary less. The README has the table.

    Raises:
        InputError: an unknown choice, or a choice other than ``"rule"`` for a schedule that
            trains one scale at a time (``concurrent_stages`` 1), where the coarsest generator
            is always trained alone and frozen.
    """
    if choice not in COARSEST_CHOICES:
        raise InputError(f"coarsest {choice!r} is not one of {', '.join(COARSEST_CHOICES)}")
    if choice == "rule":
        return config
    if config.concurrent_stages < 2:
        raise InputError(
            f"coarsest {choice!r} needs concurrent training (concurrent_stages > 1, e.g. the "
            f"'fast' schedule), got concurrent_stages={config.concurrent_stages}: one scale at "
            "a time, the coarsest generator is always trained alone and frozen"
        )
    frozen = max(1, config.concurrent_frozen_scales) if choice == "freeze" else 0  # "train"
    return dataclasses.replace(
        config, concurrent_frozen_scales=frozen, concurrent_freeze_diversity=0.0
    )


__all__ = [
    "COARSEST_CHOICES",
    "SCHEDULES",
    "WARM_START_ONLY",
    "check_warm_start_schedule",
    "schedule",
    "schedule_name",
    "with_coarsest",
    "with_schedule",
]
