"""Argument types shared by the command-line modules."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

from singan_augment.engine.schedules import COARSEST_CHOICES

T = TypeVar("T")


def positive(text: str) -> int:
    """argparse type: an integer >= 1 (the error names the bad value)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def with_overrides(config: T, **values: Any) -> T:
    """``config`` with the fields whose command-line value was given (not ``None``) replaced."""
    return dataclasses.replace(config, **{k: v for k, v in values.items() if v is not None})


def add_coarsest_argument(parser: argparse.ArgumentParser) -> None:
    """``--coarsest {rule,freeze,train}``: the coarsest generator's fate in a concurrent
    schedule (``engine.schedules.with_coarsest``)."""
    parser.add_argument(
        "--coarsest",
        choices=COARSEST_CHOICES,
        help="with a concurrent schedule (fast, finetune): freeze the coarsest generator once "
        "it has trained (start-0 samples keep the published variety, may be less faithful), "
        "train it on with the finer scales (more faithful, less varied), or let the "
        "schedule's per-image rule decide (default); docs/time_to_quality.md",
    )


def add_num_scales_argument(parser: argparse.ArgumentParser) -> None:
    """``--num-scales N``: a fixed scale count (``PyramidConfig.num_scales``)."""
    parser.add_argument(
        "--num-scales",
        type=positive,
        help="a fixed number of scales (>= 2), evenly spaced between the coarsest and the "
        "finest, as ConSinGAN fixes its stages (default: SinGAN's count from the image's "
        "size and --scale-factor); docs/time_to_quality.md",
    )
