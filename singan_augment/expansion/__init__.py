"""Offline dataset expansion: one pyramid per image (``fit_dataset``), then N synthetic
image + label pairs per pyramid and a MONAI datalist (``expand``).

Both steps are restartable. ``fit_dataset`` checkpoints every pyramid after every scale, skips
pyramids whose ``pyramid.json`` says ``complete: true`` and resumes the others; only complete
pyramids count as done. ``expand`` writes each output file atomically and skips outputs that
already exist, so an interrupted run, rerun, writes every output exactly once. Randomness is
derived from the seed and the pyramid *name*, never from the order of the work, so the local and
the Ray executor (one task per group of same-shaped pyramids) produce the same files.
"""

from .executors import RayExecutor, Row, RunReport, run_local
from .expand import expand, expand_one, find_pyramids, read_output, real_pair
from .fit_dataset import fit_dataset, fit_group
from .sources import (
    Entry,
    derive_seed,
    discover,
    load_entry,
    resolve_inside,
    safe_name,
)

__all__ = [
    "Entry",
    "RayExecutor",
    "Row",
    "RunReport",
    "derive_seed",
    "discover",
    "expand",
    "expand_one",
    "find_pyramids",
    "fit_dataset",
    "fit_group",
    "load_entry",
    "read_output",
    "real_pair",
    "resolve_inside",
    "run_local",
    "safe_name",
]
