"""The torch <-> JAX DLPack bridge: zero-copy by data pointer, the dtype policy, MetaTensor
rewrapping, and the fork guard."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from singan_augment.transforms import bridge
from singan_augment.transforms.bridge import (
    BridgeDtypeError,
    ForkAfterJaxError,
    jax_to_torch,
    rewrap_like,
    same_buffer,
    torch_to_jax,
)


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.uint8, torch.int16, torch.int32, torch.bool]
)
def test_torch_to_jax_is_zero_copy(dtype):
    t = (torch.arange(24).reshape(2, 3, 4) % 2).to(dtype)
    j, crossing = torch_to_jax(t)
    assert not crossing.copied
    assert same_buffer(j, t)
    np.testing.assert_array_equal(np.asarray(j), t.numpy())


def test_permuted_compact_tensor_is_zero_copy():
    base = torch.randn(2, 5, 6, 3)  # NHWC memory
    t = base.permute(0, 3, 1, 2)  # viewed as NCHW
    assert not t.is_contiguous()
    j, crossing = torch_to_jax(t)
    assert not crossing.copied and same_buffer(j, base)
    np.testing.assert_array_equal(np.asarray(j), t.numpy())


@pytest.mark.parametrize("make", [lambda b: b[:, ::2], lambda b: b[:1].expand(4, 6)])
def test_non_compact_tensor_is_copied_with_right_values(make):
    t = make(torch.randn(4, 6))
    j, crossing = torch_to_jax(t)
    assert crossing.copied and "non-compact" in crossing.reason
    np.testing.assert_array_equal(np.asarray(j), t.numpy())


def test_float64_becomes_float32_explicitly():
    t = torch.randn(3, 4, dtype=torch.float64)
    j, crossing = torch_to_jax(t)
    assert j.dtype == jnp.float32 and crossing.copied and "float64->float32" in crossing.reason
    np.testing.assert_allclose(np.asarray(j), t.numpy(), rtol=1e-6)
    with pytest.raises(BridgeDtypeError, match="float64"):
        torch_to_jax(t, strict=True)


def test_int64_labels_become_int32_with_range_check():
    t = torch.tensor([[0, 1, 3]], dtype=torch.int64)
    j, crossing = torch_to_jax(t)
    assert j.dtype == jnp.int32 and "int64->int32" in crossing.reason
    np.testing.assert_array_equal(np.asarray(j), [[0, 1, 3]])
    with pytest.raises(BridgeDtypeError, match="int32 range"):
        torch_to_jax(torch.tensor([2**40]))
    with pytest.raises(BridgeDtypeError, match="strict"):
        torch_to_jax(t, strict=True)


def test_complex_is_refused():
    with pytest.raises(BridgeDtypeError, match="complex"):
        torch_to_jax(torch.zeros(2, dtype=torch.complex64))


def test_requires_grad_is_detached_without_copy():
    t = torch.randn(3, 4, requires_grad=True)
    j, crossing = torch_to_jax(t)
    assert not crossing.copied and same_buffer(j, t)


def test_metatensor_crosses_zero_copy():
    m = MetaTensor(torch.randn(1, 8, 8), affine=torch.diag(torch.tensor([2.0, 2.0, 1.0, 1.0])))
    j, crossing = torch_to_jax(m)
    assert not crossing.copied and same_buffer(j, m.as_tensor())


def test_jax_to_torch_is_zero_copy_and_synchronised():
    x = jax.jit(lambda a: jnp.tanh(a) * 2.0)(jnp.ones((2, 16, 16, 3)))
    t = jax_to_torch(x)  # the jitted result may still be in flight; the bridge waits for it
    assert t.data_ptr() == x.unsafe_buffer_pointer()
    assert torch.allclose(t, torch.full((2, 16, 16, 3), 2 * np.tanh(1.0)))
    # a permuted view of the result is still the same memory (no copy for NHWC -> NCHW)
    assert t.permute(0, 3, 1, 2).data_ptr() == x.unsafe_buffer_pointer()


def test_round_trip_keeps_the_buffer():
    t = torch.randn(3, 10, 12)
    j, _ = torch_to_jax(t)
    back = jax_to_torch(j)
    assert back.data_ptr() == t.data_ptr()


def test_rewrap_like_keeps_meta_affine_and_copies_the_op_stack():
    affine = torch.diag(torch.tensor([1.5, 1.5, 3.0, 1.0], dtype=torch.float64))
    ref = MetaTensor(torch.zeros(1, 4, 4), affine=affine, meta={"filename_or_obj": "x.nii"})
    ref.applied_operations.append({"class": "Dummy"})
    out = rewrap_like(torch.ones(1, 4, 4), ref)
    assert isinstance(out, MetaTensor)
    assert torch.equal(out.affine, affine) and out.meta["filename_or_obj"] == "x.nii"
    assert len(out.applied_operations) == 1
    out.applied_operations.append({"class": "Other"})
    assert len(ref.applied_operations) == 1  # not shared
    assert type(rewrap_like(torch.ones(2), torch.zeros(2))) is torch.Tensor


def _child_check(q):
    try:
        bridge.check_jax_usable()
        q.put("usable")
    except ForkAfterJaxError as e:
        q.put(f"error: {e}")


def test_fork_after_jax_is_detected_not_deadlocked():
    jnp.ones(3).block_until_ready()  # the parent has certainly started JAX
    assert bridge.jax_backend_started()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_check, args=(q,))
    p.start()
    try:
        msg = q.get(timeout=60)
    finally:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    assert msg.startswith("error:") and "spawn" in msg
    assert bridge.jax_usable_here()  # the parent itself is fine


def test_safe_dataloader_kwargs():
    kw = bridge.safe_dataloader_kwargs()
    assert kw["multiprocessing_context"].get_start_method() == "spawn"
    assert kw["persistent_workers"] is True
    assert bridge.safe_dataloader_kwargs("forkserver")["multiprocessing_context"]
    with pytest.raises(ValueError, match="spawn"):
        bridge.safe_dataloader_kwargs("fork")


@pytest.mark.parametrize("preset", [None, "true"])
def test_preallocate_flag_set_only_if_unset(preset):
    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    if preset is not None:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = preset
    code = (
        "import os, singan_augment.transforms as t, jax;"
        "print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (preset or "false")
