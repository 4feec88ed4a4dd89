"""``singan-augment demo``: the method's three medical use cases on the shipped pyramids.

1. Multi-contrast MRI (T1 + simulated T2w/FLAIR): samples from start scales 0-3.
2. Histology image + nuclei mask: pairs from scale 0, masks decoded to label maps.
3. Tumour insertion: naive paste vs harmonization at injection scales 1..N-1.

Each writes a PNG figure into ``--out`` and prints its quality figures. ``--quick`` draws
fewer samples and keeps to the scales the method's medical study uses: start scales 0 and 1,
injection scales 2 and 3.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _real(pyr) -> np.ndarray:
    return pyr.channels.denormalise(np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0))


def multicontrast(out: Path, n_per_scale: int, start_scales: range = range(4)) -> dict:
    from singan_augment import metrics, pretrained
    from singan_augment.engine.sample import sample

    pyr = pretrained.load("brain_t1_t2_flair")
    real = _real(pyr)
    scales = [k for k in start_scales if k < pyr.num_scales]
    plt = _plt()
    rows = 1 + len(scales) * n_per_scale
    fig, axes = plt.subplots(rows, 3, figsize=(6, 2.1 * rows))
    names = pyr.channels.names
    figs = {}
    for c in range(3):
        axes[0, c].imshow(real[c], cmap="gray", vmin=0, vmax=1)
        axes[0, c].set_title(f"training: {names[c]}", fontsize=8)
    r = 1
    for k in scales:
        s = sample(pyr, 100 + k, max(n_per_scale, 4), start_scale=k).images
        figs[f"start_scale_{k}"] = {
            "swd": round(metrics.sliced_wasserstein(s, real), 4),
            "diversity": round(metrics.diversity(s, real), 4),
        }
        for i in range(n_per_scale):
            for c in range(3):
                axes[r, c].imshow(s[i, c], cmap="gray", vmin=0, vmax=1)
                axes[r, c].set_title(f"start scale {k}, sample {i}: {names[c]}", fontsize=7)
            r += 1
    for a in axes.ravel():
        a.axis("off")
    fig.tight_layout()
    fig.savefig(out / "multicontrast_mri.png", dpi=110)
    plt.close(fig)
    return figs


def histology_pairs(out: Path, n: int) -> dict:
    from skimage.segmentation import find_boundaries

    from singan_augment import metrics, pretrained
    from singan_augment.engine.sample import sample

    pyr = pretrained.load("histology_he_nuclei")
    real = _real(pyr)
    s = sample(pyr, 7, n, start_scale=0)
    rgb_idx = pyr.channels.image_indices
    li = pyr.channels.label_indices[0]
    plt = _plt()
    fig, axes = plt.subplots(2, n + 1, figsize=(2.2 * (n + 1), 4.6))

    def show(col, img, lab, title):
        axes[0, col].imshow(np.clip(np.moveaxis(img, 0, -1), 0, 1))
        axes[0, col].set_title(title, fontsize=8)
        over = np.clip(np.moveaxis(img, 0, -1), 0, 1).copy()
        over[find_boundaries(lab > 0)] = (0.0, 1.0, 0.0)
        axes[1, col].imshow(over)
        axes[1, col].set_title("mask outline", fontsize=8)

    show(0, real[rgb_idx], real[li] > 0.5, "training pair")
    cons = []
    for i in range(n):
        show(i + 1, s.images[i, rgb_idx], s.labels[i], f"sample {i}")
        cons.append(metrics.mask_consistency(s.images[i, rgb_idx], s.labels[i]))
    for a in axes.ravel():
        a.axis("off")
    fig.tight_layout()
    fig.savefig(out / "histology_pairs.png", dpi=110)
    plt.close(fig)
    return {
        "mask_consistency_synthetic_mean": round(float(np.mean(cons)), 4),
        "mask_consistency_real_pair": round(
            metrics.mask_consistency(real[rgb_idx], real[li] > 0.5), 4
        ),
        "swd": round(metrics.sliced_wasserstein(s.images[:, rgb_idx], real[rgb_idx]), 4),
        "diversity": round(metrics.diversity(s.images[:, rgb_idx], real[rgb_idx]), 4),
    }


def tumour_insertion(out: Path, injection_scales: range | None = None) -> dict:
    from singan_augment import data as datasets
    from singan_augment import metrics, pretrained
    from singan_augment.engine.config import BlendConfig
    from singan_augment.engine.harmonize import blend_back, inject
    from singan_augment.engine.scales import resize
    from singan_augment.tumour import make_tumour, paste_tumour

    pyr = pretrained.load("brain_healthy_tumour_host")
    host = _real(pyr)
    h, w = host.shape[1:]
    size = max(16, int(0.28 * min(h, w)))
    tum = make_tumour(3, size=size)
    _, brain = datasets.brain_multicontrast(6)
    brain = np.asarray(resize(brain[..., None].astype(np.float32), (h, w)))[..., 0] > 0.5
    comp, label, mask = paste_tumour(host, tum, (int(0.45 * h), int(0.62 * w)), within=brain)
    every = range(1, pyr.num_scales)
    scales = [s for s in (injection_scales or every) if s in every]
    blends = {"published": BlendConfig.harmonization(), "keep_core": BlendConfig.tumour()}
    results = {}
    for s in scales:
        gen = inject(pyr, comp, s, 11, 1)[0]
        for name, cfg in blends.items():
            results[name, s] = blend_back(comp, gen, mask, cfg)
    figs = {"seam_naive": round(metrics.seam_strength(comp, mask), 4)}
    for (name, s), r in results.items():
        fid = metrics.lesion_fidelity(r, comp, label)
        figs[f"seam_{name}_scale_{s}"] = round(metrics.seam_strength(r, mask), 4)
        figs[f"lesion_retention_{name}_scale_{s}"] = round(fid.mean_retention, 4)
        figs[f"lesion_sign_agreement_{name}_scale_{s}"] = round(fid.sign_agreement, 4)
    results = {s: results["keep_core", s] for s in scales}
    plt = _plt()
    cols = 2 + len(scales)
    fig, axes = plt.subplots(3, cols, figsize=(2.0 * cols, 6.6))
    panels = [("healthy host", host), ("naive paste", comp)] + [
        (f"harmonized @ scale {s}\n(lesion core kept)", results[s]) for s in scales
    ]
    for j, (title, img) in enumerate(panels):
        for c in range(3):
            axes[c, j].imshow(img[c], cmap="gray", vmin=0, vmax=1)
            axes[c, j].set_title(
                f"{title}\n{pyr.channels.names[c]}" if c == 0 else pyr.channels.names[c], fontsize=7
            )
            axes[c, j].axis("off")
    fig.tight_layout()
    fig.savefig(out / "tumour_insertion.png", dpi=110)
    plt.close(fig)
    np.save(out / "tumour_label.npy", label)
    return figs


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report = {}
    starts = range(2) if args.quick else range(4)
    print(
        "1/3 multi-contrast MRI (T1 + simulated T2w/FLAIR), samples from start scales "
        f"{starts[0]}-{starts[-1]} ..."
    )
    report["multicontrast_mri"] = multicontrast(out, 1 if args.quick else 2, starts)
    print(json.dumps(report["multicontrast_mri"], indent=1))
    print("2/3 histology image + nuclei mask pairs from scale 0 ...")
    report["histology_pairs"] = histology_pairs(out, 3 if args.quick else 5)
    print(json.dumps(report["histology_pairs"], indent=1))
    print("3/3 tumour insertion: naive paste vs harmonization at each injection scale ...")
    report["tumour_insertion"] = tumour_insertion(out, range(2, 4) if args.quick else None)
    print(json.dumps(report["tumour_insertion"], indent=1))
    (out / "demo_figures.json").write_text(json.dumps(report, indent=2))
    print(
        f"figures in {out}/ ({time.perf_counter() - t0:.0f} s): multicontrast_mri.png, histology_pairs.png, tumour_insertion.png"
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the three medical use cases on the shipped pyramids, writing figures"
    )
    p.add_argument("--out", default="demo")
    p.add_argument(
        "--quick", action="store_true", help="fewer samples; start scales 0-1, injection scales 2-3"
    )
    p.set_defaults(func=run)
