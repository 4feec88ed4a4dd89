"""singan-augment: per-image SinGAN pyramids in JAX as MONAI/TorchIO augmentation.

The public API lives here, in the optax way::

    from singan_augment import fit, sample, inject, harmonize, load_pyramid, save_pyramid, Pyramid

Layout (each sub-package one concern; lower layers never import higher ones):

* ``engine/``: the method, pure JAX - configs, channels, pyramid scales, networks, losses,
  training, ``fit``, ``sample``, ``inject`` / ``harmonize`` / ``edit``. No files, no torch.
* ``files/``: the pyramid file format (safetensors + JSON), image readers/writers, atomic
  writes, the bounded JSON reader.
* ``data/``: the small real images shipped with the package and their loaders.
* ``expansion/``: ``fit-dataset`` / ``expand`` / ``report`` with local and Ray executors.
* ``cli/``: the ``singan-augment`` command line, ``demo`` included.
* ``metrics``: patch SWD, diversity, Dice, mask consistency, seam strength.
* ``tumour``: procedural lesions for tumour insertion.
* ``testing/``: tiny inputs and the PyTorch reference oracle, for tests and benchmarks.
* ``singan_augment.transforms`` (folder ``transforms/``) and ``singan_augment.pretrained``
  (folder ``pretrained/``): the MONAI/TorchIO adapters and the shipped pyramids.

Names are imported lazily, on first use, so that ``import singan_augment.transforms`` can set
JAX's environment (GPU memory preallocation) before JAX loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    FolderLockedError,
    InputError,
    Interrupted,
    MissingKeyError,
    PyramidFileError,
    PyramidMismatchError,
    ResolutionWarning,
    ScaleError,
    SinGANError,
)

__version__ = "0.1.0"

_LAZY = {
    "singan_augment.engine.config": (
        "BlendConfig",
        "LabelDecodeConfig",
        "ModelConfig",
        "PyramidConfig",
        "TrainConfig",
    ),
    "singan_augment.engine.channels": ("ChannelSpec", "decode_labels", "one_hot"),
    "singan_augment.engine.pyramid": ("Pyramid",),
    "singan_augment.engine.fit": ("fit", "fit_many"),
    "singan_augment.engine.schedules": ("SCHEDULES", "schedule", "schedule_name", "with_coarsest"),
    "singan_augment.engine.sample": ("Samples", "sample"),
    "singan_augment.engine.harmonize": ("edit", "harmonize", "inject"),
    "singan_augment.files.pyramid_files": ("load_pyramid", "read_metadata", "save_pyramid"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .engine.channels import ChannelSpec, decode_labels, one_hot
    from .engine.config import (
        BlendConfig,
        LabelDecodeConfig,
        ModelConfig,
        PyramidConfig,
        TrainConfig,
    )
    from .engine.fit import fit, fit_many
    from .engine.harmonize import edit, harmonize, inject
    from .engine.pyramid import Pyramid
    from .engine.sample import Samples, sample
    from .engine.schedules import SCHEDULES, schedule, schedule_name, with_coarsest
    from .files.pyramid_files import load_pyramid, read_metadata, save_pyramid


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'singan_augment' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "BlendConfig",
    "ChannelSpec",
    "FolderLockedError",
    "InputError",
    "Interrupted",
    "LabelDecodeConfig",
    "MissingKeyError",
    "ModelConfig",
    "Pyramid",
    "PyramidConfig",
    "PyramidFileError",
    "PyramidMismatchError",
    "ResolutionWarning",
    "SCHEDULES",
    "Samples",
    "ScaleError",
    "SinGANError",
    "TrainConfig",
    "__version__",
    "decode_labels",
    "edit",
    "fit",
    "fit_many",
    "harmonize",
    "inject",
    "load_pyramid",
    "one_hot",
    "read_metadata",
    "sample",
    "save_pyramid",
    "schedule",
    "schedule_name",
    "with_coarsest",
]
