"""Benchmark the 3x3 valid convolution implementations of singan_augment.engine.conv on the CPU.

For each (size, Cin->Cout) it times, interleaved within one run (round-robin over all
implementations, medians over the repetitions, after a warm-up):

* forward, and forward + backward (``jax.value_and_grad`` w.r.t. x and w), for each JAX impl;
* ``torch.nn.functional.conv2d`` (oneDNN) doing the same work, NCHW and channels_last;
* a 2048x2048 float32 ``jnp`` matmul, the machine's practical peak.

GFLOP/s count the direct convolution's 2*N*Ho*Wo*9*Cin*Cout flops (x3 for fwd+bwd) for every
implementation, Winograd included, so the numbers compare time for the same work.
``xtorch`` = impl GFLOP/s / the faster torch layout's GFLOP/s (>1: faster than torch);
``peak`` = impl GFLOP/s / matmul GFLOP/s.

Usage: python benchmarks/conv_kernels.py [--quick] [--edge] [--batch N] [--reps R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch

from singan_augment.engine.conv import IMPLS, conv3x3_valid, select_impl

SIZES = [((25, 34), 32), ((69, 91), 64), ((145, 193), 64), ((186, 248), 128)]
QUICK = [SIZES[0], SIZES[2]]


def _time(fn: Callable[[], object], gap: float) -> float:
    # A short pause first: on 2 cores, the other library's worker threads (XLA's pool, torch's
    # OpenMP team) keep spinning briefly after their call and would be billed to this one.
    time.sleep(gap)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _jax_fns(
    impl: str, x: jax.Array, w: jax.Array, proj: jax.Array
) -> dict[str, Callable[[], object]]:
    # Everything is passed as an argument: closed-over arrays would be constant-folded.
    fwd = jax.jit(lambda x, w: conv3x3_valid(x, w, impl))
    fb = jax.jit(jax.value_and_grad(lambda x, w, p: jnp.sum(conv3x3_valid(x, w, impl) * p), (0, 1)))
    return {
        "fwd": lambda: jax.block_until_ready(fwd(x, w)),
        "fb": lambda: jax.block_until_ready(fb(x, w, proj)),
    }


def _torch_fns(
    x: np.ndarray, w: np.ndarray, proj: np.ndarray, channels_last: bool
) -> dict[str, Callable[[], object]]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    xt = torch.from_numpy(np.array(x.transpose(0, 3, 1, 2))).contiguous(memory_format=fmt)
    wt = torch.from_numpy(np.array(w.transpose(3, 2, 0, 1))).contiguous(memory_format=fmt)
    pt = torch.from_numpy(np.array(proj.transpose(0, 3, 1, 2))).contiguous(memory_format=fmt)
    xg, wg = xt.clone().requires_grad_(True), wt.clone().requires_grad_(True)

    def fwd():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt)

    def fb():
        xg.grad = wg.grad = None
        y = torch.nn.functional.conv2d(xg, wg)
        loss = (y * pt).sum()
        loss.backward()
        return loss

    return {"fwd": fwd, "fb": fb}


def bench_size(
    h: int, wd: int, cin: int, cout: int, batch: int, reps: int, impls: list[str], gap: float
) -> list[str]:
    key = jax.random.PRNGKey(0)
    kx, kw, kp = jax.random.split(key, 3)
    x = jax.random.normal(kx, (batch, h, wd, cin), jnp.float32)
    w = jax.random.normal(kw, (3, 3, cin, cout), jnp.float32) / np.sqrt(9 * cin)
    proj = jax.random.normal(kp, (batch, h - 2, wd - 2, cout), jnp.float32)
    a = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda a: a @ a)

    runners: dict[str, dict[str, Callable[[], object]]] = {
        i: _jax_fns(i, x, w, proj) for i in impls
    }
    xn, wn, pn = np.asarray(x), np.asarray(w), np.asarray(proj)
    runners["torch"] = _torch_fns(xn, wn, pn, channels_last=False)
    runners["torch_cl"] = _torch_fns(xn, wn, pn, channels_last=True)
    runners["matmul"] = {"fwd": lambda: jax.block_until_ready(mm(a))}  # a is an argument too

    times: dict[tuple[str, str], list[float]] = {}
    for name, fns in runners.items():  # warm-up (compiles)
        for kind, fn in fns.items():
            fn()
            fn()
            times[(name, kind)] = []
    for _ in range(reps):  # interleaved
        for name, fns in runners.items():
            for kind, fn in fns.items():
                times[(name, kind)].append(_time(fn, gap))
    med = {k: statistics.median(v) for k, v in times.items()}

    flops = 2.0 * batch * (h - 2) * (wd - 2) * 9 * cin * cout
    peak = 2.0 * 2048**3 / med[("matmul", "fwd")] / 1e9
    gf = {
        k: (flops if k[1] == "fwd" else 3 * flops) / t / 1e9
        for k, t in med.items()
        if k[0] != "matmul"
    }
    best_torch = {kind: max(gf[("torch", kind)], gf[("torch_cl", kind)]) for kind in ("fwd", "fb")}

    auto = select_impl((batch, h, wd, cin), (3, 3, cin, cout))
    lines = [
        f"### {batch}x{h}x{wd}, {cin}->{cout}  (auto picks {auto}; matmul peak {peak:.0f} GFLOP/s)",
        "",
        "| impl | fwd ms | fwd GFLOP/s | fwd xtorch | fwd peak | fwd+bwd ms | fwd+bwd GFLOP/s | fwd+bwd xtorch | fwd+bwd peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in list(impls) + ["torch", "torch_cl"]:
        row = [f"{name} (auto)" if name == auto else name]
        for kind in ("fwd", "fb"):
            g = gf[(name, kind)]
            row += [
                f"{med[(name, kind)] * 1e3:.2f}",
                f"{g:.0f}",
                f"{g / best_torch[kind]:.2f}",
                f"{g / peak:.2f}",
            ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="only 25x34 (32ch) and 145x193 (64ch)")
    p.add_argument("--edge", action="store_true", help="also the first/last layers: 3->C and C->1")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--gap", type=float, default=0.02, help="pause (s) before each timed call")
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated JAX impls")
    args = p.parse_args()

    torch.set_num_threads(2)
    impls = [s for s in args.impls.split(",") if s]
    print(
        f"# conv3x3 valid benchmark: jax {jax.__version__}, torch {torch.__version__} (2 threads), "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, batch {args.batch}, "
        f"median of {args.reps}, load average at start {os.getloadavg()[0]:.2f}\n"
    )
    for (h, wd), c in QUICK if args.quick else SIZES:
        shapes = [(c, c)] + ([(3, c), (c, 1)] if args.edge else [])
        for cin, cout in shapes:
            for line in bench_size(h, wd, cin, cout, args.batch, args.reps, impls, args.gap):
                print(line, flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
