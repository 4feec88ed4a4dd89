"""Train the shipped pretrained pyramids on the shipped real data and write their model cards.

    python scripts/train_pretrained.py brain_t1_t2_flair [--schedule fast] [--max-size S]

Training checkpoints after every scale into ``runs/pretrained/<name>/`` and resumes from there
after a crash (run the same command again); the shipped folder ``pretrained/<name>/``
(pyramid.json, weights.safetensors, MODEL_CARD.md, LICENSE.md, quality.json) is replaced only
once the new pyramid is complete. Quality figures are computed on samples drawn after
training; when a previous pyramid was shipped, the card also compares old and new, both scored
against the old pyramid's training image at its size.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from singan_augment import data as datasets
from singan_augment.engine.config import PyramidConfig, TrainConfig
from singan_augment.engine.fit import fit, reconstruction_rmse, scale_train_config
from singan_augment.engine.schedules import SCHEDULES, schedule_name
from singan_augment.files.pyramid_files import (
    checkpoint_exists,
    load_pyramid,
    read_metadata,
    save_pyramid,
)

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "pretrained"

MNI_LICENCE = "ICBM 2009c nonlinear symmetric template, Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill University; redistribution permitted with this notice (see singan_augment/data/LICENSES/)."
HE_LICENCE = "H&E tile shipped in the stardist 0.9.2 wheel (BSD-3-Clause package); its docstring attributes it to The Cancer Imaging Archive and names no licence. Nuclei mask DERIVED here by colour deconvolution + Otsu + watershed (not ground truth)."


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    channels: tuple[str, ...]
    labels: tuple[str, ...]
    licence: str
    source: str
    use: str
    spacing: tuple[float, float] | None = None  # of the training image, mm; None if unknown


def load_image(name: str) -> tuple[np.ndarray, Spec]:
    if name == "brain_t1_t2_flair":
        img, _ = datasets.brain_multicontrast(4)
        return img, Spec(
            name,
            "Axial MNI152 slice (z=+16 mm, lateral ventricles): real T1 + SIMULATED T2w + SIMULATED FLAIR stacked as 3 channels.",
            ("t1", "t2w_sim", "flair_sim"),
            (),
            MNI_LICENCE,
            "singan_augment.data.brain_multicontrast(4)",
            "Multi-contrast MRI sampling (the medical study samples from scale 1).",
            datasets.BRAIN_SPACING_MM,
        )
    if name == "brain_healthy_tumour_host":
        img, _ = datasets.brain_multicontrast(6)
        return img, Spec(
            name,
            "Healthy axial MNI152 slice (index 6): real T1 + SIMULATED T2w + SIMULATED FLAIR, host for tumour insertion by harmonization.",
            ("t1", "t2w_sim", "flair_sim"),
            (),
            MNI_LICENCE,
            "singan_augment.data.brain_multicontrast(6)",
            "Tumour insertion: paste a tumour, harmonize at injection scales 2-3.",
            datasets.BRAIN_SPACING_MM,
        )
    if name == "histology_he_nuclei":
        rgb, mask, _ = datasets.histology("he")
        y0, x0, s = 60, 150, 160  # 112 until 2026-12-02 (80-px pyramids)
        img = np.concatenate(
            [
                rgb[:, y0 : y0 + s, x0 : x0 + s],
                mask[None, y0 : y0 + s, x0 : x0 + s].astype(np.float32),
            ]
        )
        return img, Spec(
            name,
            f"H&E tile crop [{y0}:{y0 + s}, {x0}:{x0 + s}] (RGB) + DERIVED nuclei mask as a 4th (label) channel.",
            ("r", "g", "b", "nuclei"),
            ("nuclei",),
            HE_LICENCE,
            "singan_augment.data.histology('he')",
            "Image+mask pairs sampled from scale 0, mask decoded to a label map.",
        )
    raise SystemExit(f"unknown pyramid {name!r}")


START_SCALES = (0, 1, 2)


def start_samples(pyr) -> dict:
    """16 samples from each of ``START_SCALES`` (seeds 1234 + k): what the card scores."""
    from singan_augment.engine.sample import sample

    return {k: sample(pyr, 1234 + k, 16, start_scale=k) for k in START_SCALES}


def quality(pyr, image: np.ndarray, spec: Spec, samples: dict) -> dict:
    from singan_augment import metrics

    out: dict = {"reconstruction_rmse": [round(v, 5) for v in reconstruction_rmse(pyr)]}
    img_idx = pyr.channels.image_indices
    # The finest scale of the pyramid is the training image at the trained size.
    image = pyr.channels.denormalise(np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0))
    real = image[img_idx]
    for k, s in samples.items():
        imgs = s.images[:, img_idx]
        out[f"start_scale_{k}"] = {
            "swd": round(float(metrics.sliced_wasserstein(imgs, real)), 5),
            "diversity": round(float(metrics.diversity(imgs, real)), 5),
        }
        if spec.labels and k == 0:
            det = metrics.detect_nuclei_hed
            synth = float(
                np.mean(
                    [metrics.mask_consistency(im, lab > 0, det) for im, lab in zip(imgs, s.labels)]
                )
            )
            realc = float(
                metrics.mask_consistency(real, image[pyr.channels.label_indices[0]] > 0.5, det)
            )
            out["mask_consistency"] = {
                "synthetic_mean_dice": round(synth, 4),
                "real_pair_dice": round(realc, 4),
            }
    # Reference points: a noise image and a shuffled real image, to read the SWD figures against.
    rng = np.random.default_rng(0)
    noise = rng.uniform(real.min(), real.max(), real.shape).astype(np.float32)
    out["swd_reference_noise_image"] = round(
        float(metrics.sliced_wasserstein(noise[None], real)), 5
    )
    return out


def compare(old, new, new_samples: dict) -> dict:
    """Old and new pyramid scored the same way: ``start_samples`` of each, the new pyramid's
    resized (antialiased bicubic) to the old pyramid's finest size, both against the old
    pyramid's training image. SWD at different sizes is not comparable, this is."""
    import jax.numpy as jnp

    from singan_augment import metrics
    from singan_augment.engine.scales import resize

    idx = old.channels.image_indices
    real = old.channels.denormalise(np.moveaxis(np.asarray(old.reals[-1]), -1, 0))[idx]
    out = {
        "reference_shape": list(old.shapes[-1]),
        "same_training_image": old.provenance.get("sha256") == new.provenance.get("sha256"),
    }
    for tag, samples in (("old", start_samples(old)), ("new", new_samples)):
        rows = {}
        for k, s in samples.items():
            imgs = s.images[:, idx]
            if imgs.shape[2:] != real.shape[1:]:
                nhwc = jnp.asarray(np.moveaxis(imgs, 1, -1))
                imgs = np.moveaxis(np.asarray(resize(nhwc, real.shape[1:])), -1, 1)
            rows[str(k)] = {
                "swd": round(float(metrics.sliced_wasserstein(imgs, real)), 5),
                "diversity": round(float(metrics.diversity(imgs, real)), 5),
            }
        out[tag] = rows
    return out


def weights_mib(directory: Path) -> float:
    return (directory / "weights.safetensors").stat().st_size / 2**20


def card(spec: Spec, pyr, q: dict, train_seconds: float, args: argparse.Namespace) -> str:
    tc, pc, mc = pyr.train_config, pyr.pyramid_config, pyr.model_config
    sched = schedule_name(tc)
    iters = [tc.scale_iters(n, pyr.shapes)[0] for n in range(pyr.num_scales)]
    rows = "\n".join(
        f"| {n} | {h}x{w} | {mc.nfc(n)} | {it} | {float(s.amp):.4f} | "
        f"{q['reconstruction_rmse'][n]:.4f} |"
        for n, (((h, w), s), it) in enumerate(zip(zip(pyr.shapes, pyr.stages), iters))
    )
    qrows = "\n".join(
        f"| {k} | {q[f'start_scale_{k}']['swd']:.4f} | {q[f'start_scale_{k}']['diversity']:.4f} |"
        for k in START_SCALES
    )
    mc_text = ""
    if "mask_consistency" in q:
        m = q["mask_consistency"]
        mc_text = (
            f"\nImage-mask consistency (Dice between a haematoxylin nuclei detector run on the image "
            f"channels and the decoded mask): synthetic pairs {m['synthetic_mean_dice']:.3f} (mean of 16), "
            f"real pair {m['real_pair_dice']:.3f}.\n"
        )
    if sched == "fast":
        rule = pyr.provenance.get("coarsest_diversity")
        how = (
            "the **`fast` schedule** (`singan_augment.engine.schedules`; measured against the "
            "published one in docs/time_to_quality.md): three scales trained together "
            f"(ConSinGAN-style, learning rate x{tc.concurrent_lr_scale} per scale back), "
            f"{tc.iters} iterations at the coarsest scale falling as area^-{tc.iters_decay} "
            f"(at least {tc.iters_min}), the reconstruction weight grown with the area at the "
            f"{tc.rec_weight_growth_scales} finest scales"
        )
        if rule is not None:
            frozen = scale_train_config(pyr).concurrent_frozen_scales >= 1  # the engine's rule
            verdict = "frozen" if frozen else "fine-tuned"
            how += (
                f"; the coarsest generator's own diversity measured {rule:.3f} against the "
                f"rule's threshold {tc.concurrent_freeze_diversity}, so it was {verdict} "
                "with the finer scales"
            )
    elif sched == "singan":
        how = "the **published schedule** (2000 iterations at every scale)"
    else:
        how = f"a **reduced schedule**: {tc.iters} iterations at every scale (published 2000)"
    size = (
        f"max size {pc.max_size} px, the training image's own resolution"
        if pc.max_size >= max(pyr.provenance["shape"][1:])
        else f"max size {pc.max_size} px (published 250)"
    )
    cmp_text = ""
    if "previous" in q:
        c = q["previous"]
        h, w = c["reference_shape"]
        crow = "\n".join(
            f"| {k} | {c['old'][k]['swd']:.4f} | {c['new'][k]['swd']:.4f} | "
            f"{c['old'][k]['diversity']:.4f} | {c['new'][k]['diversity']:.4f} |"
            for k in map(str, START_SCALES)
        )
        caveat = (
            ""
            if c.get("same_training_image", True)
            else "\n**The two were trained on different images** (the training crop changed), so "
            "the new pyramid's SWD here is measured against an image it never saw: this row "
            "compares regions, not quality. Compare the quality table above with the old card's "
            "instead, keeping in mind the size difference.\n"
        )
        cmp_text = f"""
## Old against new

The previously shipped pyramid ({c["old_summary"]}) against this one, scored the same way: 16
samples per start scale, this pyramid's resized to the old one's {h}x{w}, both against the old
pyramid's training image (SWD at different sizes is not comparable, this is). Start scale k
is the k-th coarsest scale of each pyramid, so the same k is a coarser fraction of the image in
the pyramid with more scales.

| start scale | SWD old | SWD new | diversity old | diversity new |
|---|---|---|---|---|
{crow}
{caveat}"""
    return f"""# {spec.name}

{spec.description}

**Use:** {spec.use}

**Source:** `{spec.source}`. **Licence / attribution:** {spec.licence}

Channels: {", ".join(f"`{c}` ({k})" for c, k in zip(pyr.channels.names, pyr.channels.kinds))}.
Training image sha256 `{pyr.provenance["sha256"][:16]}…`, shape {pyr.provenance["shape"]}, seed {pyr.provenance["seed"]}.
Finest-scale pixel spacing: {"unknown" if pyr.spacing is None else f"{pyr.spacing[0]:.3f} x {pyr.spacing[1]:.3f} mm (row x col)"}; inputs
with a known spacing are resampled to it (`singan_augment.engine.resolution`).

## Training

Trained with {how}; {size}. Everything else published: factor {pc.scale_factor} refitted to a
{pc.min_size}-px coarsest side, 3 D + 3 G steps, Adam({tc.lr_g}, betas ({tc.beta1},
{tc.beta2})), WGAN-GP λ={tc.gp_weight}, reconstruction α={tc.rec_weight}, coarsest noise
`{tc.coarsest_noise}`, values clamped to [-1, 1]: {mc.clamp}, conv impl `{mc.conv_impl}`.

Training time on this machine ({platform.processor() or platform.machine()}, 2 cores, shared with
other jobs while it ran): **about {train_seconds / 60:.1f} min** (wall clock including
compilation, summed over resumed runs). Weights: {q.get("weights_mib", 0):.1f} MiB (safetensors,
float32).

| scale | size | nfc | iterations | noise amp | reconstruction RMSE ([-1, 1] units) |
|---|---|---|---|---|---|
{rows}

## Quality (16 samples per row, image channels only)

Multi-scale sliced Wasserstein distance of 7x7 patches against the training image (lower is
closer; a uniform-noise image scores {q["swd_reference_noise_image"]:.4f}), and SinGAN's diversity
(per-pixel std across samples / image std).

| start scale | SWD | diversity |
|---|---|---|
{qrows}
{mc_text}{cmp_text}
## Reproduce

```bash
{reproduce(spec, pyr, args)}
```
"""


def reproduce(spec: Spec, pyr, args: argparse.Namespace) -> str:
    tc, pc = pyr.train_config, pyr.pyramid_config
    sched = schedule_name(tc)
    how = f"--schedule {sched}" if sched != "custom" else f"--iters {tc.iters}"
    return (
        f"python scripts/train_pretrained.py {spec.name} {how} --max-size {pc.max_size} "
        f"--seed {pyr.provenance['seed']}"
    )


def summary(pyr) -> str:
    tc = pyr.train_config
    sched = schedule_name(tc)
    how = f"`{sched}` schedule" if sched != "custom" else f"{tc.iters} iterations per scale"
    h, w = pyr.shapes[-1]
    return f"{h}x{w} px, {pyr.num_scales} scales, {how}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("--schedule", choices=sorted(SCHEDULES), default="fast")
    ap.add_argument(
        "--iters",
        type=int,
        default=None,
        help="a fixed iteration count at every scale instead of the schedule's",
    )
    ap.add_argument(
        "--max-size",
        type=int,
        default=None,
        help="long side in px (default: the training image's own, its real resolution)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-root", default=str(ROOT))
    ap.add_argument(
        "--work-root",
        default=str(REPO / "runs" / "pretrained"),
        help="where the per-scale checkpoints go (resumed from if present)",
    )
    ap.add_argument(
        "--cards-only", action="store_true", help="recompute quality and card of a trained pyramid"
    )
    args = ap.parse_args()
    image, spec = load_image(args.name)
    out = Path(args.out_root) / spec.name
    old = load_pyramid(out) if checkpoint_exists(out) else None
    if args.cards_only:
        if old is None:
            raise SystemExit(f"{out}: no trained pyramid to write a card for")
        extra = read_metadata(out).get("extra", {})
        secs = extra.get("train_seconds") or extra.get("elapsed_s") or 0.0
        return _finish(old, image, spec, out, extra.get("train_log", {}), secs, args, None)

    tcfg = TrainConfig(iters=args.iters) if args.iters else SCHEDULES[args.schedule]
    pcfg = PyramidConfig(max_size=args.max_size or max(image.shape[1:]))
    work = Path(args.work_root) / spec.name
    resume, log, before = None, {}, 0.0
    if checkpoint_exists(work):
        resume = load_pyramid(work, require_complete=False)
        extra = read_metadata(work).get("extra", {})
        log, before = dict(extra.get("train_log", {})), float(extra.get("elapsed_s", 0.0))
        print(
            f"resuming {spec.name} from {work}: {resume.num_trained} of {resume.num_scales} scales"
        )
    t0 = time.perf_counter()

    def ckpt(pyrs, n, summ):
        log[str(n)] = summ[0]
        elapsed = before + time.perf_counter() - t0
        save_pyramid(pyrs[0], work, extra={"train_log": log, "elapsed_s": elapsed})

    pyr = fit(
        image,
        args.seed,
        channel_names=spec.channels,
        label_channels=spec.labels,
        train_config=tcfg,
        pyramid_config=pcfg,
        provenance={"source": spec.source, "licence": spec.licence},
        on_scale_done=ckpt,
        spacing=spec.spacing,
        resume=resume,
    )
    secs = before + time.perf_counter() - t0
    return _finish(pyr, image, spec, out, log, secs, args, old)


def _finish(pyr, image, spec, out, log, secs, args, old) -> int:
    samples = start_samples(pyr)
    q = quality(pyr, image, spec, samples)
    if old is not None and old is not pyr:
        q["previous"] = {**compare(old, pyr, samples), "old_summary": summary(old)}
    elif (out / "quality.json").is_file():  # --cards-only keeps the comparison it had
        prev = json.loads((out / "quality.json").read_text()).get("previous")
        if prev is not None:
            q["previous"] = prev
    save_pyramid(pyr, out, extra={"train_log": log, "train_seconds": secs, "quality": q})
    q["weights_mib"] = round(weights_mib(out), 2)
    (out / "quality.json").write_text(json.dumps(q, indent=2))
    (out / "MODEL_CARD.md").write_text(card(spec, pyr, q, secs, args))
    (out / "LICENSE.md").write_text(
        f"# {spec.name}: data licence\n\n{spec.licence}\n\nThe weights are released under Apache-2.0, like the code.\n"
    )
    print(json.dumps(q, indent=2))
    print(f"{spec.name}: {secs / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
