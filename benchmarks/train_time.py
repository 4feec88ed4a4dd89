"""Seconds per training iteration, per scale: the JAX engine against the PyTorch reference.

Both train on the same real image (skimage's ``coffee``, centre-cropped to 3:4 and resized to
186x248: 9 scales) from the same initial weights, with the same frozen coarser generators
(the JAX stages, loaded into torch). Per scale, after a warm-up iteration each (compilation
for JAX), the runners alternate in blocks of iterations within one process (order rotated
every round) and the median s/iter over the rounds is reported, so machine drift cancels.

    python benchmarks/train_time.py --quick          # scales 0, 2, 4; < 5 minutes
    python benchmarks/train_time.py                  # all 9 scales, 3 rounds
    python benchmarks/train_time.py --impls xla,auto,winograd_cv --scales 4,7

Also prints the machine's matmul peak (a 2048^2 jnp matmul) and, per scale, the effective
GFLOP/s of each runner, taking as the work the flops XLA counts for the ``xla`` iteration
(convolutions dominate them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# libgomp's default spin-waiting makes 2-thread torch ~10x slower whenever the 2 cores are
# shared with other processes (measured here: 0.67 s vs 0.09 s per iteration at 25x34);
# passive waiting costs nothing on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from singan_augment.engine.config import ModelConfig, TrainConfig  # noqa: E402
from singan_augment.engine.generate import Stage, draw_noise  # noqa: E402
from singan_augment.engine.networks import init_discriminator, init_generator  # noqa: E402
from singan_augment.engine.scales import build_pyramid, scale_shapes  # noqa: E402
from singan_augment.engine.train import init_state, make_iteration, scale_consts  # noqa: E402
from singan_augment.testing import torch_reference as tr  # noqa: E402


def load_image(h: int = 186, w: int = 248) -> np.ndarray:
    """skimage ``coffee`` (400x600 RGB), centre-cropped to h:w and resized: (h, w, 3) in [-1, 1]."""
    from skimage import data, transform

    img = data.coffee().astype(np.float32) / 255.0
    ih, iw = img.shape[:2]
    cw = int(round(ih * w / h))
    x0 = (iw - cw) // 2
    img = transform.resize(img[:, x0 : x0 + cw], (h, w), anti_aliasing=True)
    return (2.0 * img - 1.0).astype(np.float32)


def matmul_peak(n: int = 2048, reps: int = 10) -> tuple[float, float]:
    """GFLOP/s of an n x n float32 matmul: (jax, torch), medians."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        ts.append(time.perf_counter() - t0)
    ta = torch.randn(n, n)
    ta @ ta
    tt = []
    for _ in range(reps):
        t0 = time.perf_counter()
        ta @ ta
        tt.append(time.perf_counter() - t0)
    flops = 2.0 * n**3
    return flops / statistics.median(ts) / 1e9, flops / statistics.median(tt) / 1e9


class JaxRunner:
    def __init__(self, impl, scale, shapes, reals, stages, z_opt, g_init, d_init, tcfg):
        self.name = f"jax:{impl}"
        self.mcfg = ModelConfig(conv_impl=impl)
        self.consts = scale_consts(scale, reals[scale], stages, shapes, z_opt, tcfg, self.mcfg)
        self.state = init_state(g_init, d_init, tcfg)
        self.iteration = make_iteration(scale, shapes, reals[0].shape[-1], self.mcfg, tcfg)
        self.key = jax.random.PRNGKey(1000 + scale)
        self.i = 0

    def flops(self) -> float:
        # The lowered (pre-optimisation) HLO's count: no second compilation.
        cost = self.iteration.lower(self.state, self.consts, self.key).cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float(cost.get("flops", float("nan")))

    def run(self, n: int) -> None:
        for _ in range(n):
            self.state, _ = self.iteration(
                self.state, self.consts, jax.random.fold_in(self.key, self.i)
            )
            self.i += 1
        jax.block_until_ready(self.state)


class TorchRunner:
    name = "torch"

    def __init__(self, scale, shapes, reals, stages, consts, g_init, d_init, tcfg, channels):
        nfc = ModelConfig().nfc(scale)
        G = tr.load_jax(tr.Generator(channels, nfc), *g_init)
        D = tr.load_jax(tr.Discriminator(channels, nfc), d_init)
        frozen = [
            tr.FrozenStage(
                tr.load_jax(tr.Generator(channels, ModelConfig().nfc(k)), st.params, st.stats),
                float(st.amp),
                shapes[k],
            )
            for k, st in enumerate(stages[:scale])
        ]

        def t(x):
            return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))

        self.trainer = tr.ScaleTrainer(
            G,
            D,
            t(consts.real),
            t(consts.z_opt),
            t(consts.rec_prev),
            float(consts.amp),
            frozen,
            iters=tcfg.iters,
        )

    def run(self, n: int) -> None:
        for _ in range(n):
            self.trainer.iteration()


def bench_scale(scale, shapes, reals, stages, z_opt, impls, rounds, tcfg, min_block_s):
    mcfg = ModelConfig()
    c = reals[0].shape[-1]
    nfc = mcfg.nfc(scale)
    key = jax.random.fold_in(jax.random.PRNGKey(0), scale)
    kg, kd = jax.random.split(key)
    g_init = init_generator(kg, c, nfc, mcfg)
    d_init, _ = init_discriminator(kd, c, nfc, mcfg)
    jax_runners = [
        JaxRunner(i, scale, shapes, reals, stages, z_opt, g_init, d_init, tcfg) for i in impls
    ]
    torch_runner = TorchRunner(
        scale, shapes, reals, stages, jax_runners[0].consts, g_init, d_init, tcfg, c
    )
    runners = [torch_runner, *jax_runners]
    compile_s, block = {}, {}
    for r in runners:  # warm-up (JAX: compile), then size the blocks
        t0 = time.perf_counter()
        r.run(1)
        compile_s[r.name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        r.run(1)
        block[r.name] = max(1, int(np.ceil(min_block_s / (time.perf_counter() - t0))))
    times = {r.name: [] for r in runners}
    for k in range(rounds):
        order = runners[k % len(runners) :] + runners[: k % len(runners)]
        for r in order:
            t0 = time.perf_counter()
            r.run(block[r.name])
            times[r.name].append((time.perf_counter() - t0) / block[r.name])
    med = {name: statistics.median(v) for name, v in times.items()}
    peak = matmul_peak(reps=5)[0]  # re-measured per scale: the machine's load drifts
    xla = next((r for r in jax_runners if r.name == "jax:xla"), None)
    flops = xla.flops() if xla is not None else float("nan")
    # The trained JAX generator of the first impl becomes this scale's frozen stage.
    st = jax_runners[0].state
    stage = Stage(st.g_params, st.g_stats, jax_runners[0].consts.amp)
    return med, compile_s, flops, stage, peak


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="scales 0,2,4; 3 rounds")
    ap.add_argument("--scales", default=None, help="comma list (default: all, quick: 0,2,4)")
    ap.add_argument("--impls", default="xla,auto", help="JAX conv impls to time")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--min-block-s", type=float, default=1.0, help="target seconds per block")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(0)
    image = load_image()
    shapes = scale_shapes(*image.shape[:2])
    n_scales = len(shapes)
    if args.scales:
        scales = [int(s) for s in args.scales.split(",")]
    else:
        scales = [0, 2, 4] if args.quick else list(range(n_scales))
    impls = args.impls.split(",")
    tcfg = TrainConfig()
    reals = [r[None] for r in build_pyramid(jnp.asarray(image), shapes)]
    z_opt = draw_noise(jax.random.PRNGKey(0), 1, shapes[0], 3, True)
    peak_j, peak_t = matmul_peak()
    print(f"# jax {jax.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs")
    print(f"# matmul 2048^2 peak: jax {peak_j:.0f} GFLOP/s, torch {peak_t:.0f} GFLOP/s")
    print(
        f"# torch threads {torch.get_num_threads()}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    print(f"# image 186x248x3 (skimage coffee), {n_scales} scales, rounds {args.rounds}")
    cols = ["torch"] + [f"jax:{i}" for i in impls]
    header = ["scale", "size", "nfc", *[f"{c} s/it" for c in cols]]
    header += [f"{c}/torch" for c in cols[1:]] + ["GFLOP/it"]
    header += [f"{c} %peak" for c in cols]  # flops of the xla iteration / time / matmul peak
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    stages: list[Stage] = []
    totals = dict.fromkeys(cols, 0.0)
    mcfg = ModelConfig()
    for n in range(max(scales) + 1):
        if n not in scales:
            # An untrained stage (same work as a trained one) for scales not timed.
            g = init_generator(jax.random.PRNGKey(100 + n), 3, mcfg.nfc(n), mcfg)
            stages.append(Stage(g[0], g[1], jnp.float32(0.1)))
            continue
        med, comp, flops, stage, peak = bench_scale(
            n, shapes, reals, stages, z_opt, impls, args.rounds, tcfg, args.min_block_s
        )
        stages.append(stage)
        for c in cols:
            totals[c] += med[c]
        h, w = shapes[n]
        row = [str(n), f"{h}x{w}", str(mcfg.nfc(n))]
        row += [f"{med[c]:.4f}" for c in cols]
        row += [f"{med[c] / med['torch']:.2f}" for c in cols[1:]]
        row += [f"{flops / 1e9:.1f}"]
        row += [f"{100 * flops / med[c] / 1e9 / peak:.0f}%" for c in cols]
        print("| " + " | ".join(row) + " |", flush=True)
        print(
            f"#   matmul peak now {peak:.0f} GFLOP/s; warm-up (compile) s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in comp.items()),
            flush=True,
        )
    print(f"# totals over scales {scales}, s/iter summed:")
    for c in cols:
        hours = totals[c] * tcfg.iters / 3600
        print(
            f"#   {c}: {totals[c]:.3f} s  ({totals[c] / totals['torch']:.2f}x torch); "
            f"projected {tcfg.iters} iters/scale: {hours:.2f} h"
        )


if __name__ == "__main__":
    main()
