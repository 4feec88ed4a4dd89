"""Argument types shared by the command-line modules."""

from __future__ import annotations

import argparse


def positive(text: str) -> int:
    """argparse type: an integer >= 1 (the error names the bad value)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v
