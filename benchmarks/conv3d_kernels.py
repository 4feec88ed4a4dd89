"""Benchmark the 3x3x3 valid convolutions of singan_augment.engine.conv, and a whole 3-D
training iteration, on the CPU.

Part 1, per (size, Cin->Cout): forward + backward (``jax.value_and_grad`` w.r.t. x and w) of
every 3-D implementation, XLA's own ``conv_general_dilated`` among them, and torch's
``conv3d`` (oneDNN) doing the same work. The implementations are timed round-robin in one
run (medians over the repetitions, after a warm-up), so the ratios are taken side by side.
``x xla`` = XLA's median / this one's (>1: faster than XLA's own 3-D convolution).

Part 2 (``--iteration``): seconds per training iteration (3 D steps + 3 G steps, WGAN-GP)
of a volume pyramid's scale with ``conv_impl="auto"`` (and ``"xla"`` at the smallest size),
and the compile time of each; this is the figure the 3-D schedule has to be planned on.

Usage: python benchmarks/conv3d_kernels.py [--quick] [--reps R] [--iteration]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch

from singan_augment.engine.conv import IMPLS_3D, conv3x3x3_valid, select_impl_3d

# (side, Cin, Cout): the layers of a 3-D pyramid at its finest scales (a 64^3 volume padded
# by 5 voxels, widths 8-32): the first layer (3 contrasts in), the trunk, the last layer,
# and a narrow last layer (1 channel out, the discriminator's).
CASES = [
    (74, 3, 16),
    (72, 16, 16),
    (66, 16, 3),
    (52, 32, 32),
    (40, 32, 32),
    (40, 8, 1),
]
QUICK = [CASES[0], CASES[1], CASES[2]]


def _jax_fb(impl: str, x, w, proj) -> Callable[[], object]:
    fb = jax.jit(
        jax.value_and_grad(lambda x, w, p: jnp.sum(conv3x3x3_valid(x, w, impl) * p), (0, 1))
    )
    return lambda: jax.block_until_ready(fb(x, w, proj))


def _torch_fb(x: np.ndarray, w: np.ndarray, proj: np.ndarray) -> Callable[[], object]:
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3))).requires_grad_(True)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(4, 3, 0, 1, 2))).requires_grad_(True)
    pt = torch.from_numpy(np.ascontiguousarray(proj.transpose(0, 4, 1, 2, 3)))

    def run():
        xt.grad = wt.grad = None
        (torch.nn.functional.conv3d(xt, wt) * pt).sum().backward()

    return run


def bench_convs(cases, reps: int) -> None:
    print(f"\n## 3x3x3 convolution, forward + backward, batch 1 ({reps} reps, medians)\n")
    print("| input | Cin->Cout | auto picks | " + " | ".join(IMPLS_3D) + " | torch | best x xla |")
    print("|---|---|---|" + "---|" * (len(IMPLS_3D) + 2))
    for side, cin, cout in cases:
        key = jax.random.PRNGKey(side + cin + cout)
        x = jax.random.normal(key, (1, side, side, side, cin), jnp.float32)
        w = jax.random.normal(key, (3, 3, 3, cin, cout), jnp.float32) / np.sqrt(27 * cin)
        proj = jax.random.normal(key, (1, side - 2, side - 2, side - 2, cout), jnp.float32)
        fns = {i: _jax_fb(i, x, w, proj) for i in IMPLS_3D}
        fns["torch"] = _torch_fb(np.asarray(x), np.asarray(w), np.asarray(proj))
        for f in fns.values():  # compile and warm up
            f()
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(reps):
            for k, f in fns.items():
                time.sleep(0.05)
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        best = min(IMPLS_3D, key=lambda k: med[k])
        cells = " | ".join(f"{1e3 * med[k]:.0f} ms" for k in (*IMPLS_3D, "torch"))
        print(
            f"| {side}^3 | {cin}->{cout} | {select_impl_3d(x.shape, w.shape)} | {cells} "
            f"| {best} {med['xla'] / med[best]:.2f}x |"
        )


def bench_iteration(reps: int) -> None:
    from singan_augment.engine.config import ModelConfig, TrainConfig
    from singan_augment.engine.generate import draw_noise
    from singan_augment.engine.networks import init_discriminator, init_generator
    from singan_augment.engine.train import init_state, make_iteration, scale_consts

    print("\n## One 3-D training iteration (3 D + 3 G steps, WGAN-GP), 3 channels\n")
    print("| volume | nfc | conv_impl | compile s | s/iteration |")
    print("|---|---|---|---|---|")
    tcfg = TrainConfig()
    # XLA's own 3-D convolution only at 32^3: it takes ~7x longer per iteration there.
    for side, nfc, impls in ((32, 8, ("xla", "auto")), (48, 8, ("auto",)), (64, 8, ("auto",))):
        shape = (side, side, side)
        key = jax.random.PRNGKey(side)
        real = jnp.tanh(jax.random.normal(key, (side, side, side, 3)))
        z_opt = draw_noise(key, 1, shape, 3, True)
        for impl in impls:
            mcfg = ModelConfig(nfc_init=nfc, nfc_max=nfc, conv_impl=impl)
            g = init_generator(jax.random.PRNGKey(1), 3, nfc, mcfg, 3)
            d = init_discriminator(jax.random.PRNGKey(2), 3, nfc, mcfg, 3)[0]
            state = init_state(g, d, tcfg)
            consts = scale_consts(0, real, [], [shape], z_opt, tcfg, mcfg)
            it = make_iteration(0, [shape], 3, mcfg, tcfg)
            t0 = time.perf_counter()
            state, _ = it(state, consts, jax.random.PRNGKey(0))
            jax.block_until_ready(state)
            compile_s = time.perf_counter() - t0
            ts = []
            for r in range(reps):
                t0 = time.perf_counter()
                state, _ = it(state, consts, jax.random.PRNGKey(r + 1))
                jax.block_until_ready(state)
                ts.append(time.perf_counter() - t0)
            print(f"| {side}^3 | {nfc} | {impl} | {compile_s:.0f} | {statistics.median(ts):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="three layer shapes only")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iteration", action="store_true", help="also time whole iterations")
    args = ap.parse_args()
    print(
        f"# 3-D convolution benchmark: {platform.processor() or platform.machine()}, "
        f"jax {jax.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    bench_convs(QUICK if args.quick else CASES, args.reps)
    if args.iteration:
        bench_iteration(max(3, args.reps // 2))


if __name__ == "__main__":
    main()
