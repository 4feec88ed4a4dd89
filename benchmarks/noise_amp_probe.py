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


def score(image: str, pyr, label: dict) -> dict:
    ref = ttq.reference(ttq.IMAGES[image], pyr.shapes[-1])
    base_file = ttq.job_dir(image, "singan") / "quality.json"
    base = json.loads(base_file.read_text()) if base_file.is_file() else None
    out = {"image": image, **label}
    for start in (0, 1):
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
        help="SCHEDULE:FROM:MULT,... (or SCHEDULE,... with --swap-coarsest or --refreshed)",
    )
    p.add_argument("--image", default="brain", choices=sorted(ttq.IMAGES))
    p.add_argument("--swap-coarsest", action="store_true")
    p.add_argument("--refreshed", action="store_true")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    for spec in args.variants.split(","):
        if args.refreshed:
            rows = [refreshed(args.image, spec)]
        elif args.swap_coarsest:
            rows = swapped(args.image, spec)
        else:
            schedule, first, mult = spec.split(":")
            rows = [scaled(args.image, schedule, int(first), float(mult))]
        for row in rows:
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
