"""The pre-registered downstream study (docs/results.md section 1b, committed before it ran).

Does SinGAN expansion help a small MONAI UNet when only 1, 2 or 4 labelled images exist, and
does it beat a training-free patch-nearest-neighbour generator? Same tasks, splits, UNet and
optimiser as ``examples/train_segmentation.py`` (section 1), with what that first study lacked:

* settings chosen on validation only: SinGAN's start scale in {0, 1, 2} and patch-NN's
  coarsest noise in {0.5, 0.75, 1.0}, each by the highest mean validation Dice (train on pool
  images 1-2, validate on pool images 3-4; a tie within 0.005 goes to the smaller value), then
  frozen; the test split is scored once, in the final phase;
* generator variance in the error bars: 3 UNet seeds x 2 generator seeds (two pyramids per
  image, seeds 0 and 1; two patch-NN sample sets);
* image+label pyramids at the published widths, max side = the image (64 px nuclei, 80 px
  brain), 16 pairs per pyramid; 16 patch-NN pairs per image. ``--schedule`` names the
  training schedule: ``fast`` (the default: the engine's ``fast`` as it is now, the rerun of
  the amendment of 2026-12-02) or ``decay500p05`` (the provisional ``fast`` the first run
  used: 500 iterations at the coarsest scale, falling with the square root of the area, at
  least 100). Each schedule has its own work folder, results file and figures;
* five arms: real, real + MONAI augmentation, real + SinGAN, real + SinGAN + MONAI
  augmentation, real + patch-NN (``examples/patch_nn.py``).

Every UNet run is cached in ``--work/runs.json`` (written atomically after each run), so a
stopped study resumes where it stopped; pyramids are cached by ``fit_dataset`` itself.

    python examples/downstream_study.py            # the study with fast (hours on 2 CPU cores)
    python examples/downstream_study.py --schedule decay500p05   # the first run (section 1c)
    python examples/downstream_study.py --quick    # smoke run of every phase (minutes)
    python examples/downstream_study.py --report   # table + figure from the results file
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import patch_nn  # noqa: E402
import train_segmentation as seg  # noqa: E402

ARMS = ("real", "aug", "singan", "singan+aug", "patchnn")
START_SCALES = (0, 1, 2)
PATCH_NOISES = (0.5, 0.75, 1.0)
GEN_SEEDS = (0, 1)
UNET_SEEDS = (0, 1, 2)
N_TRAIN = (1, 2, 4)
TIE = 0.005
FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


# ----------------------------------------------------------------------------- generators

# The study's schedules: where each one's results live (docs/results.md sections 1c and 1d).
OUTPUTS = {
    "decay500p05": ("runs/downstream_study", "docs/downstream_study.json", "downstream_study"),
    "fast": (
        "runs/downstream_study_fast",
        "docs/downstream_study_fast.json",
        "downstream_study_fast",
    ),
}


def study_schedule(name: str):
    """The ``TrainConfig`` of a study schedule: ``fast`` is the engine's ``fast`` as it is
    now; ``decay500p05`` is the provisional ``fast`` the protocol's first run pinned."""
    from singan_augment.engine.config import TrainConfig
    from singan_augment.engine.schedules import schedule

    if name == "decay500p05":
        return TrainConfig(iters=500, iters_decay=0.5, iters_min=100)
    return schedule(name)


def pyramids(task: dict, seed: int, args) -> Path:
    """One image+label pyramid per pool image (generator seed ``seed``), cached."""
    from singan_augment.engine.config import ModelConfig, PyramidConfig
    from singan_augment.expansion.fit_dataset import fit_dataset

    root = Path(args.work) / task["name"]
    inputs = root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, img, lab in task["pool"]:
        np.save(inputs / f"{name}.npy", img)
        np.save(inputs / f"{name}_label.npy", lab)
        entries.append({"image": f"{name}.npy", "label": f"{name}_label.npy"})
    (inputs / "datalist.json").write_text(json.dumps({"training": entries}, indent=1))
    tcfg = study_schedule(args.schedule)
    mcfg = ModelConfig()
    if args.quick:
        tcfg = dataclasses.replace(tcfg, iters=4, iters_min=2)
        mcfg = ModelConfig(nfc_init=8, nfc_max=8)
    out = root / f"pyramids_g{seed}"
    t0 = time.perf_counter()
    rep = fit_dataset(
        inputs / "datalist.json",
        out,
        seed=seed,
        model_config=mcfg,
        train_config=tcfg,
        pyramid_config=PyramidConfig(max_size=task["max_size"]),
        progress=not args.quiet,
    )
    if not rep.ok:
        raise SystemExit(rep.table(f"fit-dataset {task['name']} seed {seed}"))
    trained = sum(r.status == "done" for r in rep.rows)
    if trained:
        print(f"{task['name']} g{seed}: {trained} pyramids in {time.perf_counter() - t0:.0f} s")
    return out


def singan_pairs(task: dict, seed: int, start: int, args) -> dict[str, tuple[list, list]]:
    """``args.n_syn`` (image, label map) pairs per pool image from its seed-``seed`` pyramid."""
    from singan_augment.expansion.expand import expand
    from singan_augment.expansion.sources import safe_name

    pyr_dir = pyramids(task, seed, args)
    syn_dir = Path(args.work) / task["name"] / f"singan_g{seed}_s{start}_n{args.n_syn}"
    rep = expand(
        pyr_dir, syn_dir, args.n_syn, fmt="npy", seed=seed, start_scale=start, progress=False
    )
    if not rep.ok:
        raise SystemExit(rep.table(f"expand {task['name']}"))
    by_pyr = seg.read_pairs(syn_dir)
    return {name: by_pyr[safe_name(name)] for name, _, _ in task["pool"]}


def patchnn_pairs(task: dict, seed: int, noise: float, args) -> dict[str, tuple[list, list]]:
    """``args.n_syn`` patch-NN pairs per pool image: the image (scaled to [0, 1] by its own
    range, and back) with its one-hot label channels carried along."""
    n_cls = len(task["classes"])
    out = {}
    for i, (name, img, lab) in enumerate(task["pool"]):
        lo, hi = float(img.min()), float(img.max())
        x = (img - lo) / max(hi - lo, 1e-12)
        hot = np.stack([(lab == k).astype(np.float32) for k in range(1, n_cls + 1)])
        stacked = np.concatenate([x, hot]).astype(np.float32)
        labels = list(range(img.shape[0], stacked.shape[0]))
        imgs, labs = [], []
        for j in range(args.n_syn):
            s = patch_nn.generate(
                stacked, 100_000 * seed + 1000 * i + j, label_channels=labels, noise=noise
            )
            imgs.append((s[: img.shape[0]] * (hi - lo) + lo).astype(np.float32))
            fg = s[labels].max(axis=0) > 0.5
            labs.append(np.where(fg, s[labels].argmax(axis=0) + 1, 0).astype(np.uint8))
        out[name] = (imgs, labs)
    return out


# ----------------------------------------------------------------------------- runs


def write_atomic(path: Path, data) -> None:
    from singan_augment.files.atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1).encode())


class Cache:
    """UNet results by key, written atomically after every run."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str):
        return self.data.get(key)

    def put(self, key: str, value) -> None:
        self.data[key] = value
        write_atomic(self.path, self.data)


def unet_run(cache: Cache, key: str, task, real, syn, arm: str, seed: int, args) -> float:
    """Mean foreground Dice of one UNet run on ``task["test"]`` (cached under ``key``)."""
    hit = cache.get(key)
    if hit is not None:
        return hit["dice"]
    t0 = time.perf_counter()
    # train_segmentation's loop takes synthetic pairs for arms named "singan..."
    loop_arm = {"patchnn": "singan"}.get(arm, arm)
    per_class = seg.train_eval(task, real, syn, loop_arm, seed, args)
    dice = float(np.mean(per_class))
    cache.put(key, {"dice": dice, "per_class": per_class, "s": time.perf_counter() - t0})
    print(f"{key}: dice {dice:.4f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return dice


def pool_pairs(by_name: dict, names) -> tuple[list, list]:
    imgs, labs = [], []
    for n in names:
        imgs += by_name[n][0]
        labs += by_name[n][1]
    return imgs, labs


def choose(means: dict) -> object:
    """The setting with the highest mean; ties within ``TIE`` go to the smallest setting."""
    best = max(means.values())
    return min(k for k, v in means.items() if v >= best - TIE)


def validate(task: dict, cache: Cache, args) -> dict:
    """Choose SinGAN's start scale and patch-NN's noise on the validation split."""
    val_task = dict(task, test=task["pool"][2:4])
    train = task["pool"][:2]
    names = [t[0] for t in train]
    real = ([t[1] for t in train], [t[2] for t in train])
    makers = {
        "singan": (START_SCALES, "s", lambda g, v: singan_pairs(task, g, v, args)),
        "patchnn": (PATCH_NOISES, "n", lambda g, v: patchnn_pairs(task, g, v, args)),
    }
    out: dict = {}
    for arm, (values, tag, make) in makers.items():
        out[arm] = {}
        for v in values:
            scores = []
            for g in GEN_SEEDS:
                syn = pool_pairs(make(g, v), names)
                for u in UNET_SEEDS:
                    key = f"val/{task['name']}/{arm}/{tag}{v}/g{g}/u{u}"
                    scores.append(unet_run(cache, key, val_task, real, syn, arm, u, args))
            out[arm][v] = float(np.mean(scores))
    out["chosen"] = {"start_scale": choose(out["singan"]), "noise": choose(out["patchnn"])}
    return out


def test_phase(task: dict, chosen: dict, cache: Cache, args) -> list[dict]:
    rows = []
    gens = {
        "singan": lambda g: singan_pairs(task, g, chosen["start_scale"], args),
        "patchnn": lambda g: patchnn_pairs(task, g, chosen["noise"], args),
    }
    made = {(kind, g): gens[kind](g) for kind in gens for g in GEN_SEEDS}
    for n in N_TRAIN:
        chosen_imgs = task["pool"][:n]
        names = [t[0] for t in chosen_imgs]
        real = ([t[1] for t in chosen_imgs], [t[2] for t in chosen_imgs])
        for arm in ARMS:
            kind = "patchnn" if arm == "patchnn" else "singan" if "singan" in arm else None
            runs = []
            for g in GEN_SEEDS if kind else (None,):
                syn = pool_pairs(made[(kind, g)], names) if kind else ([], [])
                for u in UNET_SEEDS:
                    key = f"test/{task['name']}/n{n}/{arm}/g{g}/u{u}"
                    runs.append(
                        {
                            "g": g,
                            "u": u,
                            "dice": unet_run(cache, key, task, real, syn, arm, u, args),
                        }
                    )
            dice = [r["dice"] for r in runs]
            rows.append(
                {
                    "n_train": n,
                    "arm": arm,
                    "runs": runs,
                    "mean": float(np.mean(dice)),
                    "std": float(np.std(dice)),
                    "std_over_generator_seeds": float(
                        np.std(
                            [np.mean([r["dice"] for r in runs if r["g"] == g]) for g in GEN_SEEDS]
                        )
                    )
                    if kind
                    else None,
                }
            )
    return rows


# ----------------------------------------------------------------------------- report


def table(results: dict) -> str:
    lines = []
    for tname, t in results["tasks"].items():
        v = t["validation"]
        lines.append(f"\n**{tname}** validation (mean Dice over 6 runs; pool 1-2 train, 3-4 val):")
        lines.append(
            "  SinGAN start scale: "
            + ", ".join(f"{k}: {x:.3f}" for k, x in v["singan"].items())
            + f" -> {v['chosen']['start_scale']}"
        )
        lines.append(
            "  patch-NN noise: "
            + ", ".join(f"{k}: {x:.3f}" for k, x in v["patchnn"].items())
            + f" -> {v['chosen']['noise']}"
        )
        lines.append(f"\n**{tname}** test (Dice, mean ± std over all runs of an arm)\n")
        lines.append("| real images | " + " | ".join(ARMS) + " |")
        lines.append("|---|" + "---|" * len(ARMS))
        for n in N_TRAIN:
            cells = []
            for a in ARMS:
                r = next(r for r in t["rows"] if r["n_train"] == n and r["arm"] == a)
                g = r["std_over_generator_seeds"]
                cells.append(
                    f"{r['mean']:.3f} ± {r['std']:.3f}"
                    + (f" (gen. {g:.3f})" if g is not None else "")
                )
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results["tasks"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4), squeeze=False)
    for ax, tname in zip(axes[0], tasks):
        rows = results["tasks"][tname]["rows"]
        for i, arm in enumerate(ARMS):
            rs = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["n_train"])
            x = np.array([r["n_train"] for r in rs]) * (1 + 0.03 * (i - 2))
            ax.errorbar(
                x, [r["mean"] for r in rs], yerr=[r["std"] for r in rs], marker="o", capsize=3,
                label=arm,
            )  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(N_TRAIN, [str(n) for n in N_TRAIN])
        ax.set_xlabel("real training images")
        ax.set_ylabel("test Dice (mean over classes)")
        ax.set_title(tname)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        f"Pre-registered study (docs/results.md 1b), schedule "
        f"{results.get('schedule', 'decay500p05')}; ± = std over 3 UNet x 2 generator seeds",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def samples_figure(results: dict, args, path: Path) -> None:
    """Per task, for the first pool image: the real pair, 3 SinGAN pairs (generator seed 0,
    the chosen start scale) and 3 patch-NN pairs (seed 0, the chosen noise); label maps below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = {"nuclei": seg.nuclei_task, "brain": seg.brain_task}
    names = list(results["tasks"])
    k = min(3, args.n_syn)
    fig, axes = plt.subplots(
        2 * len(names), 1 + 2 * k, figsize=(1.7 * (1 + 2 * k), 3.6 * len(names)), squeeze=False
    )
    for t, tname in enumerate(names):
        task = tasks[tname]()
        chosen = results["tasks"][tname]["validation"]["chosen"]
        name, img, lab = task["pool"][0]
        sg = singan_pairs(task, 0, int(chosen["start_scale"]), args)[name]
        pn = patchnn_pairs(dict(task, pool=task["pool"][:1]), 0, float(chosen["noise"]), args)[name]
        cols = [("real", img, lab)]
        cols += [(f"SinGAN s{chosen['start_scale']}", sg[0][j], sg[1][j]) for j in range(k)]
        cols += [(f"patch-NN {chosen['noise']}", pn[0][j], pn[1][j]) for j in range(k)]
        lo, hi = float(img.min()), float(img.max())
        for c, (title, im, lb) in enumerate(cols):
            a, b = axes[2 * t][c], axes[2 * t + 1][c]
            a.imshow(np.asarray(im)[0], cmap="gray", vmin=lo, vmax=hi)
            b.imshow(np.asarray(lb), cmap="viridis", vmin=0, vmax=len(task["classes"]))
            a.set_title(f"{tname}: {title}" if c == 0 else title, fontsize=8)
            for ax in (a, b):
                ax.set_xticks([])
                ax.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke run: tiny budgets, nuclei only")
    p.add_argument("--tasks", nargs="+", default=["nuclei", "brain"], choices=["nuclei", "brain"])
    p.add_argument("--schedule", default="fast", choices=sorted(OUTPUTS))
    p.add_argument("--work", help="cache folder (default: one per schedule, under runs/)")
    p.add_argument("--out", help="results file (default: one per schedule, under docs/)")
    p.add_argument("--report", action="store_true", help="only print the table and figure")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    # fixed by the protocol (section 1's UNet settings)
    args.steps, args.batch, args.lr, args.syn_fraction, args.n_syn = 200, 8, 2e-3, 0.5, 16
    work, out, stem = OUTPUTS[args.schedule]
    args.work, args.out = args.work or work, args.out or out
    fig_path = FIGURES / f"{stem}.png"
    if args.quick:
        args.tasks, args.steps, args.n_syn = ["nuclei"], 4, 2
        args.work = str(Path(args.work) / "quick")
        args.out = str(Path(args.work) / "results.json")
        fig_path = Path(args.work) / "downstream_study.png"
    if args.report:
        res = json.loads(Path(args.out).read_text())
    else:
        import torch

        torch.set_num_threads(args.threads)
        cache = Cache(Path(args.work) / "runs.json")
        t0 = time.perf_counter()
        res = {"protocol": "docs/results.md section 1b", "schedule": args.schedule, "tasks": {}}
        tasks = {"nuclei": seg.nuclei_task, "brain": seg.brain_task}
        for tname in args.tasks:
            task = tasks[tname]()
            val = validate(task, cache, args)
            print(f"{tname}: chosen on validation {val['chosen']}", flush=True)
            rows = test_phase(task, val["chosen"], cache, args)
            res["tasks"][tname] = {"split": task["split"], "validation": val, "rows": rows}
            res["wall_s"] = time.perf_counter() - t0
            write_atomic(Path(args.out), res)  # after each task: a finished task is kept
    figure(res, fig_path)
    samples_figure(res, args, fig_path.with_name(f"{fig_path.stem}_samples.png"))
    print(table(res))
    print(f"figure: {fig_path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.exit(main())
