"""Lesion fidelity of tumour insertion: does the lesion survive harmonization? (issue 13)

Protocol: docs/lesion_fidelity.md (committed before the first run). For each tumour seed the
lesion is pasted into the shipped healthy-brain pyramid's training image, injected at every
scale, and blended back with each ``BlendConfig.lesion`` mode. Per (mode, scale) the script
reports the medians (and p10-p90) of lesion retention, sign agreement and the seam ratio
(harmonized / naive), on validation seeds 0-11 (which choose) and test seeds 100-123 (scored
once), and draws retention against seam ratio plus an example.

    python benchmarks/lesion_fidelity.py [--out benchmarks/results/lesion_fidelity.json]

``--volume``: the same for 3-D lesions in the shipped volume pyramid (issue 14; seeds 0-5
validation, 100-111 test; protocol in the doc's "3-D lesions" section).

``--blend-grid``: the softer-blend grid at the transforms' default injection scale (2):
``keep_core`` over core erosion x core sigma and ``restore_contrast`` over its sigma, chosen on
the validation seeds by the rule in the doc's "Softer lesion edges" section, test scored once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from singan_augment import metrics, pretrained
from singan_augment.data import brain_multicontrast
from singan_augment.engine.config import LESION_MODES, BlendConfig
from singan_augment.engine.harmonize import blend_back, inject
from singan_augment.engine.scales import resize
from singan_augment.tumour import make_tumour, paste_tumour

VAL_SEEDS = tuple(range(12))
TEST_SEEDS = tuple(range(100, 124))
PYRAMID = "brain_healthy_tumour_host"
# 3-D (``--volume``; protocol in docs/lesion_fidelity.md, "3-D lesions")
VOLUME_VAL_SEEDS = tuple(range(6))
VOLUME_TEST_SEEDS = tuple(range(100, 112))
VOLUME_PYRAMID = "brain_mni152_volume"


def host_and_brain(pyr, slice_index: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The pyramid's training image (C, H, W) in [0, 1] and the brain mask of the MNI slice
    ``slice_index`` it was made from (6: the shipped host), resized to the image (H, W)."""
    host = pyr.channels.denormalise(np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0))
    h, w = host.shape[1:]
    _, brain = brain_multicontrast(slice_index)
    brain = np.asarray(resize(brain[..., None].astype(np.float32), (h, w)))[..., 0] > 0.5
    return host.astype(np.float32), brain


def volume_host_and_brain(pyr) -> tuple[np.ndarray, np.ndarray]:
    """The 3-D pyramid's training volume (C, D, H, W) and the shipped brain mask (D, H, W)."""
    from singan_augment.data import brain_volume

    host = pyr.channels.denormalise(np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0))
    _, tissue, _ = brain_volume()
    if tissue.shape != host.shape[1:]:
        raise SystemExit(f"brain mask {tissue.shape} is not on the pyramid's grid {host.shape}")
    return host.astype(np.float32), tissue > 0


def lesion_case(host, brain, seed: int):
    """A seeded lesion pasted at a seeded point at least 0.3 patch sizes inside the brain
    (a 3-D lesion of 16 voxels for a volume host)."""
    volume = host.ndim == 4
    size = 16 if volume else max(16, int(0.28 * min(host.shape[1:])))
    tum = make_tumour(seed, size=size, spatial_dims=3 if volume else 2)
    inside = ndimage.distance_transform_edt(brain) >= 0.3 * size
    cand = np.argwhere(inside)
    centre = cand[np.random.default_rng(seed).integers(len(cand))]
    return paste_tumour(host, tum, tuple(centre), within=brain)


def configs() -> dict[str, BlendConfig]:
    return {m: BlendConfig(lesion=m) for m in LESION_MODES}


def measure(pyr, seeds, host, brain) -> list[dict]:
    rows = []
    for seed in seeds:
        comp, label, mask = lesion_case(host, brain, seed)
        seam0 = metrics.seam_strength(comp, mask)
        for s in range(1, pyr.num_scales):
            gen = inject(pyr, comp, s, seed, 1)[0]
            for mode, cfg in configs().items():
                out = blend_back(comp, gen, mask, cfg)
                rows.append(
                    {"seed": seed, "scale": s, "mode": mode, **score(out, comp, label, mask, seam0)}
                )
    return rows


def score(out, comp, label, mask, seam0: float) -> dict:
    """Lesion retention (mean and per channel), sign agreement and seam ratio of one blend."""
    fid = metrics.lesion_fidelity(out, comp, label)
    return {
        "retention": fid.mean_retention,
        "retention_per_channel": list(fid.retention),
        "sign_agreement": fid.sign_agreement,
        "seam_ratio": metrics.seam_strength(out, mask) / seam0,
    }


def stats_of(sel: list[dict]) -> dict:
    """Medians (and p10, p90) over the seeds in ``sel`` of the retention, sign agreement and
    seam ratio, and the per-channel median retention."""
    stats = {}
    for key in ("retention", "sign_agreement", "seam_ratio"):
        v = np.array([r[key] for r in sel], np.float64)
        stats[key] = [float(np.nanmedian(v)), *map(float, np.nanpercentile(v, [10, 90]))]
    chan = np.array([r["retention_per_channel"] for r in sel], np.float64)
    stats["retention_per_channel"] = [float(x) for x in np.nanmedian(chan, axis=0)]
    return stats


def summarise(rows) -> dict[tuple[str, int], dict]:
    out = {}
    for mode in LESION_MODES:
        for s in sorted({r["scale"] for r in rows}):
            sel = [r for r in rows if r["mode"] == mode and r["scale"] == s]
            if sel:
                out[(mode, s)] = stats_of(sel)
    return out


def choose(summary) -> tuple[tuple[str, int], bool]:
    """The pre-registered rule (docs/lesion_fidelity.md). Returns (choice, qualified)."""
    ok = [
        k for k, v in summary.items() if v["retention"][0] >= 0.8 and v["sign_agreement"][0] >= 1.0
    ]
    if not ok:
        return max(summary, key=lambda k: summary[k]["retention"][0]), False
    best = min(summary[k]["seam_ratio"][0] for k in ok)
    near = [k for k in ok if summary[k]["seam_ratio"][0] <= best + 0.02]
    return max(near, key=lambda k: summary[k]["retention"][0]), True


# --blend-grid (docs/lesion_fidelity.md, "Softer lesion edges"; fixed before it ran)
GRID_SCALE = 2
GRID = {
    **{
        f"keep_core e{e} s{g:g}": BlendConfig(
            dilation_radius=7, sigma=5.0, lesion="keep_core", core_erosion=e, core_sigma=g
        )
        for e in (0, 1, 2, 3)
        for g in (1.0, 2.0, 3.0, 4.0)
    },
    **{
        f"restore_contrast c{c:g}": BlendConfig(lesion="restore_contrast", contrast_sigma=c)
        for c in (2.0, 4.0, 6.0)
    },
}
# BlendConfig.tumour() when the grid ran; the grid chose e1 s3, which replaced it
GRID_DEFAULT = "keep_core e1 s1"
GRID_NEW = "keep_core e1 s3"  # BlendConfig.tumour() since the 2-D grid


def measure_grid(pyr, seeds, host, brain) -> list[dict]:
    """Every ``GRID`` blend of one injection per seed at ``GRID_SCALE`` (the generated image
    does not depend on the blend, so each seed is injected once)."""
    rows = []
    for seed in seeds:
        comp, label, mask = lesion_case(host, brain, seed)
        seam0 = metrics.seam_strength(comp, mask)
        gen = inject(pyr, comp, GRID_SCALE, seed, 1)[0]
        for name, cfg in GRID.items():
            out = blend_back(comp, gen, mask, cfg)
            rows.append({"seed": seed, "setting": name, **score(out, comp, label, mask, seam0)})
    return rows


def summarise_grid(rows) -> dict[str, dict]:
    return {name: stats_of([r for r in rows if r["setting"] == name]) for name in GRID}


def choose_grid(summary) -> tuple[str, bool]:
    """The pre-registered rule: among settings whose median retention is >= 0.75 in every
    channel with median sign agreement 1.0, the lowest median seam ratio; ties within 0.02 go
    to the higher lowest-channel retention. None qualifies: the current default."""
    ok = [
        k
        for k, v in summary.items()
        if min(v["retention_per_channel"]) >= 0.75 and v["sign_agreement"][0] >= 1.0
    ]
    if not ok:
        return GRID_DEFAULT, False
    best = min(summary[k]["seam_ratio"][0] for k in ok)
    near = [k for k in ok if summary[k]["seam_ratio"][0] <= best + 0.02]
    return max(near, key=lambda k: min(summary[k]["retention_per_channel"])), True


def grid_figure(pyr, host, brain, val, test, choice, path: Path) -> None:
    """Left: lowest-channel retention against seam ratio per setting (hollow validation,
    filled test). Right: one test lesion, naive, the current default and the choice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 5.2))
    ax = fig.add_axes([0.06, 0.12, 0.36, 0.78])
    for split, summ in (("validation", val), ("test", test)):
        for name, v in summ.items():
            kc = name.startswith("keep_core")
            colour = "C3" if name == choice else "C1" if kc else "C2"
            ax.scatter(
                v["seam_ratio"][0],
                min(v["retention_per_channel"]),
                marker="s" if kc else "^",
                facecolors="none" if split == "validation" else colour,
                edgecolors=colour,
            )
            if split == "test":
                ax.annotate(
                    name.replace("keep_core ", "").replace("restore_contrast ", "rc "),
                    (v["seam_ratio"][0], min(v["retention_per_channel"])),
                    fontsize=6,
                    xytext=(3, 2),
                    textcoords="offset points",
                )
    ax.axhline(0.7, color="grey", lw=0.6, ls="--")
    ax.axvline(0.6, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("seam ratio, harmonized / naive paste (goal <= 0.6)")
    ax.set_ylabel("lowest per-channel retention (goal >= 0.7)")
    ax.set_title(
        f"medians, injection scale {GRID_SCALE}; squares: keep_core e<erosion> s<sigma> (px),\n"
        f"triangles: restore_contrast (rc); red: chosen ({choice}); hollow: validation, "
        "filled: test",
        fontsize=7,
    )
    seed = (VOLUME_TEST_SEEDS if host.ndim == 4 else TEST_SEEDS)[0]
    comp, label, mask = lesion_case(host, brain, seed)
    gen = inject(pyr, comp, GRID_SCALE, seed, 1)[0]
    shown = dict.fromkeys([GRID_DEFAULT, GRID_NEW, choice])
    panels = [("naive paste", comp)]
    for key in shown:
        role = {GRID_DEFAULT: "old default", GRID_NEW: "new default"}.get(key, "chosen")
        if key == choice and role != "chosen":
            role += ", chosen"
        panels.append(
            (f"{role} ({key.replace('keep_core ', '')})", blend_back(comp, gen, mask, GRID[key]))
        )
    if host.ndim == 4:  # volumes: the axial slice through the lesion's centre
        k = int(np.argmax(mask.sum(axis=(1, 2))))
        panels = [(t, img[:, k]) for t, img in panels]
        label, mask = label[k], mask[k]
    panels.append(("label", None))
    ys, xs = np.nonzero(mask)
    pad = 12
    y0, y1 = max(ys.min() - pad, 0), ys.max() + pad
    x0, x1 = max(xs.min() - pad, 0), xs.max() + pad
    for c in range(3):
        for j, (title, img) in enumerate(panels):
            a = fig.add_axes([0.47 + 0.105 * j, 0.64 - 0.3 * c, 0.1, 0.29])
            if img is None:
                if c == 0:
                    a.imshow(label[y0:y1, x0:x1], cmap="viridis", interpolation="nearest")
            else:
                a.imshow(img[c, y0:y1, x0:x1], cmap="gray", vmin=0, vmax=1)
            if c == 0:
                a.set_title(title, fontsize=7)
            if j == 0:
                a.text(-0.04, 0.5, pyr.channels.names[c], rotation=90, fontsize=7,
                       transform=a.transAxes, ha="right", va="center")  # fmt: skip
            a.axis("off")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_grid(args) -> int:
    """The blend grid at ``GRID_SCALE``: 2-D, or with ``--volume`` on the volume host (there
    reported beside the 2-D choice, which volumes share; docs/lesion_fidelity.md)."""
    if GRID[GRID_NEW] != BlendConfig.tumour():
        raise SystemExit(f"GRID_NEW {GRID_NEW!r} is no longer BlendConfig.tumour()")
    t0 = time.perf_counter()
    name, val_seeds, test_seeds = PYRAMID, VAL_SEEDS, TEST_SEEDS
    if args.volume:
        name, val_seeds, test_seeds = VOLUME_PYRAMID, VOLUME_VAL_SEEDS, VOLUME_TEST_SEEDS
    pyr = pretrained.load(name)
    host, brain = (volume_host_and_brain if args.volume else host_and_brain)(pyr)
    names = pyr.channels.names
    val_rows = measure_grid(pyr, val_seeds, host, brain)
    val = summarise_grid(val_rows)
    choice, qualified = choose_grid(val)
    print(table(val, f"validation seeds {val_seeds[0]}-{val_seeds[-1]}, scale {GRID_SCALE}", names))
    print(f"\nchosen on validation: {choice} (rule met: {qualified})\n")
    test_rows = measure_grid(pyr, test_seeds, host, brain)
    test = summarise_grid(test_rows)
    print(table(test, f"test seeds {test_seeds[0]}-{test_seeds[-1]} (scored once)", names))
    roles = {"chosen": choice, "old default": GRID_DEFAULT, "new default": GRID_NEW}
    for label, key in roles.items():
        v = test[key]
        print(
            f"test, {label} ({key}): retention per channel "
            + "/".join(f"{x:.2f}" for x in v["retention_per_channel"])
            + f" (goal >= 0.7 each), sign {v['sign_agreement'][0]:.2f}, seam ratio "
            f"{v['seam_ratio'][0]:.2f} (goal <= 0.6)"
        )
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    grid_figure(pyr, host, brain, val, test, choice, Path(args.figure))
    res = {
        "pyramid": name,
        "scale": GRID_SCALE,
        "settings": {k: v.to_dict() for k, v in GRID.items()},
        "choice": {"setting": choice, "rule_met": qualified},
        "validation": val,
        "test": test,
        "rows": {"validation": val_rows, "test": test_rows},
    }
    return write_results(args, res, t0)


def write_results(args, res: dict, t0: float) -> int:
    res["seconds"] = time.perf_counter() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out} and {args.figure} in {res['seconds']:.0f} s")
    return 0


def table(summary, title: str, channels) -> str:
    """The printed table; a key is (mode, scale), or a ``GRID`` setting's name."""
    grid = isinstance(next(iter(summary)), str)
    head = f"{'setting':24s}" if grid else f"{'mode':18s} {'scale':>5s}"
    lines = [
        f"{title}",
        f"{head} {'retention (p10-p90)':>22s} "
        f"{'per channel ' + '/'.join(channels):>30s} {'sign':>5s} {'seam ratio (p10-p90)':>22s}",
    ]
    for key, v in summary.items():
        r, g, sr = v["retention"], v["sign_agreement"], v["seam_ratio"]
        pc = "/".join(f"{x:.2f}" for x in v["retention_per_channel"])
        name = f"{key:24s}" if grid else f"{key[0]:18s} {key[1]:5d}"
        lines.append(
            f"{name} {r[0]:8.2f} ({r[1]:.2f}-{r[2]:.2f}) {pc:>30s} {g[0]:5.2f} "
            f"{sr[0]:8.2f} ({sr[1]:.2f}-{sr[2]:.2f})"
        )
    return "\n".join(lines)


def figure(pyr, host, brain, val, test, choice, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = list(range(1, pyr.num_scales))
    fig = plt.figure(figsize=(13, 5.2))
    ax = fig.add_axes([0.06, 0.12, 0.36, 0.78])
    marks = {"regenerate": "o", "keep_core": "s", "restore_contrast": "^"}
    colours = {"regenerate": "C0", "keep_core": "C1", "restore_contrast": "C2"}
    for mode in LESION_MODES:
        for split, summ in (("validation", val), ("test", test)):
            xs = [summ[(mode, s)]["seam_ratio"][0] for s in scales]
            ys = [summ[(mode, s)]["retention"][0] for s in scales]
            face = "none" if split == "validation" else colours[mode]
            ax.scatter(
                xs,
                ys,
                marker=marks[mode],
                facecolors=face,
                edgecolors=colours[mode],
                label=f"{mode} ({split})",
            )
            if split == "test":
                for s, x, y in zip(scales, xs, ys):
                    ax.annotate(
                        str(s), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points"
                    )
    ax.axhline(0.8, color="grey", lw=0.6, ls="--")
    ax.axvline(1.0, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("seam ratio, harmonized / naive paste (lower hides the seam)")
    ax.set_ylabel("lesion retention (1 = as conspicuous as the paste)")
    ax.set_title(
        "median over seeds (hollow: validation, filled: test); numbers = injection scale",
        fontsize=8,
    )
    ax.legend(fontsize=6, ncol=2)
    # example: one test seed, FLAIR (channel 2), naive and each mode at the chosen scale
    seed = (VOLUME_TEST_SEEDS if host.ndim == 4 else TEST_SEEDS)[0]
    comp, label, mask = lesion_case(host, brain, seed)
    gen = inject(pyr, comp, choice[1], seed, 1)[0]
    panels = [("healthy host", host), ("naive paste", comp)] + [
        (f"{m} @ {choice[1]}", blend_back(comp, gen, mask, BlendConfig(lesion=m)))
        for m in LESION_MODES
    ]
    if host.ndim == 4:  # volumes: the axial slice through the lesion's centre
        k = int(np.argmax(mask.sum(axis=(1, 2))))
        panels = [
            (f"{t} (slice {k})" if i == 0 else t, img[:, k]) for i, (t, img) in enumerate(panels)
        ]
    for c in range(3):
        for j, (title, img) in enumerate(panels):
            a = fig.add_axes([0.47 + 0.106 * j, 0.64 - 0.3 * c, 0.104, 0.29])
            a.imshow(img[c], cmap="gray", vmin=0, vmax=1)
            if c == 0:
                a.set_title(title, fontsize=7)
            if j == 0:
                a.text(
                    -0.04,
                    0.5,
                    pyr.channels.names[c],
                    rotation=90,
                    fontsize=7,
                    transform=a.transAxes,
                    ha="right",
                    va="center",
                )
            a.axis("off")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/lesion_fidelity.json")
    ap.add_argument("--figure", default="docs/figures/lesion_fidelity.png")
    ap.add_argument(
        "--volume", action="store_true", help="3-D lesions in the shipped volume pyramid"
    )
    ap.add_argument(
        "--blend-grid", action="store_true", help="the softer-blend grid at injection scale 2"
    )
    args = ap.parse_args(argv)
    if args.blend_grid:
        stem = "lesion_blend_grid_volume" if args.volume else "lesion_blend_grid"
        args.out = args.out.replace("lesion_fidelity.json", f"{stem}.json")
        args.figure = args.figure.replace("lesion_fidelity.png", f"{stem}.png")
        return run_grid(args)
    t0 = time.perf_counter()
    val_seeds, test_seeds, name = VAL_SEEDS, TEST_SEEDS, PYRAMID
    if args.volume:
        val_seeds, test_seeds, name = VOLUME_VAL_SEEDS, VOLUME_TEST_SEEDS, VOLUME_PYRAMID
        args.out = args.out.replace("lesion_fidelity.json", "lesion_fidelity_volume.json")
        args.figure = args.figure.replace("lesion_fidelity.png", "lesion_fidelity_volume.png")
    pyr = pretrained.load(name)
    host, brain = (volume_host_and_brain if args.volume else host_and_brain)(pyr)
    val_rows = measure(pyr, val_seeds, host, brain)
    val = summarise(val_rows)
    choice, qualified = choose(val)
    print(table(val, f"validation seeds {val_seeds[0]}-{val_seeds[-1]}", pyr.channels.names))
    print(f"\nchosen on validation: mode={choice[0]} scale={choice[1]} (rule met: {qualified})\n")
    test_rows = measure(pyr, test_seeds, host, brain)
    test = summarise(test_rows)
    print(
        table(
            test, f"test seeds {test_seeds[0]}-{test_seeds[-1]} (scored once)", pyr.channels.names
        )
    )
    c = test[choice]
    print(
        f"\ntest, chosen setting: retention {c['retention'][0]:.2f} sign {c['sign_agreement'][0]:.2f} "
        f"seam ratio {c['seam_ratio'][0]:.2f}; published (regenerate @ {choice[1]}): retention "
        f"{test[('regenerate', choice[1])]['retention'][0]:.2f} seam ratio "
        f"{test[('regenerate', choice[1])]['seam_ratio'][0]:.2f}"
    )
    d = test[("keep_core", 2)]
    print(
        "\ntest, transforms' default (keep_core @ 2): retention per channel "
        + "/".join(f"{x:.2f}" for x in d["retention_per_channel"])
        + f" (goal >= 0.7 each), seam ratio {d['seam_ratio'][0]:.2f} (goal <= 0.6)"
    )
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    figure(pyr, host, brain, val, test, choice, Path(args.figure))
    res = {
        "pyramid": name,
        "choice": {"mode": choice[0], "scale": choice[1], "rule_met": qualified},
        "validation": {f"{m}@{s}": v for (m, s), v in val.items()},
        "test": {f"{m}@{s}": v for (m, s), v in test.items()},
        "rows": {"validation": val_rows, "test": test_rows},
    }
    return write_results(args, res, t0)


if __name__ == "__main__":
    sys.exit(main())
