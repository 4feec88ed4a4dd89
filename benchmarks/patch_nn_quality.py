"""The training-free reference for issue 12: GPNN-style patch nearest neighbours, scored as a
pyramid is scored in ``time_to_quality.py``.

Issue 12 names patch-nearest-neighbour generation (Granot et al., CVPR 2022) as the ceiling
users compare against: it trains nothing. This puts ``examples/patch_nn.py`` (our simplified
GPNN, the downstream study's baseline) on the same footing as the schedules:

* the same five images, as the training image resized to the finest shape of the image's
  ``singan`` pyramid (``time_to_quality.reference``), and the pyramid's own level shapes, so
  that level n is scale n;
* 50 samples from level 0 (GPNN as published) and 50 from level 1 (the analogue of start
  scale 1: the source's level 0 upsampled, plus the noise), noise std ``--noise`` in [-1, 1]
  units (0.75, the module's default, unless named);
* the same measures on the same reference: multi-scale patch SWD, diversity, and for the H&E
  tile the per-sample mask consistency; ratios to the image's ``singan`` ``quality.json``
  (draw 0, the protocol's single draw);
* its cost: wall and process CPU seconds per sample (there is no training). The machine may
  be shared, so CPU seconds are the comparable figure.

    python benchmarks/patch_nn_quality.py run --images coffee,brain
    python benchmarks/patch_nn_quality.py table

Results: ``benchmarks/results/patch_nn_quality/<image>_noise<noise>.json`` (committed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import time_to_quality as ttq  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "patch_nn_quality"
_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "patch_nn.py"


def _patch_nn():
    spec = importlib.util.spec_from_file_location("patch_nn", _EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def result_path(image: str, noise: float) -> Path:
    return OUT / f"{image}_noise{noise:g}.json"


def score(image: ttq.BenchImage, noise: float, n: int = ttq.N_SAMPLES) -> dict:
    """Generate ``n`` samples from levels 0 and 1 and score them as ``ttq.quality`` does."""
    import torch

    from singan_augment import metrics
    from singan_augment.files.pyramid_files import read_metadata

    patch_nn = _patch_nn()
    meta = read_metadata(ttq.job_dir(image.name, "singan"))
    shapes = [tuple(s) for s in meta["shapes"]]
    ref = ttq.reference(image, shapes[-1])
    labels = [image.channels.index(c) for c in image.labels]
    result = {
        "noise": noise,
        "samples": n,
        "shapes": shapes,
        "torch_threads": torch.get_num_threads(),
    }
    for start in (0, 1):
        wall0, cpu0 = time.perf_counter(), ttq.cpu_seconds()
        imgs = np.stack(
            [
                patch_nn.generate(
                    ref,
                    100_000 * start + i,
                    label_channels=labels,
                    noise=noise,
                    shapes=shapes,
                    start_level=start,
                )
                for i in range(n)
            ]
        )
        wall, cpu = time.perf_counter() - wall0, ttq.cpu_seconds() - cpu0
        entry = {
            "swd": metrics.sliced_wasserstein(imgs, ref),
            "diversity": metrics.diversity(imgs, ref),
            "wall_s_per_sample": wall / n,
            "cpu_s_per_sample": cpu / n,
        }
        if labels:
            ii = [i for i in range(len(image.channels)) if i not in labels]
            cons = [metrics.mask_consistency(x[ii], x[labels[0]]) for x in imgs]
            entry["mask_consistency"] = ttq.spread(cons)
        result[f"start{start}"] = entry
    return result


def cmd_run(args) -> int:
    from singan_augment.files.atomic import atomic_write

    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.images.split(","):
        if name not in ttq.IMAGES:
            raise SystemExit(f"unknown image {name!r}; known: {', '.join(ttq.IMAGES)}")
        res = score(ttq.IMAGES[name], args.noise, args.samples)
        res["commit"] = ttq.commit_id()
        atomic_write(result_path(name, args.noise), json.dumps(res, indent=1).encode())
        print(name, json.dumps({k: res[k] for k in ("start0", "start1")}))
    return 0


def cmd_table(args) -> int:
    print(
        "| image | noise | SWD ratio start 0 / 1 | diversity ratio start 0 / 1 "
        "| within the bar's numbers | CPU s per sample (start 0) |"
    )
    print("|---|---|---|---|---|---|")
    for path in sorted(OUT.glob("*_noise*.json")):
        res = json.loads(path.read_text())
        image = path.name.split("_noise")[0]
        base = json.loads((ttq.job_dir(image, "singan") / "quality.json").read_text())
        swd = [res[k]["swd"] / base[k]["swd"] for k in ("start0", "start1")]
        div = [res[k]["diversity"] / base[k]["diversity"] for k in ("start0", "start1")]
        ok = ttq.meets_bar(res, base)
        print(
            f"| {image} | {res['noise']:g} | {swd[0]:.2f} / {swd[1]:.2f} "
            f"| {div[0]:.2f} / {div[1]:.2f} | {'yes' if ok else 'no'} "
            f"| {res['start0']['cpu_s_per_sample']:.2f} |"
        )
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="generate, score and save, per image")
    r.add_argument("--images", default=",".join(ttq.IMAGES))
    r.add_argument("--noise", type=float, default=0.75)
    r.add_argument("--samples", type=int, default=ttq.N_SAMPLES)
    r.set_defaults(func=cmd_run)
    t = sub.add_parser("table", help="ratios to each image's singan, from the saved results")
    t.set_defaults(func=cmd_table)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
