"""Probe: can reconstruction-only G steps stand in for adversarial iterations at the finest
scale? (docs/time_to_quality.md, "Finest-scale probes".)

Takes brain ``decay2000p1``'s cached pyramid (``python benchmarks/time_to_quality.py run
--image brain --schedule decay2000p1`` first), keeps its scales 0..5, and retrains the finest
scale as ``WARM:ITERS[:POLISH]``: WARM reconstruction-only G steps (Adam, lr 5e-4, betas
0.5/0.999, G in training mode, no D), then ITERS adversarial iterations of the engine (lr drop
at 80 %), then POLISH more reconstruction-only steps; an optional fourth field sets the
adversarial iterations' reconstruction weight (alpha; default the pyramid's, 10). Prints one JSON line per variant:
seconds, finest-scale reconstruction RMSE, and SWD / diversity of 20 samples from start
scales 0 and 1 against the same reference as the time-to-quality benchmark.

    python benchmarks/finest_scale_probe.py 0:116,400:116,1000:116,1000:0,0:116:1000
    python benchmarks/finest_scale_probe.py 0:116:0:30,0:116:0:100
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))

import time_to_quality as ttq  # noqa: E402

from singan_augment import metrics  # noqa: E402
from singan_augment.engine.fit import scale_initial_weights  # noqa: E402
from singan_augment.engine.generate import Stage, reconstruction  # noqa: E402
from singan_augment.engine.networks import generator_apply  # noqa: E402
from singan_augment.engine.sample import sample  # noqa: E402
from singan_augment.engine.scales import pad  # noqa: E402
from singan_augment.engine.train import (  # noqa: E402
    init_state,
    make_iteration,
    run_iterations,
    scale_consts,
)
from singan_augment.files.pyramid_files import load_pyramid  # noqa: E402

N_SAMPLES = 20


def rec_only_steps(g_params, g_stats, consts, steps: int, mcfg):
    """``steps`` Adam steps on MSE(G(rec_in), real), G in training mode."""
    if steps == 0:
        return g_params, g_stats
    tx = optax.adam(5e-4, b1=0.5, b2=0.999)
    p = mcfg.pad
    rec_prev_p = pad(consts.rec_prev, p)
    rec_in = pad(consts.amp * consts.z_opt, p) + rec_prev_p

    def loss(params, stats):
        rec, stats = generator_apply(params, stats, rec_in, rec_prev_p, train=True, config=mcfg)
        return jnp.mean(jnp.square(rec - consts.real)), stats

    @jax.jit
    def step(params, stats, opt):
        (_, stats), grads = jax.value_and_grad(loss, has_aux=True)(params, stats)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), stats, opt

    opt = tx.init(g_params)
    for _ in range(steps):
        g_params, g_stats, opt = step(g_params, g_stats, opt)
    return jax.block_until_ready((g_params, g_stats))


def run(base, ref, warm: int, iters: int, polish: int = 0, rec_weight: float = 0.0) -> dict:
    mcfg, tcfg = base.model_config, base.train_config
    if rec_weight:
        tcfg = replace(tcfg, rec_weight=rec_weight)
    n = base.num_trained
    key = jax.random.fold_in(jax.random.PRNGKey(ttq.SEED), n + 1)  # as engine.fit does
    (g_params, g_stats), d_params = scale_initial_weights(base, n, jax.random.fold_in(key, 0))
    consts = scale_consts(n, base.reals[n], base.stages, base.shapes, base.z_opt, tcfg, mcfg)
    out = {"warm": warm, "iters": iters, "polish": polish, "rec_weight": tcfg.rec_weight}
    t = time.perf_counter()
    g_params, g_stats = rec_only_steps(g_params, g_stats, consts, warm, mcfg)
    out["warm_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if iters:
        state = init_state((g_params, g_stats), d_params, tcfg, int(round(iters * 0.8)))
        step = make_iteration(n, base.shapes, base.num_channels, mcfg, tcfg)
        state, _ = run_iterations(
            step, state, consts, jax.random.fold_in(key, 1), iters, progress=False
        )
        g_params, g_stats, d_params = state.g_params, state.g_stats, state.d_params
    out["iters_s"] = time.perf_counter() - t
    t = time.perf_counter()
    g_params, g_stats = rec_only_steps(g_params, g_stats, consts, polish, mcfg)
    out["polish_s"] = time.perf_counter() - t
    pyr = base.with_stage(Stage(g_params, g_stats, consts.amp), d_params)
    rec = reconstruction(pyr.stages, pyr.shapes, pyr.z_opt, mcfg)
    out["rec_rmse"] = float(jnp.sqrt(jnp.mean(jnp.square(rec[0] - pyr.reals[n]))))
    for start in (0, 1):
        imgs = sample(pyr, 1000 + start, N_SAMPLES, start_scale=start).images
        out[f"swd{start}"] = metrics.sliced_wasserstein(imgs, ref)
        out[f"div{start}"] = metrics.diversity(imgs, ref)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit(__doc__)
    full = load_pyramid(ttq.job_dir("brain", "decay2000p1"))
    base = replace(full, stages=full.stages[:-1])
    ref = ttq.reference(ttq.IMAGES["brain"], full.shapes[-1])
    for spec in argv[0].split(","):
        warm, iters, *rest = spec.split(":")
        polish = int(rest[0]) if rest else 0
        rec_weight = float(rest[1]) if len(rest) > 1 else 0.0
        print(json.dumps(run(base, ref, int(warm), int(iters), polish, rec_weight)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
