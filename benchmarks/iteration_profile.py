"""Where the time goes in one training iteration at one scale (default scale 4, 69x91, nfc 64).

Each part (frozen-scale prev, G forward, D step gradient and its two halves, G step gradient,
one conv) is jitted on its own with its inputs as arguments (no constant folding) and timed
in interleaved rounds; medians. Untrained weights (same work as trained ones).

    OMP_WAIT_POLICY=PASSIVE ROUNDS=5 python benchmarks/iteration_profile.py 4
"""

import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax
import jax.numpy as jnp
from train_time import load_image

from singan_augment.engine.config import ModelConfig, TrainConfig
from singan_augment.engine.generate import Stage, draw_noise
from singan_augment.engine.losses import discriminator_loss, generator_loss, gradient_penalty
from singan_augment.engine.networks import (
    conv3x3,
    discriminator_apply,
    generator_apply,
    init_discriminator,
    init_generator,
)
from singan_augment.engine.scales import build_pyramid, pad, scale_shapes
from singan_augment.engine.train import init_state, make_iteration, random_prev, scale_consts

scale = int(sys.argv[1]) if len(sys.argv) > 1 else 4
img = load_image()
shapes = scale_shapes(*img.shape[:2])
mcfg = ModelConfig()
tcfg = TrainConfig()
reals = [r[None] for r in build_pyramid(jnp.asarray(img), shapes)]
stages = []
for n in range(scale):
    g = init_generator(jax.random.PRNGKey(100 + n), 3, mcfg.nfc(n), mcfg)
    stages.append(Stage(g[0], g[1], jnp.float32(0.1)))
z_opt = draw_noise(jax.random.PRNGKey(0), 1, shapes[0], 3, True)
nfc = mcfg.nfc(scale)
g = init_generator(jax.random.PRNGKey(1), 3, nfc, mcfg)
d, _ = init_discriminator(jax.random.PRNGKey(2), 3, nfc, mcfg)
consts = scale_consts(scale, reals[scale], stages, shapes, z_opt, tcfg, mcfg)
state = init_state(g, d, tcfg)
it = make_iteration(scale, shapes, 3, mcfg, tcfg)
p = mcfg.pad
real = consts.real
fake_in = pad(consts.amp * real, p) + pad(consts.rec_prev, p)
prev_p = pad(consts.rec_prev, p)
fake = jnp.tanh(real)

h, w = shapes[scale]
x = jax.random.normal(jax.random.PRNGKey(5), (1, h + 2 * p - 2, w + 2 * p - 2, nfc))
wk = 0.02 * jax.random.normal(jax.random.PRNGKey(6), (3, 3, nfc, nfc))
A = dict(
    g=g,
    d=d,
    real=real,
    fake=fake,
    fake_in=fake_in,
    prev_p=prev_p,
    x=x,
    wk=wk,
    frozen=consts.frozen,
    alpha=jnp.float32(0.3),
)
J = {
    "random_prev (frozen coarser scales)": jax.jit(
        lambda a, k: random_prev(a["frozen"], shapes, k, 3, True, mcfg)
    ),
    "G forward, train BN (x3 per D phase)": jax.jit(
        lambda a, k: generator_apply(
            a["g"][0], a["g"][1], a["fake_in"], a["prev_p"], train=True, config=mcfg
        )
    ),
    "D step grad (D real + D fake + GP double backward)": jax.jit(
        lambda a, k: jax.grad(discriminator_loss, has_aux=True)(
            a["d"], a["real"], a["fake"], a["alpha"], 0.1, mcfg
        )
    ),
    "  D real+fake terms only, grad": jax.jit(
        lambda a, k: jax.grad(
            lambda dp: (
                jnp.mean(discriminator_apply(dp, a["real"], config=mcfg))
                - jnp.mean(discriminator_apply(dp, a["fake"], config=mcfg))
            )
        )(a["d"])
    ),
    "  GP term only, grad": jax.jit(
        lambda a, k: jax.grad(
            lambda dp: gradient_penalty(dp, a["real"], a["fake"], a["alpha"], mcfg)
        )(a["d"])
    ),
    "G step grad (2 G fwd + D fwd, backward)": jax.jit(
        lambda a, k: jax.grad(generator_loss, has_aux=True)(
            a["g"][0],
            a["g"][1],
            a["d"],
            a["fake_in"],
            a["prev_p"],
            a["fake_in"],
            a["prev_p"],
            a["real"],
            10.0,
            mcfg,
        )
    ),
    f"  one conv {nfc}->{nfc} fwd ({h + 8}x{w + 8})": jax.jit(
        lambda a, k: conv3x3(a["x"], a["wk"], "auto")
    ),
    f"  one conv {nfc}->{nfc} fwd+bwd (dx, dw)": jax.jit(
        lambda a, k: jax.grad(lambda u, v: jnp.sum(conv3x3(u, v, "auto") ** 2), argnums=(0, 1))(
            a["x"], a["wk"]
        )
    ),
}
key = jax.random.PRNGKey(9)
calls = {"iteration (3 D + 3 G steps)": lambda: it(state, consts, key)}
calls.update({k: (lambda f=f: f(A, key)) for k, f in J.items()})
for f in calls.values():
    jax.block_until_ready(f())
times = {k: [] for k in calls}
for _ in range(int(os.environ.get("ROUNDS", 5))):
    for k, f in calls.items():
        n = 3 if not k.startswith("iteration") else 1
        t0 = time.perf_counter()
        for _ in range(n):
            jax.block_until_ready(f())
        times[k].append((time.perf_counter() - t0) / n)
it_t = statistics.median(times["iteration (3 D + 3 G steps)"])
print(
    f"# scale {scale} {h}x{w} nfc {nfc}, medians of {len(times[next(iter(times))])} interleaved rounds"
)
print("| part | s/call | x per iteration | share of iteration |")
print("|---|---|---|---|")
per = {"iteration": 1, "random_prev": 3, "G forward": 3, "D step": 3, "G step": 3}
for k, v in times.items():
    m = statistics.median(v)
    mult = next((c for s, c in per.items() if k.startswith(s)), None)
    share = f"{100 * m * mult / it_t:.0f}%" if mult else "-"
    print(f"| {k.strip()} | {m:.4f} | {mult or '-'} | {share} |")
