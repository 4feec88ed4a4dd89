"""Zero-copy torch <-> JAX bridge (DLPack), and JAX fork-safety checks for DataLoader workers.

Dtype policy (explicit, never left to DLPack's silent down-casts):

* float32, float16, bfloat16, uint8, int8, int16, int32 and bool cross **without a copy**
  when the tensor is compact (C-contiguous or a permutation of it).
* float64 is converted to float32 (a copy), because JAX runs without ``JAX_ENABLE_X64``.
  With ``strict=True`` it raises :class:`BridgeDtypeError` instead.
* int64 (the usual dtype of label maps) is converted to int32 after a range check (a copy);
  values outside int32 raise. With ``strict=True`` it raises instead.
* non-compact tensors (strided slices, ``expand``) are made contiguous first (a copy): JAX only
  accepts compact DLPack tensors.
* tensors that require grad are ``detach()``-ed (no copy): the transforms are not
  differentiable.
* a tensor on a device JAX does not run on (e.g. CUDA tensor, CPU-only JAX) is moved to the CPU
  (a copy).

``jax_to_torch`` waits for the JAX computation (``block_until_ready``) before torch sees the
buffer, so torch never reads a result that is still being written.

Fork safety: JAX's runtime is multi-threaded; a process forked after its parent ran any JAX
operation deadlocks on the first JAX call (measured: a fork DataLoader with 2 workers hangs).
``check_jax_usable`` detects that case at call time and raises :class:`ForkAfterJaxError`
instead of hanging; ``safe_dataloader_kwargs`` gives DataLoader arguments that avoid it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

# Must happen before JAX creates its GPU client (it pre-allocates 75% of GPU memory otherwise,
# starving torch in the same process). Respect a user's explicit choice.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from singan_augment.errors import InputError  # noqa: E402


class BridgeDtypeError(InputError, TypeError):
    """A tensor's dtype cannot cross the bridge under the requested policy."""


class ForkAfterJaxError(RuntimeError):
    """JAX would deadlock here: this process was forked after its parent had started JAX."""


_INT32 = torch.iinfo(torch.int32)
_ZERO_COPY_DTYPES = {
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.bool,
}


@dataclass(frozen=True)
class Crossing:
    """What happened to a tensor at the bridge (for tests, benchmarks and debugging)."""

    copied: bool
    reason: str = ""


def plain_tensor(t: torch.Tensor) -> torch.Tensor:
    """Strip MetaTensor (or any subclass) to a plain tensor view, without a copy."""
    if type(t) is not torch.Tensor:
        as_tensor = getattr(t, "as_tensor", None)
        t = as_tensor() if callable(as_tensor) else t.as_subclass(torch.Tensor)
    return t


def _is_compact(t: torch.Tensor) -> bool:
    """True if the strides are a permutation of a C-contiguous layout (what DLPack import takes)."""
    if t.is_contiguous():
        return True
    dims = sorted(((s, n) for s, n in zip(t.stride(), t.shape) if n != 1), key=lambda p: -p[0])
    expected = 1
    for stride, size in reversed(dims):
        if stride != expected:
            return False
        expected *= size
    return True


def _jax_platform() -> str:
    return jax.default_backend()


def torch_to_jax(t: torch.Tensor, *, strict: bool = False) -> tuple[jax.Array, Crossing]:
    """Hand a torch tensor to JAX, zero-copy when the layout and dtype allow.

    Returns:
        ``(array, crossing)``; ``crossing.copied`` says whether a copy was made and why.
    Raises:
        BridgeDtypeError: unsupported dtype (complex), int64 out of int32 range, or a
        float64/int64 tensor with ``strict=True``.
    """
    check_jax_usable()
    if not isinstance(t, torch.Tensor):
        raise InputError(f"expected a torch.Tensor, got {type(t).__name__}")
    t = plain_tensor(t).detach()
    reasons = []
    if t.is_complex():
        raise BridgeDtypeError(f"complex tensors are not supported (dtype {t.dtype})")
    if t.dtype == torch.float64:
        if strict:
            raise BridgeDtypeError("float64 tensor given with strict=True (JAX runs in float32)")
        t = t.to(torch.float32)
        reasons.append("float64->float32")
    elif t.dtype == torch.int64:
        if strict:
            raise BridgeDtypeError("int64 tensor given with strict=True (JAX runs in int32)")
        if t.numel() and (int(t.min()) < _INT32.min or int(t.max()) > _INT32.max):
            raise BridgeDtypeError("int64 tensor has values outside the int32 range")
        t = t.to(torch.int32)
        reasons.append("int64->int32")
    elif t.dtype not in _ZERO_COPY_DTYPES:
        raise BridgeDtypeError(f"dtype {t.dtype} cannot cross the torch->JAX bridge")
    platform = _jax_platform()
    if t.device.type != ("cuda" if platform in ("gpu", "cuda", "rocm") else "cpu"):
        t = t.cpu() if platform == "cpu" else t.cuda()
        reasons.append(f"device->{platform}")
    if not _is_compact(t):
        t = t.contiguous()
        reasons.append("non-compact strides")
    return jax.dlpack.from_dlpack(t), Crossing(bool(reasons), ", ".join(reasons))


def jax_to_torch(x: jax.Array) -> torch.Tensor:
    """Hand a JAX array to torch without a copy, after waiting for it to be computed."""
    check_jax_usable()
    x = x.block_until_ready()
    return torch.from_dlpack(x)


def numpy_to_torch(a: np.ndarray) -> torch.Tensor:
    """Zero-copy numpy -> torch (copies only a non-writeable or non-native-order array)."""
    if not a.flags.writeable or not a.dtype.isnative:
        a = np.array(a)
    return torch.from_numpy(a)


def same_buffer(j: jax.Array, t: torch.Tensor) -> bool:
    """True if the JAX array and the torch tensor share their first byte (zero-copy check)."""
    return int(j.unsafe_buffer_pointer()) == int(plain_tensor(t).data_ptr())


def rewrap_like(out: torch.Tensor, ref: Any) -> torch.Tensor:
    """Give ``out`` the metadata (meta dict, affine, applied operations) of ``ref`` if ``ref``
    is a MONAI MetaTensor; otherwise return ``out`` as a plain tensor. Zero-copy."""
    try:
        from monai.data import MetaTensor
    except ImportError:  # pragma: no cover - monai is a dependency
        return out
    if isinstance(ref, MetaTensor):
        return MetaTensor(
            plain_tensor(out), meta=ref.meta, applied_operations=list(ref.applied_operations)
        )
    return plain_tensor(out)


# ---------------------------------------------------------------------------------------------
# Fork safety
# ---------------------------------------------------------------------------------------------

_state = threading.local()
_FORK = {"tainted": False, "parent_pid": None}


def jax_backend_started() -> bool:
    """Whether this process has started a JAX backend (ran any JAX operation)."""
    try:
        from jax._src import xla_bridge

        fn = getattr(xla_bridge, "backends_are_initialized", None)
        if fn is not None:
            return bool(fn())
        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # pragma: no cover - private API moved: assume the worst
        return True


def _before_fork() -> None:
    _FORK["parent_started"] = jax_backend_started()
    _FORK["parent_pid_at_fork"] = os.getpid()


def _after_fork_child() -> None:
    if _FORK.get("parent_started"):
        _FORK["tainted"] = True
        _FORK["parent_pid"] = _FORK.get("parent_pid_at_fork")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_child)


def jax_usable_here() -> bool:
    """False in a process forked after its parent started JAX (JAX would deadlock there)."""
    return not _FORK["tainted"]


FORK_HELP = (
    "JAX cannot run in this process: it was forked (e.g. a DataLoader worker with the default "
    "'fork' start method on Linux) after the parent process had already run JAX operations, "
    "and JAX's runtime threads do not survive fork() - the first JAX call would deadlock. "
    "Fix: create the DataLoader with multiprocessing_context='spawn' (or 'forkserver'), e.g. "
    "DataLoader(ds, num_workers=2, **singan_augment.transforms.safe_dataloader_kwargs()), "
    "or use num_workers=0, or make sure the parent runs no JAX operation before the workers "
    "start (persistent_workers=True keeps them alive across epochs)."
)


def check_jax_usable() -> None:
    """Raise :class:`ForkAfterJaxError` (instead of deadlocking) if JAX is unsafe here."""
    if _FORK["tainted"]:
        raise ForkAfterJaxError(f"{FORK_HELP} (pid {os.getpid()}, parent {_FORK['parent_pid']})")


def safe_dataloader_kwargs(method: str = "spawn", persistent_workers: bool = True) -> dict:
    """Keyword arguments for ``torch.utils.data.DataLoader`` (or MONAI's) that keep JAX
    transforms safe in worker processes: a 'spawn' or 'forkserver' multiprocessing context
    (the workers start fresh interpreters, so no JAX state is inherited) and, by default,
    persistent workers so the start-up and JIT compilation are paid once, not every epoch.

    Only meaningful with ``num_workers > 0``.
    """
    import multiprocessing as mp

    if method not in ("spawn", "forkserver"):
        raise InputError(f"method must be 'spawn' or 'forkserver', got {method!r}")
    return {
        "multiprocessing_context": mp.get_context(method),
        "persistent_workers": persistent_workers,
    }


__all__ = [
    "BridgeDtypeError",
    "Crossing",
    "ForkAfterJaxError",
    "check_jax_usable",
    "jax_backend_started",
    "jax_to_torch",
    "jax_usable_here",
    "numpy_to_torch",
    "rewrap_like",
    "safe_dataloader_kwargs",
    "same_buffer",
    "torch_to_jax",
]
