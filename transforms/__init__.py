"""Framework adapters: MONAI and TorchIO transforms over a zero-copy DLPack bridge.

Importing this package sets ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (unless already set)
before JAX is imported, so JAX on a GPU does not grab 75% of its memory away from torch.

The MONAI and TorchIO transforms are imported lazily (on first attribute access), so using
one framework does not import the other.

Modules (the framework-free ones work on plain channel-first torch tensors and the JAX engine,
through the bridge; ``monai_transforms`` and ``torchio_transforms`` only add their framework's
conventions - randomness, metadata, history - on top):

* ``bridge``: zero-copy torch <-> JAX (DLPack) and fork-safety checks.
* ``checks``: argument and input checks (``check_input``, ``check_mode``, ``check_slices``...).
* ``pyramids``: pyramids by object or directory (LRU cache), scale checks, untrained pyramids
  for tests and benchmarks.
* ``channel_map``: named inputs <-> the pyramid's channels (the *layout tensor*).
* ``planes``: the 2D planes of volumes a 2D pyramid sees, and their normalisation.
* ``generation``: sampling and injection on layout tensors and named inputs.
* ``tumour_insertion``: tumour patches, paste and harmonization.
* ``monai_transforms``, ``torchio_transforms``: the transforms.
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from .bridge import (  # noqa: E402
    BridgeDtypeError,
    ForkAfterJaxError,
    check_jax_usable,
    jax_to_torch,
    jax_usable_here,
    rewrap_like,
    safe_dataloader_kwargs,
    same_buffer,
    torch_to_jax,
)

_MONAI = (
    "RandSinGANSample",
    "RandSinGANSampleD",
    "RandSinGANSampleDict",
    "RandSinGANSampled",
    "SinGANTumourHarmonize",
    "SinGANTumourHarmonizeD",
    "SinGANTumourHarmonizeDict",
    "SinGANTumourHarmonized",
)
_TORCHIO = ("RandomSinGAN", "SinGAN", "RandomSinGANTumour", "SinGANTumour")


def __getattr__(name: str):
    if name in _MONAI:
        return getattr(importlib.import_module(".monai_transforms", __name__), name)
    if name in _TORCHIO:
        return getattr(importlib.import_module(".torchio_transforms", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BridgeDtypeError",
    "ForkAfterJaxError",
    "check_jax_usable",
    "jax_to_torch",
    "jax_usable_here",
    "rewrap_like",
    "safe_dataloader_kwargs",
    "same_buffer",
    "torch_to_jax",
    *_MONAI,
    *_TORCHIO,
]
