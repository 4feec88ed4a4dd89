"""The environment for test and benchmark subprocesses that run the engine.

Each subprocess is a fresh interpreter that would compile the same tiny training steps again.
A persistent JAX compilation cache, shared by those subprocesses only, lets them load the
compiled steps instead. The test process itself never turns the cache on: in long-lived
processes, writing to it has crashed the interpreter (a segfault inside
``compilation_cache.put_executable_and_time``, jax 0.10.2 on CPU).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CACHE_DIR = Path(tempfile.gettempdir()) / "singan-augment-test-jax-cache"


def cache_env_vars() -> dict[str, str]:
    """Only the variables that turn the subprocesses' compilation cache on."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str(CACHE_DIR),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


def subprocess_env(**extra: str) -> dict[str, str]:
    """``os.environ`` plus the compilation cache variables (unless already set) and ``extra``."""
    return {**cache_env_vars(), **os.environ, **extra}


__all__ = ["CACHE_DIR", "cache_env_vars", "subprocess_env"]
