"""Samples/s through a full 9-scale pyramid (186x248, random weights), JAX vs torch eval mode.

JAX: ``generate.run_scales`` with the noise drawn inside one jitted function. Torch: the same
generators (weights loaded from the JAX stages) in eval mode under ``torch.inference_mode``.
The first call of each runner (JAX: tracing + compilation) is timed and reported on its own;
then the runners alternate per repetition (order rotated) and the steady-state medians are
reported.

    python benchmarks/sample_throughput.py [--impls xla,auto] [--batches 1,16] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_time.py

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from singan_augment.engine.config import ModelConfig  # noqa: E402
from singan_augment.engine.generate import Stage, draw_noises, run_scales  # noqa: E402
from singan_augment.engine.networks import init_generator  # noqa: E402
from singan_augment.engine.scales import scale_shapes  # noqa: E402
from singan_augment.testing import torch_reference as tr  # noqa: E402

C = 3


def make_stages(shapes):
    mcfg = ModelConfig()
    stages = []
    for n in range(len(shapes)):
        p, s = init_generator(jax.random.PRNGKey(n), C, mcfg.nfc(n), mcfg)
        # Plausible running averages so eval-mode BN is well conditioned.
        s = [{"mean": m["mean"], "var": 0.01 * m["var"]} for m in s]
        stages.append(Stage(p, s, jnp.float32(1.0 if n == 0 else 0.1)))
    return stages


def jax_sampler(stages, shapes, impl, batch):
    mcfg = ModelConfig(conv_impl=impl)

    @jax.jit
    def sample(key):
        noises = draw_noises(key, batch, shapes, C, True)
        return run_scales(stages, shapes, noises, None, mcfg)

    return sample


def torch_sampler(stages, shapes, batch):
    mcfg = ModelConfig()
    gens = [
        tr.load_jax(tr.Generator(C, mcfg.nfc(n)), st.params, st.stats).eval()
        for n, st in enumerate(stages)
    ]
    amps = [float(st.amp) for st in stages]

    @torch.inference_mode()
    def sample():
        prev = None
        for n, (g, shape) in enumerate(zip(gens, shapes)):
            if n == 0:
                z = torch.randn(batch, 1, *shape).expand(batch, C, *shape)
                prev = torch.zeros(batch, C, *shape)
            else:
                z = torch.randn(batch, C, *shape)
                prev = tr.resize(prev, shape)
            prev_p = tr.pad(prev)
            prev = g(tr.pad(amps[n] * z) + prev_p, prev_p)
        return prev

    return sample


def _jax_runner(sample):
    count = [0]

    def run():
        count[0] += 1
        return sample(jax.random.PRNGKey(count[0])).block_until_ready()

    return run


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impls", default="xla,auto")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    shapes = scale_shapes(186, 248)
    stages = make_stages(shapes)
    print(f"# {len(shapes)} scales up to 186x248, C={C}, torch threads {torch.get_num_threads()}")
    print("| batch | runner | first call s (compile) | s/batch | samples/s | vs torch |")
    print("|---|---|---|---|---|---|")
    for batch in [int(b) for b in args.batches.split(",")]:
        runners = {"torch": torch_sampler(stages, shapes, batch)}
        for impl in args.impls.split(","):
            runners[f"jax:{impl}"] = _jax_runner(jax_sampler(stages, shapes, impl, batch))
        first = {}
        for name, r in runners.items():  # warm-up / compile, timed separately
            t0 = time.perf_counter()
            r()
            first[name] = time.perf_counter() - t0
        times = {name: [] for name in runners}
        items = list(runners.items())
        for rep in range(args.reps):
            for name, r in items[rep % len(items) :] + items[: rep % len(items)]:
                t0 = time.perf_counter()
                r()
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        for name, t in med.items():
            print(
                f"| {batch} | {name} | {first[name]:.1f} | {t:.3f} | {batch / t:.2f} | "
                f"{med['torch'] / t:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
