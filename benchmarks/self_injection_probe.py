"""Probe: a pyramid given its own training image at an injection scale.

Injection (and harmonization, which injects a composite) hands the generators from scale s up
an image: the input resized down to scale s - 1 and back up. A published pyramid was trained
on exactly such inputs, images of each scale; the generators of a concurrent pyramid (`fast`)
were trained on their coarser neighbours' outputs, which drift from those images
(docs/time_to_quality.md, "Coarser generators anchored to their own scales"). Injecting the
training image itself measures how well each pyramid takes an image where it was trained on
its own outputs: the RMSE of ``n`` outputs to the image (normalised [-1, 1] units) and their
pooled patch SWD against it, at each scale in ``--scales``, with the ratio to the first job.

    python benchmarks/self_injection_probe.py --image histology --jobs singan,con3p105rg10f2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import time_to_quality as ttq  # noqa: E402


def self_injection(pyr, scales, n: int = 8, seed: int = 0) -> dict[int, dict[str, float]]:
    """``{scale: {"rmse": ..., "swd": ...}}`` of ``n`` injections of ``pyr.reals[-1]``."""
    import jax.numpy as jnp
    import numpy as np

    from singan_augment.engine.harmonize import inject_normalised
    from singan_augment.metrics import sliced_wasserstein

    real = pyr.reals[-1][None]
    ref = np.moveaxis(np.asarray(real), -1, 1)
    out = {}
    for s in scales:
        x = inject_normalised(pyr, real, s, seed, n)
        out[s] = {
            "rmse": float(jnp.sqrt(jnp.mean(jnp.square(x - real)))),
            "swd": float(sliced_wasserstein(np.moveaxis(np.asarray(x), -1, 1), ref)),
        }
    return out


def main(argv=None) -> int:
    from singan_augment.files.pyramid_files import load_pyramid

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="histology", choices=sorted(ttq.IMAGES))
    p.add_argument("--jobs", default="singan,con3p105rg10f2", help="the first is the ratios' base")
    p.add_argument("--scales", default="2,3")
    p.add_argument("--n", type=int, default=8)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    scales = [int(v) for v in args.scales.split(",")]
    base = None
    for job in args.jobs.split(","):
        res = self_injection(load_pyramid(ttq.job_dir(args.image, job)), scales, args.n)
        base = base or res
        row = {"image": args.image, "job": job}
        for s, m in res.items():
            row[f"s{s}"] = {k: round(v, 4) for k, v in m.items()}
            row[f"s{s}_ratio"] = {k: round(v / base[s][k], 2) for k, v in m.items()}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
