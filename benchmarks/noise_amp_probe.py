"""Probe: does the injected noise set the start-scale-1 SWD? (docs/time_to_quality.md,
"Reconstruction-weight probes".)

Samples a cached time-to-quality pyramid of the brain image with the noise amplitudes of
scales ``FROM`` and finer multiplied by ``MULT`` (no retraining), and prints one JSON line per
variant: SWD and diversity of 50 samples from start scales 0 and 1, against the same reference
and with the same seeds as ``time_to_quality.py``'s quality step.

    python benchmarks/noise_amp_probe.py decay2000p1:1:1.0,decay2000p1:6:0.5,decay2000p1:6:0
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import time_to_quality as ttq  # noqa: E402

from singan_augment import metrics  # noqa: E402
from singan_augment.engine.sample import sample  # noqa: E402
from singan_augment.files.pyramid_files import load_pyramid  # noqa: E402


def run(schedule: str, first: int, mult: float) -> dict:
    pyr = load_pyramid(ttq.job_dir("brain", schedule))
    stages = [s._replace(amp=s.amp * mult) if i >= first else s for i, s in enumerate(pyr.stages)]
    pyr = replace(pyr, stages=stages)
    ref = ttq.reference(ttq.IMAGES["brain"], pyr.shapes[-1])
    out = {"schedule": schedule, "from_scale": first, "mult": mult}
    for start in (0, 1):
        imgs = sample(pyr, 1000 + start, ttq.N_SAMPLES, start_scale=start).images
        out[f"swd{start}"] = round(metrics.sliced_wasserstein(imgs, ref), 4)
        out[f"div{start}"] = round(metrics.diversity(imgs, ref), 4)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit(__doc__)
    for spec in argv[0].split(","):
        schedule, first, mult = spec.split(":")
        print(json.dumps(run(schedule, int(first), float(mult))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
