"""Probe: what the injected noise does to a trained pyramid's samples, no retraining.
(docs/time_to_quality.md, "Reconstruction-weight probes" and "Noise and the coarsest
generator at sampling time".)

Samples a cached time-to-quality pyramid with the noise amplitudes of scales ``FROM`` and
finer multiplied by ``MULT``, and prints one JSON line per variant: SWD and diversity of 50
samples from start scales 0 and 1, against the same reference and with the same seeds as
``time_to_quality.py``'s quality step, and their ratios to the image's ``singan`` baseline
(its ``quality.json``) where it has one.

    python benchmarks/noise_amp_probe.py decay2000p1:1:1.0,decay2000p1:6:0.5,decay2000p1:6:0
    python benchmarks/noise_amp_probe.py --image coffee con3i1000p105rg10f2:1:2

``--swap-coarsest`` instead replaces the pyramid's scale-0 generator by the ``singan``
baseline's (same seed, same 2000 iterations alone at scale 0) and scores both.

``--refreshed`` scores nothing: it prints, per scale, the noise amplitude the published rule
(0.1 x the RMSE between the real image and the upsampled reconstruction entering the scale)
gives with the pyramid's finished generators, over the amplitude it trained with. For a
schedule that trains one scale at a time the ratio is 1 at every scale; a concurrent schedule
goes on training the coarser generators after a scale's amplitude is set.

    python benchmarks/noise_amp_probe.py --image coffee --refreshed singan,con3f1w32j1m10h1p12rg10f2

``--coarsest-only`` multiplies only scale 0's amplitude (``SCHEDULE:MULT,...``) and scores start
scale 0 alone: the reconstruction path that start scale 1 follows runs through scale 0 too.

``--recalibrated-bn`` replaces every generator's BatchNorm running averages by ones gathered
from the random path alone (``recalibrated_bn``: 64 fresh-noise samples per scale, each
normalised on its own as in training's batch of one, scales in order) and scores both.

    python benchmarks/noise_amp_probe.py --image coffee --coarsest-only con3d039x64p105rg10f2:1.5
    python benchmarks/noise_amp_probe.py --image coffee --recalibrated-bn singan,con3d039x64p105rg10f2
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import time_to_quality as ttq  # noqa: E402

from singan_augment import metrics  # noqa: E402
from singan_augment.files.pyramid_files import load_pyramid  # noqa: E402


def score(image: str, pyr, label: dict, starts: tuple[int, ...] = (0, 1)) -> dict:
    ref = ttq.reference(ttq.IMAGES[image], pyr.shapes[-1])
    base_file = ttq.job_dir(image, "singan") / "quality.json"
    base = json.loads(base_file.read_text()) if base_file.is_file() else None
    out = {"image": image, **label}
    for start in starts:
        imgs = ttq.draw_samples(pyr, start).images
        swd, div = metrics.sliced_wasserstein(imgs, ref), metrics.diversity(imgs, ref)
        out[f"swd{start}"], out[f"div{start}"] = round(swd, 4), round(div, 4)
        if base is not None:
            out[f"swd{start}_ratio"] = round(swd / base[f"start{start}"]["swd"], 3)
            out[f"div{start}_ratio"] = round(div / base[f"start{start}"]["diversity"], 3)
    return out


def scaled(image: str, schedule: str, first: int, mult: float) -> dict:
    pyr = load_pyramid(ttq.job_dir(image, schedule))
    stages = [s._replace(amp=s.amp * mult) if i >= first else s for i, s in enumerate(pyr.stages)]
    label = {"schedule": schedule, "from_scale": first, "mult": mult}
    return score(image, replace(pyr, stages=tuple(stages)), label)


def coarsest_scaled(image: str, schedule: str, mult: float) -> dict:
    pyr = load_pyramid(ttq.job_dir(image, schedule))
    g0 = pyr.stages[0]
    pyr = replace(pyr, stages=(g0._replace(amp=g0.amp * mult), *pyr.stages[1:]))
    return score(image, pyr, {"schedule": schedule, "coarsest_mult": mult}, starts=(0,))


def recalibrated_bn(pyr, n: int = 64, seed: int = 0):
    """``pyr`` with each generator's BN running averages replaced, coarsest first, by the mean
    over ``n`` random-path inputs of each input's own batch statistics (a batch of one, as
    training normalises; the variance unbiased, as training's running average takes it). A
    scale's inputs come through the scales below, already recalibrated."""
    import jax
    import jax.numpy as jnp

    from singan_augment.engine.generate import noise_per_key, split_each, synthesize
    from singan_augment.engine.networks import generator_apply
    from singan_augment.engine.sample import per_sample_keys
    from singan_augment.engine.scales import pad, resize_prev

    mcfg, channels = pyr.model_config, int(pyr.reals[-1].shape[-1])
    shared = pyr.train_config.coarsest_noise == "shared"
    keys = per_sample_keys(seed, n)
    per_scale = split_each(keys, pyr.num_trained)
    stages = list(pyr.stages)
    for k in range(pyr.num_trained):
        shape = tuple(int(v) for v in pyr.shapes[k])
        if k == 0:
            prev = jnp.zeros((n, *shape, channels), jnp.float32)
        else:
            below = synthesize(
                stages[:k], pyr.shapes[:k], keys, None, mcfg, channels=channels,
                shared_coarsest=shared,
            )  # fmt: skip
            prev = resize_prev(below, shape, mcfg.clamp)
        z = noise_per_key(per_scale[:, k], shape=shape, channels=channels, shared=shared and k == 0)
        stage = stages[k]
        prev_p = pad(prev, mcfg.pad)
        z_in = pad(stage.amp * z, mcfg.pad) + prev_p
        zero = jax.tree.map(jnp.zeros_like, stage.stats)

        def own_stats(x, x_prev, stage=stage, zero=zero):
            _, st = generator_apply(
                stage.params, zero, x[None], x_prev[None], train=True, config=mcfg
            )
            return st  # from zeros: momentum m times the input's own statistics

        per_input = jax.vmap(own_stats)(z_in, prev_p)
        stats = jax.tree.map(lambda v: jnp.mean(v, axis=0) / mcfg.bn_momentum, per_input)
        stages[k] = stage._replace(stats=stats)
    return replace(pyr, stages=tuple(stages))


def recalibrated(image: str, schedule: str) -> list[dict]:
    pyr = load_pyramid(ttq.job_dir(image, schedule))
    return [
        score(image, pyr, {"schedule": schedule, "bn": "as trained"}),
        score(image, recalibrated_bn(pyr), {"schedule": schedule, "bn": "recalibrated"}),
    ]


def swapped(image: str, schedule: str) -> list[dict]:
    pyr = load_pyramid(ttq.job_dir(image, schedule))
    g0 = load_pyramid(ttq.job_dir(image, "singan")).stages[0]
    return [
        score(image, pyr, {"schedule": schedule, "coarsest": "own"}),
        score(image, replace(pyr, stages=(g0, *pyr.stages[1:])), {
            "schedule": schedule, "coarsest": "singan's"
        }),
    ]  # fmt: skip


def refreshed_amp_ratios(pyr) -> list[float]:
    """Per trained scale: the noise amplitude the published rule gives with ``pyr``'s finished
    generators, over the one the scale trained with (1.0 at scale 0). The amplitude is
    training's own (``train.scale_consts`` of the one-scale-at-a-time step, which sets a
    scale's amplitude from the reconstruction of all the scales below it)."""
    from singan_augment.engine.config import TrainConfig
    from singan_augment.engine.train import scale_consts

    published = TrainConfig(noise_amp_init=pyr.train_config.noise_amp_init)
    return [
        float(
            scale_consts(
                n, pyr.reals[n], pyr.stages, pyr.shapes, pyr.z_opt, published, pyr.model_config
            ).amp
        )
        / float(pyr.stages[n].amp)
        for n in range(pyr.num_trained)
    ]


def refreshed(image: str, schedule: str) -> dict:
    pyr = load_pyramid(ttq.job_dir(image, schedule))
    ratios = [round(r, 3) for r in refreshed_amp_ratios(pyr)]
    return {"image": image, "schedule": schedule, "refreshed_over_trained": ratios}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "variants",
        help="SCHEDULE:FROM:MULT,... (SCHEDULE:MULT,... with --coarsest-only; SCHEDULE,... "
        "with --swap-coarsest, --refreshed or --recalibrated-bn)",
    )
    p.add_argument("--image", default="brain", choices=sorted(ttq.IMAGES))
    p.add_argument("--swap-coarsest", action="store_true")
    p.add_argument("--refreshed", action="store_true")
    p.add_argument("--coarsest-only", action="store_true")
    p.add_argument("--recalibrated-bn", action="store_true")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    for spec in args.variants.split(","):
        if args.refreshed:
            rows = [refreshed(args.image, spec)]
        elif args.swap_coarsest:
            rows = swapped(args.image, spec)
        elif args.recalibrated_bn:
            rows = recalibrated(args.image, spec)
        elif args.coarsest_only:
            schedule, mult = spec.split(":")
            rows = [coarsest_scaled(args.image, schedule, float(mult))]
        else:
            schedule, first, mult = spec.split(":")
            rows = [scaled(args.image, schedule, int(first), float(mult))]
        for row in rows:
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
