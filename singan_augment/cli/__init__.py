"""The ``singan-augment`` command line: ``train``, ``sample``, ``harmonize``, ``info`` (``main``),
``demo`` (``demo``) and ``fit-dataset`` / ``expand`` / ``report`` (``dataset_commands``).

Heavy imports (JAX, torch, MONAI) happen inside each command, so ``--help`` is fast.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
