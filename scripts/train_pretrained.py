"""Train the shipped pretrained pyramids on the shipped real data and write their model cards.

    python scripts/train_pretrained.py brain_t1_t2_flair [--iters N] [--max-size S]

Each pyramid goes to ``pretrained/<name>/`` (pyramid.json, weights.safetensors, MODEL_CARD.md,
LICENSE.md). Quality figures are computed on samples drawn after training and written to the
card and to ``quality.json``.
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
from singan_augment.engine.fit import fit, reconstruction_rmse
from singan_augment.files.pyramid_files import save_pyramid

ROOT = Path(__file__).resolve().parents[1] / "pretrained"

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
        y0, x0, s = 60, 150, 112
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


def quality(pyr, image: np.ndarray, spec: Spec) -> dict:
    from singan_augment import metrics
    from singan_augment.engine.sample import sample

    out: dict = {"reconstruction_rmse": [round(v, 5) for v in reconstruction_rmse(pyr)]}
    img_idx = pyr.channels.image_indices
    # The finest scale of the pyramid is the training image at the trained size.
    image = pyr.channels.denormalise(np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0))
    real = image[img_idx]
    for k in (0, 1, 2):
        s = sample(pyr, 1234 + k, 16, start_scale=k)
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


def card(spec: Spec, pyr, q: dict, train_seconds: float, args: argparse.Namespace) -> str:
    tc, pc, mc = pyr.train_config, pyr.pyramid_config, pyr.model_config
    rows = "\n".join(
        f"| {n} | {h}x{w} | {mc.nfc(n)} | {float(s.amp):.4f} | {q['reconstruction_rmse'][n]:.4f} |"
        for n, ((h, w), s) in enumerate(zip(pyr.shapes, pyr.stages))
    )
    qrows = "\n".join(
        f"| {k} | {q[f'start_scale_{k}']['swd']:.4f} | {q[f'start_scale_{k}']['diversity']:.4f} |"
        for k in (0, 1, 2)
    )
    mc_text = ""
    if "mask_consistency" in q:
        m = q["mask_consistency"]
        mc_text = (
            f"\nImage-mask consistency (Dice between a haematoxylin nuclei detector run on the image "
            f"channels and the decoded mask): synthetic pairs {m['synthetic_mean_dice']:.3f} (mean of 16), "
            f"real pair {m['real_pair_dice']:.3f}.\n"
        )
    return f"""# {spec.name}

{spec.description}

**Use:** {spec.use}

**Source:** `{spec.source}`. **Licence / attribution:** {spec.licence}

Channels: {", ".join(f"`{c}` ({k})" for c, k in zip(pyr.channels.names, pyr.channels.kinds))}.
Training image sha256 `{pyr.provenance["sha256"][:16]}…`, shape {pyr.provenance["shape"]}, seed {pyr.provenance["seed"]}.
Finest-scale pixel spacing: {"unknown" if pyr.spacing is None else f"{pyr.spacing[0]:.3f} x {pyr.spacing[1]:.3f} mm (row x col)"}; inputs
with a known spacing are resampled to it (`singan_augment.engine.resolution`).

## Training

Published SinGAN settings except the two stated reductions, chosen so that a full pyramid trains
in well under two hours on the project's 2-core CPU: **max size {pc.max_size} px** (published 250)
and **{tc.iters} iterations per scale** (published 2000; the lr drop stays at 80 %, iteration
{tc.lr_drop_iter}). Everything else: factor {pc.scale_factor} refitted to a {pc.min_size}-px coarsest
side, 3 D + 3 G steps, Adam({tc.lr_g}, betas ({tc.beta1}, {tc.beta2})), WGAN-GP λ={tc.gp_weight},
reconstruction α={tc.rec_weight}, coarsest noise `{tc.coarsest_noise}`, conv impl `{mc.conv_impl}`.

Training time on this machine ({platform.processor() or platform.machine()}, 2 cores, shared with
other jobs while it ran): **about {train_seconds / 60:.1f} min** (wall clock including compilation; for a pyramid whose run
recorded no wall time, the sum of its measured s/iter x iterations).

| scale | size | nfc | noise amp | reconstruction RMSE ([-1, 1] units) |
|---|---|---|---|---|
{rows}

## Quality (16 samples per row, image channels only)

Multi-scale sliced Wasserstein distance of 7x7 patches against the training image (lower is
closer; a uniform-noise image scores {q["swd_reference_noise_image"]:.4f}), and SinGAN's diversity
(per-pixel std across samples / image std).

| start scale | SWD | diversity |
|---|---|---|
{qrows}
{mc_text}
## Reproduce

```bash
python scripts/train_pretrained.py {spec.name} --iters {tc.iters} --max-size {pc.max_size} --seed {args.seed}
```
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--max-size", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-root", default=str(ROOT))
    ap.add_argument(
        "--cards-only", action="store_true", help="recompute quality and card of a trained pyramid"
    )
    args = ap.parse_args()
    image, spec = load_image(args.name)
    out = Path(args.out_root) / spec.name
    t0 = time.perf_counter()
    log = {}
    if args.cards_only:
        from singan_augment.files.pyramid_files import load_pyramid, read_metadata

        pyr = load_pyramid(out)
        extra = read_metadata(out).get("extra", {})
        log = extra.get("train_log", {})
        secs = extra.get("elapsed_s") or sum(
            v["s_per_iter"] * pyr.train_config.iters for v in log.values()
        )
        return _finish(pyr, image, spec, out, log, secs, args)

    def ckpt(pyrs, n, summ):
        log[str(n)] = summ[0]
        save_pyramid(pyrs[0], out, extra={"train_log": log, "elapsed_s": time.perf_counter() - t0})

    pyr = fit(
        image,
        args.seed,
        channel_names=spec.channels,
        label_channels=spec.labels,
        train_config=TrainConfig(iters=args.iters),
        pyramid_config=PyramidConfig(max_size=args.max_size),
        provenance={"source": spec.source, "licence": spec.licence},
        on_scale_done=ckpt,
        spacing=spec.spacing,
    )
    secs = time.perf_counter() - t0
    return _finish(pyr, image, spec, out, log, secs, args)


def _finish(pyr, image, spec, out, log, secs, args) -> int:
    q = quality(pyr, image, spec)
    save_pyramid(pyr, out, extra={"train_log": log, "train_seconds": secs, "quality": q})
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
