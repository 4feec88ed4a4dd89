"""Where the transforms' pyramids come from: a fixed ``Pyramid``, a directory loaded through a
small per-process LRU cache, scale checks, and an untrained pyramid for tests and benchmarks.

Engine and file modules are imported inside the functions, so importing this module stays
light.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from singan_augment.errors import InputError, ScaleError

from .bridge import check_jax_usable


class PyramidCache:
    """A small per-process LRU cache of loaded pyramids, keyed by directory and mtime.

    It is emptied when pickled (e.g. sent to a spawned DataLoader worker): every process
    loads the pyramids it needs itself.
    """

    def __init__(self, maxsize: int = 4) -> None:
        if int(maxsize) < 1:
            raise InputError(f"cache_size must be >= 1, got {maxsize}")
        self.maxsize = int(maxsize)
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self.loads = 0

    def __getstate__(self) -> dict:
        return {"maxsize": self.maxsize, "_items": OrderedDict(), "loads": 0}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: str | os.PathLike) -> Any:
        from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid

        p = Path(path).expanduser().resolve()
        try:
            stamp = (p / JSON_NAME).stat().st_mtime_ns
        except OSError:
            stamp = None  # load_pyramid raises the proper PyramidFileError
        key = (str(p), stamp)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        check_jax_usable()  # loading creates JAX arrays: refuse in a tainted fork
        pyr = load_pyramid(p)
        self.loads += 1
        self._items[key] = pyr
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return pyr


def is_pyramid(obj: Any) -> bool:
    """Whether ``obj`` is a loaded :class:`~singan_augment.engine.pyramid.Pyramid`."""
    from singan_augment.engine.pyramid import Pyramid

    return isinstance(obj, Pyramid)


def resolve_pyramid(source: Any, cache: PyramidCache) -> Any:
    """A Pyramid from a Pyramid, a directory path (cached), or raise InputError."""
    if source is None:
        raise InputError("no pyramid given: pass pyramid= (a Pyramid or directory) or pyramid_key=")
    if is_pyramid(source):
        return source
    if isinstance(source, str | os.PathLike):
        return cache.get(source)
    raise InputError(f"pyramid must be a Pyramid or a directory path, got {type(source).__name__}")


def resolve_scale(pyramid: Any, scale: int, mode: str) -> int:
    """Validate a (possibly negative) scale against the pyramid for the mode."""
    s = pyramid.check_scale(int(scale), "start_scale" if mode == "sample" else "injection scale")
    if mode == "inject" and s < 1:
        raise ScaleError(
            f"mode='inject' needs a scale >= 1 (scale 0 is pure noise); this pyramid allows "
            f"1..{pyramid.num_trained - 1}"
        )
    return s


__all__ = ["PyramidCache", "is_pyramid", "resolve_pyramid", "resolve_scale"]
