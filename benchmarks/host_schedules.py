"""Tumour insertion by host schedule: lesion and seam in a published host and in `fast` hosts.

Protocol: docs/lesion_fidelity.md, "The host's training schedule" (committed before it ran).
The hosts are brain pyramids of ``benchmarks/time_to_quality.py`` (one healthy MNI slice, 7
scales, 128 px), trained with the published schedule and with `fast`. Into each host's own
training image the lesion protocol's test lesions are pasted, injected at scales 2 and 3 and
blended back with the published blend (``regenerate``) and the transforms' default
(``BlendConfig.tumour()``). Printed per (host, blend, scale): medians (p10-p90) of lesion
retention, per-channel retention, sign agreement and seam ratio; then each host's largest
per-channel retention gap and seam gap to the first host, and the registered reading.

    python benchmarks/host_schedules.py [--jobs singans1,con3p105rg10f2,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lesion_fidelity as lf  # noqa: E402
import time_to_quality as ttq  # noqa: E402

from singan_augment import metrics  # noqa: E402
from singan_augment.engine.config import BlendConfig  # noqa: E402
from singan_augment.engine.harmonize import blend_back, inject  # noqa: E402

JOBS = ("singans1", "con3p105rg10f2", "con3p105rg10f2s1", "con3d039a1p105rg10f2")
ROLES = {
    "singans1": "published, seed 1",
    "con3p105rg10f2": "fast, seed 0",
    "con3p105rg10f2s1": "fast, seed 1",
    "con3d039a1p105rg10f2": "fast + anchor b=1 (diagnosis)",
}
SCALES = (2, 3)
BLENDS = {"regenerate": BlendConfig(lesion="regenerate"), "default": BlendConfig.tumour()}
SLICE = 4  # time_to_quality's brain image is brain_multicontrast(4)
TOLERANCE = 0.1  # the registered reading: every channel's retention and the seam within this


def measure_host(pyr, seeds, scales=SCALES, slice_index: int = SLICE) -> list[dict]:
    """One row per (seed, scale, blend): ``lesion_fidelity.score`` of the lesion ``seed``
    pasted into ``pyr``'s training image, injected at ``scale`` with noise seed ``seed``."""
    host, brain = lf.host_and_brain(pyr, slice_index)
    rows = []
    for seed in seeds:
        comp, label, mask = lf.lesion_case(host, brain, seed)
        seam0 = metrics.seam_strength(comp, mask)
        for s in scales:
            gen = inject(pyr, comp, s, seed, 1)[0]
            for name, cfg in BLENDS.items():
                out = blend_back(comp, gen, mask, cfg)
                row = lf.score(out, comp, label, mask, seam0)
                rows.append({"seed": seed, "scale": s, "blend": name, **row})
    return rows


def summarise(rows) -> dict[tuple[str, int], dict]:
    """``{(blend, scale): lesion_fidelity.stats_of(...)}`` over the seeds."""
    keys = sorted({(r["blend"], r["scale"]) for r in rows}, key=lambda k: (k[0] != "regenerate", k))
    return {k: lf.stats_of([r for r in rows if (r["blend"], r["scale"]) == k]) for k in keys}


def gaps(summary, base) -> dict[tuple[str, int], dict[str, float]]:
    """Per (blend, scale): the largest absolute per-channel median-retention difference and
    the median seam-ratio difference (this host minus ``base``)."""
    out = {}
    for k, v in summary.items():
        b = base[k]
        chan = np.abs(np.subtract(v["retention_per_channel"], b["retention_per_channel"]))
        out[k] = {
            "retention_gap": float(np.nanmax(chan)),
            "seam_gap": float(v["seam_ratio"][0] - b["seam_ratio"][0]),
        }
    return out


def within(host_gaps, blend: str = "default", tol: float = TOLERANCE) -> bool:
    """The registered reading for one host: with ``blend``, at every scale, every channel's
    median retention and the median seam ratio within ``tol`` of the published host's."""
    sel = [g for (b, _), g in host_gaps.items() if b == blend]
    if not sel:
        raise ValueError(f"no rows for blend {blend!r}")
    return all(g["retention_gap"] <= tol and abs(g["seam_gap"]) <= tol for g in sel)


def figure(hosts: dict, seed: int, path: Path, channel: int = 2) -> None:
    """One lesion (``seed``) in ``channel`` (FLAIR): per host, the naive paste and both blends at
    both scales, cropped around the lesion, with its label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["naive paste"] + [f"{b} @ {s}" for b in BLENDS for s in SCALES] + ["label"]
    fig, axes = plt.subplots(
        len(hosts), len(cols), figsize=(1.7 * len(cols), 1.85 * len(hosts)), squeeze=False
    )
    for i, (job, pyr) in enumerate(hosts.items()):
        host, brain = lf.host_and_brain(pyr, SLICE)
        comp, label, mask = lf.lesion_case(host, brain, seed)
        ys, xs = np.nonzero(mask)
        pad = 10
        y0, y1 = max(ys.min() - pad, 0), ys.max() + pad
        x0, x1 = max(xs.min() - pad, 0), xs.max() + pad
        gens = {s: inject(pyr, comp, s, seed, 1)[0] for s in SCALES}
        panels = [comp[channel]] + [
            blend_back(comp, gens[s], mask, cfg)[channel] for cfg in BLENDS.values() for s in SCALES
        ]
        for j, img in enumerate(panels):
            axes[i, j].imshow(img[y0:y1, x0:x1], cmap="gray", vmin=0, vmax=1)
        axes[i, -1].imshow(label[y0:y1, x0:x1], cmap="viridis", interpolation="nearest")
        axes[i, 0].set_ylabel(ROLES.get(job, job), fontsize=7)
        for j, title in enumerate(cols):
            if i == 0:
                axes[i, j].set_title(title, fontsize=8)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    name = next(iter(hosts.values())).channels.names[channel]
    fig.suptitle(
        f"test lesion {seed}, {name}; rows: the host pyramid's schedule "
        "(regenerate: the published blend; default: BlendConfig.tumour())",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    from singan_augment.files.pyramid_files import load_pyramid

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", default=",".join(JOBS), help="brain jobs; the first is the base")
    p.add_argument("--out", default="benchmarks/results/host_schedules.json")
    p.add_argument("--figure", default="docs/figures/host_schedules.png")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    jobs = args.jobs.split(",")
    hosts = {job: load_pyramid(ttq.job_dir("brain", job)) for job in jobs}
    names = next(iter(hosts.values())).channels.names
    res = {"seeds": list(lf.TEST_SEEDS), "scales": list(SCALES), "hosts": {}}
    base = None
    for job, pyr in hosts.items():
        rows = measure_host(pyr, lf.TEST_SEEDS)
        summ = summarise(rows)
        base = base or summ
        g = gaps(summ, base)
        print(lf.table(summ, f"\nhost {job} ({ROLES.get(job, 'unnamed')})", names), flush=True)
        if summ is not base:
            for k, v in g.items():
                print(
                    f"  {k[0]:10s} @ {k[1]}: largest channel retention gap "
                    f"{v['retention_gap']:.2f}, seam gap {v['seam_gap']:+.2f}"
                )
            print(f"  reading (default blend, both scales, within {TOLERANCE}): {within(g)}")
        res["hosts"][job] = {
            "role": ROLES.get(job, ""),
            "summary": {f"{b}@{s}": v for (b, s), v in summ.items()},
            "gaps_to_first": {f"{b}@{s}": v for (b, s), v in g.items()},
            "within_default": within(g),
            "rows": rows,
        }
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    figure(hosts, lf.TEST_SEEDS[0], Path(args.figure))
    res["seconds"] = time.perf_counter() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out} and {args.figure} in {res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
