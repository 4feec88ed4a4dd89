"""The training-free reference for issue 12: GPNN-style patch nearest neighbours, scored as a
pyramid is scored in ``time_to_quality.py``.

Issue 12 names patch-nearest-neighbour generation (Granot et al., CVPR 2022) as the ceiling
users compare against: it trains nothing. This scores ``examples/patch_nn.py`` (our
simplified GPNN, the downstream study's training-free arm) at GPNN's published settings
(``GPNN``) on the page's footing:

* the reference every schedule is scored against (the training image resized to the finest
  shape of the image's ``singan`` pyramid, ``time_to_quality.reference``) is the source;
* 50 samples, scored with the same functions as ``quality.json``'s start 0 (multi-scale patch
  SWD, diversity, and for the H&E tile the per-sample mask consistency), and ratios taken to
  the image's ``singan`` (draw 0, the protocol's single draw). GPNN has no start scale 1:
  the bar's start-1 half has no counterpart;
* its cost: wall and process CPU seconds per sample (it trains nothing). The machine may be
  shared, so CPU seconds are the comparable figure.

    python benchmarks/patch_nn_quality.py run --images coffee,brain
    python benchmarks/patch_nn_quality.py table

Results: ``benchmarks/results/patch_nn_quality/<image>_noise<noise>.json`` (committed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import patch_nn  # noqa: E402
import time_to_quality as ttq  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "patch_nn_quality"
# GPNN's published random-sample settings (its code's defaults): 7x7 patches, alpha 0.005, 10
# passes per level, ratio 4/3, the coarsest level 14 px on its short side (our levels keep the
# aspect ratio), one noise map for every channel with std 0.75 in [0, 1] units (1.5 in the
# [-1, 1] units ``generate`` takes)
GPNN = {"patch": 7, "alpha": 0.005, "passes": 10, "min_size": 14, "shared_noise": True}
GPNN_NOISE = 1.5


def result_path(image: str, noise: float) -> Path:
    return OUT / f"{image}_noise{noise:g}.json"


def finest_shape(image: ttq.BenchImage) -> tuple[int, int]:
    """The finest scale's (H, W) of the image's pyramids in ``time_to_quality`` (the shape
    every schedule is scored at; not every ``singan`` job kept its weights to read it from)."""
    from singan_augment.engine.config import PyramidConfig
    from singan_augment.engine.scales import pyramid_shapes

    return tuple(pyramid_shapes(image.load().shape[1:], PyramidConfig(max_size=ttq.MAX_SIZE))[-1])


def score(image: ttq.BenchImage, noise: float, n: int = ttq.N_SAMPLES) -> dict:
    """``n`` samples at GPNN's published settings, scored as ``ttq.quality`` scores start 0."""
    import torch

    from singan_augment import metrics

    shape = finest_shape(image)
    ref = ttq.reference(image, shape)
    labels = [image.channels.index(c) for c in image.labels]
    wall0, cpu0 = time.perf_counter(), ttq.cpu_seconds()
    imgs = np.stack(
        [
            patch_nn.generate(ref, i, label_channels=labels, **GPNN, noise=noise)
            for i in tqdm(range(n), desc=f"{image.name}: patch-NN samples", leave=False)
        ]
    )
    wall, cpu = time.perf_counter() - wall0, ttq.cpu_seconds() - cpu0
    entry = {
        **ttq.sample_scores(imgs, ref),
        "wall_s_per_sample": wall / n,
        "cpu_s_per_sample": cpu / n,
    }
    if labels:
        ii = [i for i in range(len(image.channels)) if i not in labels]
        cons = [metrics.mask_consistency(x[ii], x[labels[0]]) for x in imgs]
        entry["mask_consistency"] = ttq.spread(cons)
    return {
        "settings": {**GPNN, "noise": noise},
        "samples": n,
        "shape": list(shape),
        "torch_threads": torch.get_num_threads(),
        "start0": entry,
    }


def cmd_run(args) -> int:
    from singan_augment.files.atomic import atomic_write

    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.images.split(","):
        if name not in ttq.IMAGES:
            raise SystemExit(f"unknown image {name!r}; known: {', '.join(ttq.IMAGES)}")
        res = score(ttq.IMAGES[name], args.noise, args.samples)
        res["commit"] = ttq.commit_id()
        atomic_write(result_path(name, args.noise), json.dumps(res, indent=1).encode())
        print(name, json.dumps(res["start0"]))
    return 0


def cmd_table(args) -> int:
    print(
        "| image | SWD ratio (start 0) | diversity ratio (start 0) | within the bar's start-0 "
        "numbers | CPU s per sample | wall s per sample |"
    )
    print("|---|---|---|---|---|---|")
    for path in sorted(OUT.glob("*_noise*.json")):
        res = json.loads(path.read_text())
        image = path.name.split("_noise")[0]
        q = res["start0"]
        base = json.loads((ttq.job_dir(image, "singan") / "quality.json").read_text())["start0"]
        swd, div = q["swd"] / base["swd"], q["diversity"] / base["diversity"]
        ok = swd <= 1.1 and div >= 0.8
        print(
            f"| {image} (noise {res['settings']['noise']:g}) | {swd:.2f} | {div:.2f} "
            f"| {'yes' if ok else 'no'} | {q['cpu_s_per_sample']:.1f} "
            f"| {q['wall_s_per_sample']:.1f} |"
        )
    return 0


def cmd_figure(args) -> int:
    """The training image, then ``--n`` patch-NN samples (the first of the scored ones: seeds
    0, 1, ...) above ``--n`` samples from each named schedule's pyramid at start 0 (the first
    of its scored ones), each channel stretched to the training image's range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from singan_augment.files.pyramid_files import load_pyramid

    img = ttq.IMAGES[args.image]
    names = args.schedules.split(",")
    pyrs = [load_pyramid(ttq.job_dir(args.image, name)) for name in names]
    ref = ttq.reference(img, pyrs[0].shapes[-1])
    labels = [img.channels.index(c) for c in img.labels]
    rows = {
        f"patch NN (GPNN settings), {args.cpu_s}": [
            patch_nn.generate(ref, i, label_channels=labels, **GPNN, noise=GPNN_NOISE)
            for i in tqdm(range(args.n), desc="patch-NN samples", leave=False)
        ]
    }
    for name, pyr in zip(names, pyrs):
        rows[f"{name}, start 0"] = list(ttq.draw_samples(pyr, 0).images[: args.n])
    fig, axes = plt.subplots(len(rows), 1 + args.n, figsize=(1.5 * (1 + args.n), 1.35 * len(rows)))
    for r, (label, xs) in enumerate(rows.items()):
        for c, x in enumerate([ref, *xs]):
            ttq.show_image(axes[r, c], x, ref, img)
        axes[r, 1].set_title(label, fontsize=7, loc="left")
    axes[0, 0].set_title("training image", fontsize=7)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="generate, score and save, per image")
    r.add_argument("--images", default=",".join(ttq.IMAGES))
    r.add_argument("--noise", type=float, default=GPNN_NOISE, help="[-1, 1] units")
    r.add_argument("--samples", type=int, default=ttq.N_SAMPLES)
    r.set_defaults(func=cmd_run)
    t = sub.add_parser("table", help="ratios to each image's singan, from the saved results")
    t.set_defaults(func=cmd_table)
    f = sub.add_parser("figure", help="patch-NN samples beside pyramids' start-0 samples")
    f.add_argument("--image", default="coffee")
    f.add_argument("--schedules", default="singan", help="finished time_to_quality jobs")
    f.add_argument("--n", type=int, default=4)
    f.add_argument("--cpu-s", default="", help="a label for the patch-NN row, e.g. its cost")
    f.add_argument("--out", default="docs/figures/time_to_quality_patch_nn_coffee.png")
    f.set_defaults(func=cmd_figure)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
