"""``fit_many`` on K same-sized images (one vmapped iteration) vs K sequential ``fit`` calls.

Small images (crops of skimage ``coffee``, 40x52 -> a few scales) and a few iterations per
scale. Reports wall time (compilation included: every ``fit`` and every scale compiles its
own iteration) and, separately, the steady-state throughput in pyramid-iterations per second
(one iteration at every scale), from the trainers' own timing, which starts after the first
(compiling) iteration of each scale. The two modes alternate for ``--rounds`` rounds (order
swapped every round); medians are reported.

    python benchmarks/multi_image.py [--k 4] [--iters 10] [--impl auto] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig
from singan_augment.engine.fit import fit, fit_many, init_pyramid


def images(k: int, h: int, w: int) -> list[np.ndarray]:
    from skimage import data, transform

    img = data.coffee().astype(np.float32) / 255.0
    out = []
    for i in range(k):
        y0, x0 = 40 * i, 60 * i
        crop = img[y0 : y0 + 300, x0 : x0 + 390]
        out.append(np.moveaxis(transform.resize(crop, (h, w), anti_aliasing=True), -1, 0))
    return [o.astype(np.float32) for o in out]


def run_sequential(imgs, kw) -> tuple[float, float]:
    """K ``fit`` calls: (wall s, steady-state s per iteration summed over scales and images)."""
    s_per_iter = 0.0
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
        s_per_iter += sum(s["s_per_iter"] for s in sums)
    return time.perf_counter() - t0, s_per_iter


def run_many(imgs, kw) -> tuple[float, float, int]:
    """One ``fit_many`` call: (wall s, steady-state s per vmapped iteration summed over scales,
    number of scales). Pyramid initialisation is outside the timing (``fit`` includes it, but it
    is milliseconds)."""
    sums = []
    pyrs = [init_pyramid(img, seed=i, **kw) for i, img in enumerate(imgs)]
    t0 = time.perf_counter()
    fit_many(pyrs, progress=False, on_scale_done=lambda p, n, s: sums.append(s[0]))
    return time.perf_counter() - t0, sum(s["s_per_iter"] for s in sums), len(sums)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--impl", default="auto")
    ap.add_argument("--size", default="40x52")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    h, w = (int(s) for s in args.size.split("x"))
    mcfg = ModelConfig(conv_impl=args.impl)
    tcfg = TrainConfig(iters=args.iters)
    pcfg = PyramidConfig(max_size=max(h, w))
    imgs = images(args.k, h, w)
    kw = dict(model_config=mcfg, train_config=tcfg, pyramid_config=pcfg)
    k = args.k

    seq_wall, seq_it, many_wall, many_it = [], [], [], []
    n_scales = 0
    for r in range(args.rounds):
        for mode in ("seq", "many") if r % 2 == 0 else ("many", "seq"):
            if mode == "seq":
                wall, it = run_sequential(imgs, kw)
                seq_wall.append(wall)
                seq_it.append(it)
            else:
                wall, it, n_scales = run_many(imgs, kw)
                many_wall.append(wall)
                many_it.append(it)
    med = statistics.median
    seq_tp = k / med(seq_it)  # pyramid-iterations (all scales) per second
    many_tp = k / med(many_it)
    print(
        f"# K={k} images {h}x{w}x3, {n_scales} scales, {args.iters} iters/scale, "
        f"impl {args.impl}, {args.rounds} interleaved rounds (medians)"
    )
    print(
        "| mode | wall s (incl. compile) | steady s/iteration, all scales summed "
        "| pyramid-iters/s | gain |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {k} x fit | {med(seq_wall):.1f} | {med(seq_it) / k:.4f} per image "
        f"({med(seq_it):.4f} for {k}) | {seq_tp:.2f} | 1.00x |"
    )
    print(
        f"| fit_many K={k} | {med(many_wall):.1f} | {med(many_it):.4f} for {k} images | "
        f"{many_tp:.2f} | {many_tp / seq_tp:.2f}x |"
    )
    print(f"# per round: seq wall {seq_wall}, many wall {many_wall}")


if __name__ == "__main__":
    main()
