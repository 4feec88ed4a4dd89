"""Train the shipped 3-D pyramid on the shipped MNI152 volume, and write its figures and card.

    python scripts/train_pretrained_volume.py            # trains, resumes after a crash

A finished pyramid is not retrained: a rerun recomputes its quality, figure and model card.

The pyramid goes to ``pretrained/brain_mni152_volume/`` and checkpoints after every scale; a
rerun resumes from the last finished scale. Settings: ``TRAIN``, the ``fast`` schedule of the
day the shipped pyramid was trained (500 iterations at the coarsest scale, falling with the
square root of the voxel count, at least 100; ``fast`` has since changed, see
``engine/schedules.py``), pinned here so that a rerun reproduces it, and width 8
at every scale (published: 32 to 128), the reductions that make a 3-D pyramid affordable on a
2-core CPU (``benchmarks/conv3d_kernels.py`` measures the cost per iteration).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from singan_augment import data as datasets
from singan_augment.engine.config import ModelConfig, TrainConfig
from singan_augment.engine.fit import fit
from singan_augment.files.pyramid_files import load_pyramid, save_pyramid

NAME = "brain_mni152_volume"
ROOT = Path(__file__).resolve().parents[1] / "pretrained"
CHANNELS = ("t1", "t2w_sim", "flair_sim")
MODEL = ModelConfig(nfc_init=8, nfc_max=8)
# the "fast" schedule as it was when the shipped pyramid was trained (2026-11-30)
TRAIN = TrainConfig(iters=500, iters_decay=0.5, iters_min=100)


def train(out: Path, seed: int) -> tuple[object, dict, float]:
    volume, _, spacing = datasets.brain_volume()
    resume = None
    log: dict = {}
    spent = 0.0
    if (out / "pyramid.json").is_file():
        resume = load_pyramid(out, require_complete=False)
        extra = json.loads((out / "pyramid.json").read_text()).get("extra", {})
        log, spent = extra.get("train_log", {}), float(extra.get("train_seconds", 0.0))
        if resume.complete:
            return resume, log, spent
    t0 = time.perf_counter()

    def ckpt(pyrs, n, summ):
        log[str(n)] = summ[0]
        secs = spent + time.perf_counter() - t0
        save_pyramid(pyrs[0], out, extra={"train_log": log, "train_seconds": secs})

    pyr = fit(
        volume,
        seed,
        channel_names=CHANNELS,
        model_config=MODEL,
        train_config=TRAIN,
        spacing=spacing,
        provenance={"source": "singan_augment.data.brain_volume()"},
        resume=resume,
        on_scale_done=ckpt,
    )
    return pyr, log, spent + time.perf_counter() - t0


def quality(pyr, volume: np.ndarray) -> dict:
    """Reconstruction error per scale, and for 4 samples from start scales 0 and 1: volume
    patch SWD (5^3 cubes), per-plane SWD and the through-plane ratio, and diversity."""
    from singan_augment import metrics
    from singan_augment.engine.fit import reconstruction_rmse
    from singan_augment.engine.sample import sample

    kw = {"patch_size": 5, "n_patches": 2048, "n_projections": 64}
    out: dict = {"reconstruction_rmse": [round(v, 5) for v in reconstruction_rmse(pyr)]}
    for k in (0, 1):
        t0 = time.perf_counter()
        vols = sample(pyr, 100 + k, 4, start_scale=k).images
        secs = time.perf_counter() - t0
        c = metrics.plane_coherence(vols, volume, **kw)
        out[f"start_scale_{k}"] = {
            "swd_cubes": round(metrics.volume_sliced_wasserstein(vols, volume, **kw), 5),
            **{f"swd_{p}": round(getattr(c, p), 5) for p in metrics.PLANES},
            "through_plane_ratio": round(c.ratio, 3),
            "diversity": round(metrics.volume_diversity(vols, volume), 5),
            "sampling_s_per_volume": round(secs / 4, 2),
        }
    noise = np.random.default_rng(0).uniform(0, 1, volume.shape).astype(np.float32)
    out["swd_cubes_reference_noise_volume"] = round(
        metrics.volume_sliced_wasserstein(noise[None], volume, **kw), 5
    )
    return out


SLICE_PYRAMID = Path(__file__).resolve().parents[1] / "benchmarks/results/volume3d/slice2d"


def slice_stack_baseline(volume: np.ndarray, seed: int = 0) -> dict:
    """Today's behaviour for a volume, as the baseline: a 2-D pyramid (same width and
    schedule) trained on the volume's middle axial slice, sampled slice by slice (one
    independent draw per slice, as a 2-D pyramid's transforms do with ``slices="all"``), the
    slices stacked into a volume and scored like the 3-D samples. The 2-D pyramid is cached
    in ``benchmarks/results/volume3d/slice2d`` (trained once, resumed after a crash)."""
    from singan_augment import metrics
    from singan_augment.engine.sample import sample

    image = volume[:, volume.shape[1] // 2]
    resume = None
    if (SLICE_PYRAMID / "pyramid.json").is_file():
        resume = load_pyramid(SLICE_PYRAMID, require_complete=False)
    pyr = resume
    if resume is None or not resume.complete:
        pyr = fit(
            image, seed, channel_names=CHANNELS, model_config=MODEL, train_config=TRAIN,
            resume=resume, on_scale_done=lambda p, n, s: save_pyramid(p[0], SLICE_PYRAMID),
        )  # fmt: skip
    kw = {"patch_size": 5, "n_patches": 2048, "n_projections": 64}
    out = {}
    d = volume.shape[1]
    for k in (0, 1):
        vols = np.stack(
            [
                np.moveaxis(sample(pyr, 200 + 10 * k + i, d, start_scale=k).images, 0, 1)
                for i in range(4)
            ]
        )  # 4 stacks of d independent slices: (4, C, D, H, W)
        c = metrics.plane_coherence(vols, volume, **kw)
        out[f"start_scale_{k}"] = {
            "swd_cubes": round(metrics.volume_sliced_wasserstein(vols, volume, **kw), 5),
            **{f"swd_{p}": round(getattr(c, p), 5) for p in metrics.PLANES},
            "through_plane_ratio": round(c.ratio, 3),
            "diversity": round(metrics.volume_diversity(vols, volume), 5),
        }
    return out


def figure(pyr, volume: np.ndarray, path: Path) -> None:
    """Central axial, coronal and sagittal planes (T1 and FLAIR) of the real volume and of
    samples from start scales 0 and 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from singan_augment.engine.sample import sample

    rows = [("real", volume)]
    for k in (0, 1):
        vols = sample(pyr, 100 + k, 2, start_scale=k).images
        rows += [(f"start scale {k}, sample {i}", v) for i, v in enumerate(vols)]
    d, h, w = volume.shape[1:]
    cuts = [("axial", lambda v: v[:, d // 2]), ("coronal", lambda v: v[:, :, h // 2][:, ::-1]),
            ("sagittal", lambda v: v[:, :, :, w // 2][:, ::-1])]  # fmt: skip
    fig, axes = plt.subplots(len(rows), 6, figsize=(12, 2.1 * len(rows)))
    for r, (title, v) in enumerate(rows):
        for c, (plane, cut) in enumerate(cuts):
            for j, ch in enumerate((0, 2)):  # T1, FLAIR
                ax = axes[r, 2 * c + j]
                ax.imshow(cut(v)[ch], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{plane} {('T1', 'FLAIR')[j]}", fontsize=9)
            axes[r, 0].set_ylabel(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def card(pyr, q: dict, secs: float, log: dict, weights_mb: float) -> str:
    mc, tc = pyr.model_config, pyr.train_config
    rows = "\n".join(
        f"| {n} | {'x'.join(map(str, s))} | {tc.scale_iters(n, pyr.shapes)[0]} | "
        f"{log.get(str(n), {}).get('s_per_iter', float('nan')):.2f} | {float(st.amp):.4f} | "
        f"{q['reconstruction_rmse'][n]:.4f} |"
        for n, (s, st) in enumerate(zip(pyr.shapes, pyr.stages))
    )
    qrows = "\n".join(
        f"| {k} | {v['swd_cubes']:.4f} | {v['swd_axial']:.4f} | {v['swd_coronal']:.4f} | "
        f"{v['swd_sagittal']:.4f} | {v['through_plane_ratio']:.2f} | {v['diversity']:.4f} |"
        for k, v in ((k, q[f"start_scale_{k}"]) for k in (0, 1))
    )
    sp = " x ".join(f"{v:.3f}" for v in pyr.spacing)
    srows = "\n".join(
        f"| {k} | {v['swd_cubes']:.4f} | {v['swd_axial']:.4f} | {v['swd_coronal']:.4f} | "
        f"{v['swd_sagittal']:.4f} | {v['through_plane_ratio']:.2f} | {v['diversity']:.4f} |"
        for k, v in ((k, q["slice_stack_2d"][f"start_scale_{k}"]) for k in (0, 1))
    )
    return f"""# {NAME}

A **3-D** pyramid (3x3x3 convolutions) of the whole MNI152 brain as one small multi-contrast
volume: real T1 + **SIMULATED** T2w + **SIMULATED** FLAIR, {"x".join(map(str, pyr.shapes[-1]))}
voxels of {sp} mm (slice x row x col). Samples are whole volumes.

**Use:** 3-D sampling and injection with `sample`/`inject`, or the MONAI/TorchIO transforms on
(3, D, H, W) volumes. **Source:** `singan_augment.data.brain_volume()` (derived by
`scripts/make_shipped_data.py`). **Licence:** see LICENSE.md (ICBM 2009 template notice).

## Training

Schedule: {tc.iters} iterations at the coarsest scale, falling with the voxel count to the
power {tc.iters_decay:g}, at least {tc.iters_min} (the `fast` schedule of 2026-11-30); width {mc.nfc_init} at
every scale (published 32-128) - the reductions that make a 3-D pyramid affordable on a 2-core
CPU. Otherwise the published settings. **Training time: {secs / 60:.1f} min** on this machine
(2 cores, shared with other jobs; wall clock including compilation).

| scale | size | iterations | s/iteration | noise amp | reconstruction RMSE |
|---|---|---|---|---|---|
{rows}

## Quality (4 samples per row)

Patch sliced Wasserstein distance against the training volume (5^3 cubes, and flat 5x5
patches in each plane; a uniform-noise volume scores {q["swd_cubes_reference_noise_volume"]:.4f}
on cubes), the through-plane ratio max(coronal, sagittal) / axial (1 = as good across slices
as within them), and diversity.

| start scale | SWD cubes | axial | coronal | sagittal | through-plane ratio | diversity |
|---|---|---|---|---|---|---|
{qrows}

The baseline a 2-D pyramid gives today: a 2-D pyramid (same width and schedule) trained on the
middle axial slice, sampled slice by slice and stacked (4 stacks):

| start scale | SWD cubes | axial | coronal | sagittal | through-plane ratio | diversity |
|---|---|---|---|---|---|---|
{srows}

Figure: `docs/figures/volume_samples.png`; what the samples look like, and what this
pyramid is not good for yet, is in `docs/volumes.md`. Weights: {weights_mb:.1f} MB
(safetensors; the training volume at every scale and the last discriminator included).
Reproduce: `python scripts/train_pretrained_volume.py`.
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-root", default=str(ROOT))
    args = ap.parse_args()
    out = Path(args.out_root) / NAME
    out.mkdir(parents=True, exist_ok=True)
    pyr, log, secs = train(out, args.seed)
    print(f"{NAME}: trained, {secs / 60:.1f} min of training")
    volume, _, _ = datasets.brain_volume()
    q = quality(pyr, volume)
    q["slice_stack_2d"] = slice_stack_baseline(volume, args.seed)
    save_pyramid(pyr, out, extra={"train_log": log, "train_seconds": secs, "quality": q})
    (out / "quality.json").write_text(json.dumps(q, indent=2) + "\n")
    weights_mb = (out / "weights.safetensors").stat().st_size / 1e6
    (out / "MODEL_CARD.md").write_text(card(pyr, q, secs, log, weights_mb))
    (out / "LICENSE.md").write_text(
        f"# {NAME}: data licence\n\nICBM 2009 nonlinear symmetric template, Copyright (C) "
        "1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological "
        "Institute, McGill University; redistribution permitted with this notice (see "
        "singan_augment/data/LICENSES/). T2w and FLAIR are simulated from its tissue maps.\n\n"
        "The weights are released under Apache-2.0, like the code.\n"
    )
    figs = Path(__file__).resolve().parents[1] / "docs" / "figures"
    figure(pyr, volume, figs / "volume_samples.png")
    print(json.dumps(q, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
