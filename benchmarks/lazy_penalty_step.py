"""The concurrent training step with and without the lazy gradient penalty, side by side.

``TrainConfig.gp_every=3`` applies WGAN-GP's penalty on one D step in three (weighted 3x), so
two D steps in three skip its second-order gradient. This times one training iteration of
``fast``'s step (three concurrent stages, published width) at the given scales of the brain
benchmark pyramid's shapes (max side 128), published penalty against lazy, interleaved in
rounds on random weights (the same work as trained ones); medians. Docs:
``docs/time_to_quality.md``, "A lazy gradient penalty".

    python benchmarks/lazy_penalty_step.py 1 3 5
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from singan_augment.engine.config import ModelConfig, TrainConfig
from singan_augment.engine.generate import Stage, draw_noise
from singan_augment.engine.networks import init_discriminator, init_generator
from singan_augment.engine.train import init_state, make_iteration, scale_consts

SHAPES = [(31, 25), (40, 32), (50, 41), (63, 51), (80, 65), (101, 83), (128, 104)]  # brain
C = 3
ROUNDS = 7


def step_and_inputs(scale: int, tcfg: TrainConfig, mcfg: ModelConfig):
    """The jitted iteration at ``scale`` and a state and constants to run it on."""
    stages = []
    for n in range(scale):
        g = init_generator(jax.random.PRNGKey(100 + n), C, mcfg.nfc(n), mcfg)
        stages.append(Stage(g[0], g[1], jnp.float32(0.1)))
    k = tcfg.trainable_stages(scale)
    lower = [(stages[n].params, stages[n].stats) for n in range(scale - k + 1, scale)]
    g = init_generator(jax.random.PRNGKey(1), C, mcfg.nfc(scale), mcfg)
    d, _ = init_discriminator(jax.random.PRNGKey(2), C, mcfg.nfc(scale), mcfg)
    rng = np.random.default_rng(0)
    real = jnp.asarray(np.tanh(rng.standard_normal((*SHAPES[scale], C))), jnp.float32)
    z_opt = draw_noise(jax.random.PRNGKey(0), 1, SHAPES[0], C, True)
    consts = scale_consts(scale, real, stages, SHAPES, z_opt, tcfg, mcfg)
    state = init_state(g, d, tcfg, lower=lower, scale=scale) if k > 1 else init_state(g, d, tcfg)
    return make_iteration(scale, SHAPES, C, mcfg, tcfg), state, consts


def main(scales: list[int]) -> None:
    mcfg = ModelConfig()
    print("| scale | size | width | published s/it | lazy (gp_every=3) s/it | lazy / published |")
    print("|---|---|---|---|---|---|")
    for scale in scales:
        runs = {
            every: step_and_inputs(scale, TrainConfig(concurrent_stages=3, gp_every=every), mcfg)
            for every in (1, 3)
        }
        for it, state, consts in runs.values():  # compile
            jax.block_until_ready(it(state, consts, jax.random.PRNGKey(3)))
        times: dict[int, list[float]] = {every: [] for every in runs}
        for r in range(ROUNDS):
            for every, (it, state, consts) in runs.items():
                t0 = time.perf_counter()
                jax.block_until_ready(it(state, consts, jax.random.PRNGKey(r)))
                times[every].append(time.perf_counter() - t0)
        pub, lazy = (statistics.median(times[e]) for e in (1, 3))
        h, w = SHAPES[scale]
        print(
            f"| {scale} | {h}x{w} | {mcfg.nfc(scale)} | {pub:.3f} | {lazy:.3f} | {lazy / pub:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 3, 5])
