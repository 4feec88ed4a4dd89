"""``fit_many`` on K same-sized images (one vmapped iteration) vs K sequential ``fit`` calls.

Small images (crops of skimage ``coffee``, 40x52 -> a few scales) and a few iterations per
scale. Reports wall time (compilation included) and the steady-state throughput in
image-iterations per second, summed over scales, from the trainers' own timing.

    python benchmarks/multi_image.py [--k 4] [--iters 10] [--impl xla]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from singan_augment.config import ModelConfig, PyramidConfig, TrainConfig
from singan_augment.fit import fit, fit_many, init_pyramid


def images(k: int, h: int, w: int) -> list[np.ndarray]:
    from skimage import data, transform

    img = data.coffee().astype(np.float32) / 255.0
    out = []
    for i in range(k):
        y0, x0 = 40 * i, 60 * i
        crop = img[y0 : y0 + 300, x0 : x0 + 390]
        out.append(np.moveaxis(transform.resize(crop, (h, w), anti_aliasing=True), -1, 0))
    return [o.astype(np.float32) for o in out]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--impl", default="xla")
    ap.add_argument("--size", default="40x52")
    args = ap.parse_args(argv)
    h, w = (int(s) for s in args.size.split("x"))
    mcfg = ModelConfig(conv_impl=args.impl)
    tcfg = TrainConfig(iters=args.iters)
    pcfg = PyramidConfig(max_size=max(h, w))
    imgs = images(args.k, h, w)
    kw = dict(model_config=mcfg, train_config=tcfg, pyramid_config=pcfg)

    seq_s_per_iter = []
    t0 = time.perf_counter()
    for i, img in enumerate(imgs):
        sums = []
        fit(
            img,
            seed=i,
            progress=False,
            on_scale_done=lambda p, n, s, acc=sums: acc.append(s[0]),
            **kw,
        )
        seq_s_per_iter.append(sum(s["s_per_iter"] for s in sums))
    seq_wall = time.perf_counter() - t0

    batch_sums = []
    pyrs = [init_pyramid(img, seed=i, **kw) for i, img in enumerate(imgs)]
    t0 = time.perf_counter()
    fit_many(pyrs, progress=False, on_scale_done=lambda p, n, s: batch_sums.append(s[0]))
    many_wall = time.perf_counter() - t0
    many_s_per_iter = sum(s["s_per_iter"] for s in batch_sums)

    k = args.k
    n_scales = len(batch_sums)
    seq_tp = k / sum(seq_s_per_iter)  # image-iterations/s over the whole pyramid
    many_tp = k / many_s_per_iter
    print(
        f"# K={k} images {h}x{w}x3, {n_scales} scales, {args.iters} iters/scale, impl {args.impl}"
    )
    print(
        "| mode | wall s (incl. compile) | s per iteration, all scales summed | image-iters/s | gain |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {k} x fit | {seq_wall:.1f} | {sum(seq_s_per_iter) / k:.4f} per image | {seq_tp:.2f} | 1.00x |"
    )
    print(
        f"| fit_many K={k} | {many_wall:.1f} | {many_s_per_iter:.4f} for {k} images | "
        f"{many_tp:.2f} | {many_tp / seq_tp:.2f}x |"
    )


if __name__ == "__main__":
    main()
