"""Low-data segmentation with and without SinGAN synthetic pairs (MONAI UNet, CPU-bounded).

Tasks (shipped data, ``singan_augment.data``):
  nuclei  DSB 2018 fluorescence image (512x512) with its REAL ground-truth masks, cut into
          64x64 tiles. Training pool: the 4 tiles of the top half (y < 256) with the most nuclei
          pixels; test: all 32 tiles of the bottom half (y >= 256), disjoint from training.
  brain   12 axial MNI152 slices (real T1), tissue labels CSF/GM/WM (argmax of the template's
          tissue maps), resized to 80x64. Training pool: slices 5, 8, 2, 11 (in that order);
          test: the other 8 slices. One template: test slices are other slices of the same brain.

Training sets are the first 1, 2 or 4 images of the pool. Arms, each with the same UNet, the same
number of optimiser steps and batch size:
  real        real images only
  aug         real + standard MONAI augmentation (flips, rot90, affine, intensity, noise)
  singan      real + SinGAN synthetic pairs (half of each batch drawn from synthetic pairs)
  singan+aug  both
Synthetic pairs: one image+label pyramid per training image (``fit_dataset``, cached in
--work and reused across arms and seeds), ``expand`` N samples per pyramid from --start-scale,
label channels decoded to label maps by the engine.

    python examples/train_segmentation.py               # full run (~25 min on 2 CPU cores)
    python examples/train_segmentation.py --quick       # smoke run (< 3 min)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ARMS = ("real", "aug", "singan", "singan+aug")


# ----------------------------------------------------------------------------- data


def nuclei_task() -> dict:
    from singan_augment.data import fluorescence_nuclei

    image, inst = fluorescence_nuclei()
    mask = (inst > 0).astype(np.uint8)
    t = 64
    tiles = []
    for r in range(512 // t):
        for c in range(512 // t):
            sl = (slice(r * t, (r + 1) * t), slice(c * t, (c + 1) * t))
            tiles.append((r, c, image[0][sl], mask[sl]))
    top = [x for x in tiles if x[0] < 4]
    top.sort(key=lambda x: (-x[3].mean(), x[0], x[1]))
    pool = top[:4]
    test = [x for x in tiles if x[0] >= 4]
    return {
        "name": "nuclei",
        "classes": ["nuclei"],
        "pool": [(f"tile_r{r}c{c}", im[None], lab) for r, c, im, lab in pool],
        "test": [(f"tile_r{r}c{c}", im[None], lab) for r, c, im, lab in test],
        "square": True,
        "max_size": 64,
        "split": "train pool (ranked by nuclei pixels) "
        + ", ".join(f"r{r}c{c}" for r, c, _, _ in pool)
        + "; test: all 32 tiles with r >= 4 (bottom half); tiles are 64x64 at (64r, 64c)",
    }


def brain_task() -> dict:
    from skimage.transform import resize

    from singan_augment.data import mni_slices

    m = mni_slices()
    shape = (80, 64)

    def item(i):
        img = resize(m.t1[i], shape, order=3, anti_aliasing=True, preserve_range=True)
        lab = resize(m.tissue_labels[i], shape, order=0, anti_aliasing=False, preserve_range=True)
        return (
            f"slice{i:02d}_z{int(m.z_mm[i]):+d}",
            img[None].astype(np.float32),
            lab.astype(np.uint8),
        )

    pool_idx = [5, 8, 2, 11]
    test_idx = [i for i in range(m.n_slices) if i not in pool_idx]
    return {
        "name": "brain",
        "classes": ["CSF", "GM", "WM"],
        "pool": [item(i) for i in pool_idx],
        "test": [item(i) for i in test_idx],
        "square": False,
        "max_size": 80,
        "split": f"train pool slices {pool_idx} (z mm {[int(m.z_mm[i]) for i in pool_idx]}); "
        f"test slices {test_idx}; all resized to 80x64",
    }


# ----------------------------------------------------------------------------- pyramids


def read_pairs(syn_dir: Path) -> dict[str, tuple[list, list]]:
    """The synthetic (image, label map) pairs of an ``expand`` output, by source pyramid."""
    from singan_augment.expansion.expand import read_output

    data = json.loads((syn_dir / "datalist.json").read_text())
    out: dict[str, tuple[list, list]] = {}
    for e in data["training"]:
        if e["synthetic"]:
            imgs, labs = out.setdefault(e["source_pyramid"], ([], []))
            imgs.append(np.asarray(read_output(syn_dir / e["image"]), np.float32))
            labs.append(np.asarray(read_output(syn_dir / e["label"]), np.uint8))
    return out


def synthetic_pairs(task: dict, args, work: Path) -> tuple[dict, dict]:
    """Fit (or reuse) one pyramid per pool image and expand it; returns {name: (images, labels)}
    and timing info."""
    from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig
    from singan_augment.expansion.expand import expand
    from singan_augment.expansion.fit_dataset import fit_dataset

    root = work / task["name"]
    inputs = root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, img, lab in task["pool"][: args.max_train]:
        np.save(inputs / f"{name}.npy", img)
        np.save(inputs / f"{name}_label.npy", lab)
        entries.append({"image": f"{name}.npy", "label": f"{name}_label.npy"})
    (inputs / "datalist.json").write_text(json.dumps({"training": entries}, indent=1))
    t0 = time.perf_counter()
    rep = fit_dataset(
        inputs / "datalist.json",
        root / "pyramids",
        seed=0,
        model_config=ModelConfig(nfc_init=args.nfc, nfc_max=args.nfc),
        train_config=TrainConfig(iters=args.iters),
        pyramid_config=PyramidConfig(max_size=task["max_size"]),
        progress=not args.quiet,
    )
    fit_s = time.perf_counter() - t0
    print(rep.table(f"fit-dataset {task['name']}"))
    if not rep.ok:
        raise SystemExit("pyramid training failed")
    syn_dir = root / f"synthetic_s{args.start_scale}_n{args.n_syn}"
    t0 = time.perf_counter()
    erep = expand(
        root / "pyramids",
        syn_dir,
        args.n_syn,
        fmt="npy",
        seed=0,
        start_scale=args.start_scale,
        progress=False,
    )
    exp_s = time.perf_counter() - t0
    print(erep.table(f"expand {task['name']}"))
    out = read_pairs(syn_dir)
    done = sum(r.status == "done" for r in rep.rows)
    return out, {
        "fit_s": fit_s,
        "expand_s": exp_s,
        "trained_now": done,
        "pyramids": len(rep.rows),
        "scales": len(
            json.loads((root / "pyramids" / rep.rows[0].name / "pyramid.json").read_text())[
                "shapes"
            ]
        ),
    }


# ----------------------------------------------------------------------------- training


def make_aug(task: dict, seed: int):
    from monai.transforms import (
        Compose,
        RandAffined,
        RandFlipd,
        RandGaussianNoised,
        RandRotate90d,
        RandScaleIntensityd,
        RandShiftIntensityd,
    )

    keys = ["image", "label"]
    ts = [RandFlipd(keys, prob=0.5, spatial_axis=1)]
    if task["square"]:  # rot90 / vertical flips only where they keep the shape and anatomy
        ts += [RandFlipd(keys, prob=0.5, spatial_axis=0), RandRotate90d(keys, prob=0.5)]
    ts += [
        RandAffined(
            keys,
            prob=0.5,
            rotate_range=0.26,
            scale_range=0.1,
            translate_range=4,
            mode=("bilinear", "nearest"),
            padding_mode="zeros",
        ),
        RandScaleIntensityd("image", factors=0.15, prob=0.5),
        RandShiftIntensityd("image", offsets=0.1, prob=0.5),
        RandGaussianNoised("image", prob=0.3, std=0.02),
    ]
    c = Compose(ts)
    c.set_random_state(seed)
    return c


def dice_scores(pred: np.ndarray, gt: np.ndarray, n_cls: int) -> list[float]:
    out = []
    for k in range(1, n_cls + 1):
        p, g = pred == k, gt == k
        denom = p.sum() + g.sum()
        out.append(float(2 * (p & g).sum() / denom) if denom else 1.0)
    return out


def train_eval(task, real, syn, arm, seed, args) -> list[float]:
    import torch
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_cls = len(task["classes"])
    model = UNet(2, 1, n_cls + 1, channels=(16, 32, 64), strides=(2, 2), num_res_units=1)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    aug = make_aug(task, seed) if "aug" in arm else None
    use_syn = "singan" in arm and len(syn[0]) > 0
    model.train()
    for _ in range(args.steps):
        xs, ys = [], []
        for _ in range(args.batch):
            if use_syn and rng.random() < args.syn_fraction:
                j = rng.integers(len(syn[0]))
                img, lab = syn[0][j], syn[1][j]
            else:
                j = rng.integers(len(real[0]))
                img, lab = real[0][j], real[1][j]
            d = {"image": img.astype(np.float32), "label": lab[None].astype(np.float32)}
            if aug is not None:
                d = aug(d)
            xs.append(torch.as_tensor(np.asarray(d["image"]), dtype=torch.float32))
            ys.append(torch.as_tensor(np.asarray(d["label"]), dtype=torch.float32))
        x, y = torch.stack(xs), torch.stack(ys)
        opt.zero_grad()
        loss = loss_fn(model(x), y.round())
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        x = torch.as_tensor(np.stack([t[1] for t in task["test"]]))
        pred = model(x).argmax(1).numpy()
    gt = np.stack([t[2] for t in task["test"]])
    return dice_scores(pred, gt, n_cls)


# ----------------------------------------------------------------------------- main


def run(args) -> dict:
    import torch

    from singan_augment.expansion.sources import safe_name

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    tasks = {"nuclei": nuclei_task, "brain": brain_task}
    results: dict = {"args": vars(args), "tasks": {}}
    for tname in args.tasks:
        task = tasks[tname]()
        syn_by_name, timing = synthetic_pairs(task, args, work)
        tres = {"split": task["split"], "timing": timing, "classes": task["classes"], "rows": []}
        for k in args.n_train:
            chosen = task["pool"][:k]
            real = ([t[1] for t in chosen], [t[2] for t in chosen])
            syn_i, syn_l = [], []
            for name, _, _ in chosen:
                # pyramid folders carry the sanitised name (e.g. "z+4" -> "z_4")
                si, sl = syn_by_name[safe_name(name)]
                syn_i += si
                syn_l += sl
            for arm in args.arms:
                scores = []
                for seed in args.seeds:
                    t0 = time.perf_counter()
                    d = train_eval(task, real, (syn_i, syn_l), arm, seed, args)
                    scores.append(float(np.mean(d)))
                    print(
                        f"{tname} n={k} {arm:<10} seed {seed}: dice {np.mean(d):.4f} "
                        f"{[round(v, 3) for v in d]} ({time.perf_counter() - t0:.1f} s)",
                        flush=True,
                    )
                tres["rows"].append(
                    {
                        "n_train": k,
                        "arm": arm,
                        "dice": scores,
                        "mean": float(np.mean(scores)),
                        "std": float(np.std(scores)),
                        "n_synthetic": len(syn_i) if "singan" in arm else 0,
                    }
                )
        results["tasks"][tname] = tres
    return results


def table(results: dict) -> str:
    lines = []
    for tname, t in results["tasks"].items():
        lines.append(
            f"\n**{tname}** (Dice, mean ± std over seeds; classes {', '.join(t['classes'])})\n"
        )
        arms = list(dict.fromkeys(r["arm"] for r in t["rows"]))
        ns = sorted({r["n_train"] for r in t["rows"]})
        lines.append("| real images | " + " | ".join(arms) + " |")
        lines.append("|---|" + "---|" * len(arms))
        for n in ns:
            cells = []
            for a in arms:
                r = next(r for r in t["rows"] if r["n_train"] == n and r["arm"] == a)
                cells.append(f"{r['mean']:.3f} ± {r['std']:.3f}")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: nuclei, 1 image, 1 seed, tiny budgets"
    )
    p.add_argument("--tasks", nargs="+", default=["nuclei", "brain"], choices=["nuclei", "brain"])
    p.add_argument("--n-train", nargs="+", type=int, default=[1, 2, 4])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=200, help="optimiser steps per run (all arms)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument(
        "--syn-fraction", type=float, default=0.5, help="share of synthetic items per batch"
    )
    p.add_argument("--iters", type=int, default=150, help="SinGAN iterations per scale")
    p.add_argument("--nfc", type=int, default=16, help="SinGAN width (all scales)")
    p.add_argument("--n-syn", type=int, default=16, help="synthetic pairs per pyramid")
    p.add_argument("--start-scale", type=int, default=1)
    p.add_argument("--work", default="runs/segmentation", help="pyramid/synthetic cache")
    p.add_argument("--out", default="runs/segmentation/results.json")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.tasks, args.n_train, args.seeds = ["nuclei"], [1], [0]
        args.steps, args.iters, args.n_syn = 40, 10, 8
        args.work = str(Path(args.work) / "quick")
        args.out = str(Path(args.work) / "results.json")
    args.max_train = max(args.n_train)
    t0 = time.perf_counter()
    res = run(args)
    res["wall_s"] = time.perf_counter() - t0
    res["command"] = "python examples/train_segmentation.py " + " ".join(argv or sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(table(res))
    for tname, t in res["tasks"].items():
        tm = t["timing"]
        if tm["trained_now"]:
            print(
                f"{tname}: {tm['trained_now']} pyramids ({tm['scales']} scales, {args.iters} iters, "
                f"nfc {args.nfc}) in {tm['fit_s']:.0f} s = {3600 * tm['trained_now'] / tm['fit_s']:.1f} pyramids/hour"
            )
    print(f"total {res['wall_s']:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.exit(main())
