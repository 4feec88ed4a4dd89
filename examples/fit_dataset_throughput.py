"""Project fit-dataset throughput (pyramids/hour) at the published default settings.

A full default pyramid (2000 iterations per scale, 250 px) takes hours on a small CPU, so this
measures seconds per iteration at every scale of one image over a few iterations (the first,
compiling iteration excluded) and projects 2000 iterations per scale. It is a projection, not
a measured throughput; the measured figure at reduced settings comes from
``examples/train_segmentation.py`` (which times ``fit_dataset``).

    python examples/fit_dataset_throughput.py [--iters 3] [--image he]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--iters", type=int, default=3, help="measured iterations per scale (>= 2)")
    p.add_argument("--image", choices=["he", "brain"], default="he")
    p.add_argument("--out", default="runs/throughput.json")
    args = p.parse_args(argv)

    from singan_augment.engine.channels import one_hot
    from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig
    from singan_augment.engine.fit import fit_many, init_pyramid

    if args.image == "he":
        from singan_augment.data import histology

        img, mask, _ = histology("he")
        image = np.concatenate([img, mask[None].astype(np.float32)])
        names, labels = ["r", "g", "b", "nuclei"], ["nuclei"]
    else:
        from singan_augment.data import mni_slices

        m = mni_slices()
        image = np.concatenate([m.t1[4][None], one_hot(m.tissue_labels[4], 3)])
        names, labels = ["t1", "csf", "gm", "wm"], ["csf", "gm", "wm"]
    default = TrainConfig()
    tcfg = replace(default, iters=args.iters)
    pyr = init_pyramid(
        image,
        0,
        channel_names=names,
        label_channels=labels,
        model_config=ModelConfig(),
        train_config=tcfg,
        pyramid_config=PyramidConfig(),
    )
    rows = []
    t_scale = [time.perf_counter()]

    def on_done(pyrs, n, summaries):
        now = time.perf_counter()
        h, w = pyrs[0].shapes[n]
        rows.append(
            {
                "scale": n,
                "size": f"{h}x{w}",
                "nfc": pyrs[0].model_config.nfc(n),
                "s_per_iter": summaries[0]["s_per_iter"],
                "wall_s": now - t_scale[-1],
            }
        )
        t_scale.append(now)
        print(rows[-1], flush=True)

    fit_many([pyr], on_scale_done=on_done, progress=False)
    per_scale = [r["s_per_iter"] * default.iters for r in rows]
    overhead = sum(r["wall_s"] - r["s_per_iter"] * args.iters for r in rows)  # compile etc.
    total = sum(per_scale) + overhead
    res = {
        "image": f"{args.image} {image.shape}",
        "shapes": [list(s) for s in pyr.shapes],
        "measured_iters_per_scale": args.iters,
        "rows": rows,
        "projected_s_per_pyramid": total,
        "projected_pyramids_per_hour": 3600 / total,
        "compile_overhead_s": overhead,
    }
    print(f"{'scale':>5} {'size':>9} {'nfc':>4} {'s/iter':>8} {'proj. 2000 it (s)':>18}")
    for r, s in zip(rows, per_scale):
        print(f"{r['scale']:>5} {r['size']:>9} {r['nfc']:>4} {r['s_per_iter']:>8.3f} {s:>18.0f}")
    print(
        f"projected: {total / 3600:.2f} h per pyramid = {3600 / total:.3f} pyramids/hour "
        f"(PROJECTION from {args.iters} iterations per scale)"
    )
    from pathlib import Path

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
