"""Sampling compiled per scale (the engine's ``generate.synthesize``) against one compiled chain
per start scale (how ``sample`` worked before 2026-12-01), on a shipped pyramid.

For each start scale in turn, both forms draw ``--n`` samples: the first call (tracing and
compilation, cumulative over the start scales: the per-scale form reuses the scales it has
compiled) and the steady-state median of ``--reps`` further calls, the two forms alternating
in one run. Outputs are compared (max abs difference).

    python benchmarks/sampling_compile.py [--pyramid brain_t1_t2_flair] [--n 8] [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import jax
import numpy as np

from singan_augment import pretrained
from singan_augment.engine.generate import draw_noises, reconstruction, run_scales, synthesize
from singan_augment.engine.scales import resize


@partial(jax.jit, static_argnames=("shapes", "start", "channels", "shared", "mcfg"))
def whole_chain(stages, prev, keys, *, shapes, start, channels, shared, mcfg):
    """The former form: every scale from ``start`` in one compiled function per start scale."""

    def one(key):
        noises = draw_noises(key, 1, shapes[start:], channels, shared, first_scale=start)
        return run_scales(stages[start:], shapes[start:], noises, prev, mcfg)[0]

    return jax.vmap(one)(keys)


def timed(fn):
    t = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyramid", default="brain_t1_t2_flair")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--starts", default="0,1,2,3")
    args = ap.parse_args()
    pyr = pretrained.load(args.pyramid)
    mcfg, shapes, c = pyr.model_config, tuple(pyr.shapes), pyr.num_channels
    shared = pyr.train_config.coarsest_noise == "shared"
    keys = jax.random.split(jax.random.PRNGKey(0), args.n)
    print(f"{args.pyramid}: {len(shapes)} scales, finest {shapes[-1]}, {args.n} samples per call")
    print(
        "start | first call s: per scale / chain | steady ms: per scale / chain | ratio | max diff"
    )
    first = {"scale": 0.0, "chain": 0.0}
    for start in [int(s) for s in args.starts.split(",")]:
        prev = None
        if start > 0:
            rec = reconstruction(pyr.stages[:start], shapes, pyr.z_opt, mcfg)
            prev = jax.block_until_ready(resize(rec, shapes[start]))
        run = {
            "scale": lambda prev=prev, start=start: synthesize(
                pyr.stages[start:],
                shapes[start:],
                keys,
                prev,
                mcfg,
                channels=c,
                first_scale=start,
                shared_coarsest=shared,
            ),  # fmt: skip
            "chain": lambda prev=prev, start=start: whole_chain(
                pyr.stages,
                prev,
                keys,
                shapes=shapes,
                start=start,
                channels=c,
                shared=shared,
                mcfg=mcfg,
            ),  # fmt: skip
        }
        outs = {}
        for name in ("scale", "chain"):
            outs[name], s = timed(run[name])
            first[name] += s
        steady = {"scale": [], "chain": []}
        for r in range(args.reps):
            for name in ("scale", "chain") if r % 2 == 0 else ("chain", "scale"):
                steady[name].append(timed(run[name])[1])
        ms = {k: 1000 * statistics.median(v) for k, v in steady.items()}
        diff = float(np.abs(np.asarray(outs["scale"]) - np.asarray(outs["chain"])).max())
        print(
            f"{start:5d} | {first['scale']:8.1f} / {first['chain']:6.1f} | "
            f"{ms['scale']:9.1f} / {ms['chain']:6.1f} | {ms['scale'] / ms['chain']:5.2f} | {diff:.1e}"
        )


if __name__ == "__main__":
    main()
