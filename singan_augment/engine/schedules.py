"""Named training schedules: the published one and the fast one.

``singan`` is the published schedule (2000 iterations at every scale), the path that the
equivalence tests hold to the PyTorch twin. ``fast`` spends fewer iterations where they cost
most: the count falls with the square root of a scale's area, from 500 at the coarsest scale
to a floor of 100. Its settings and its quality relative to ``singan`` are measured in
``benchmarks/time_to_quality.py`` (docs/time_to_quality.md).
"""

from __future__ import annotations

import dataclasses

from singan_augment.errors import InputError

from .config import TrainConfig

SCHEDULES: dict[str, TrainConfig] = {
    "singan": TrainConfig(),
    "fast": TrainConfig(iters=500, iters_decay=0.5, iters_min=100),
}

# The fields that make a schedule (the losses, optimiser and noise settings are shared).
SCHEDULE_FIELDS = (
    "iters",
    "iters_decay",
    "iters_min",
    "lr_drop_at",
    "plateau_window",
    "plateau_tol",
    "rec_weight_growth",
    "rec_weight_growth_scales",
    "concurrent_stages",
    "concurrent_lr_scale",
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
    """``"singan"`` or ``"fast"`` if ``config``'s schedule fields are that schedule's, else
    ``"custom"`` (e.g. ``--iters 300``)."""
    for name, ref in SCHEDULES.items():
        if all(getattr(config, f) == getattr(ref, f) for f in SCHEDULE_FIELDS):
            return name
    return "custom"


def with_schedule(config: TrainConfig, name: str) -> TrainConfig:
    """``config`` with the schedule fields of ``name`` (its other fields kept)."""
    ref = schedule(name)
    return dataclasses.replace(config, **{f: getattr(ref, f) for f in SCHEDULE_FIELDS})


__all__ = ["SCHEDULES", "schedule", "schedule_name", "with_schedule"]
