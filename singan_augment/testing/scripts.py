"""Repository scripts (``benchmarks/``, ``examples/``, ``scripts/``) imported by path, for the
tests that check them: they are files, not modules of a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_script(path: str | Path, name: str | None = None) -> ModuleType:
    """The script at ``path`` as module ``name`` (its file name's stem by default), registered
    in ``sys.modules`` so that its dataclasses and pickled references resolve; the module
    already registered under that name if there is one (a script another script imported)."""
    path = Path(path)
    name = name or path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


__all__ = ["load_script"]
