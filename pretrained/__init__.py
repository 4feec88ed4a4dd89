"""Pretrained pyramids shipped with the package, loadable by name.

Each pyramid is a folder ``<name>/`` beside this module holding ``pyramid.json``,
``weights.safetensors`` (verified against the recorded sha256 on load) and ``MODEL_CARD.md``.
Names are plain identifiers; anything that could escape this folder is refused.

    >>> from singan_augment import pretrained
    >>> pretrained.names()
    >>> pyr = pretrained.load("brain_t1_t2_flair")
"""

from __future__ import annotations

import re
from pathlib import Path

from singan_augment.engine.pyramid import Pyramid
from singan_augment.errors import PyramidFileError
from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid

ROOT = Path(__file__).resolve().parent
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


def names() -> list[str]:
    """Names of the shipped pyramids, sorted."""
    return sorted(
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and _NAME.match(p.name) and (p / JSON_NAME).is_file()
    )


def path(name: str) -> Path:
    """The folder of a shipped pyramid.

    Raises:
        PyramidFileError: an invalid name (path separators, dots, ...) or an unknown one.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise PyramidFileError(
            f"invalid pretrained pyramid name {name!r}: use lowercase letters, digits and '_'"
        )
    p = (ROOT / name).resolve()
    if p.parent != ROOT or not (p / JSON_NAME).is_file():
        raise PyramidFileError(
            f"no pretrained pyramid named {name!r}; available: {', '.join(names()) or 'none'}"
        )
    return p


def load(name: str) -> Pyramid:
    """Load a shipped pyramid by name (hash-checked)."""
    return load_pyramid(path(name))


def model_card(name: str) -> str:
    """The model card (Markdown) of a shipped pyramid."""
    card = path(name) / "MODEL_CARD.md"
    return card.read_text() if card.is_file() else ""
