"""The growing generator (ConSinGAN's architecture, ``engine.growing``) on the time-to-quality
images, scored and costed exactly as ``time_to_quality.py`` scores and costs its schedules.

Protocol: ``docs/time_to_quality.md``, section "ConSinGAN's architecture" (registered before
the runs). Quality: 50 samples from start scales 0 and 1 with the seeds of the schedules'
draw 0, the same reference, SWD and diversity (``time_to_quality.sample_scores``). Time:
modelled, as for every schedule: the growing step is calibrated (``CALIBRATION_ITERS``
iterations a stage) together with the published step in the same session, and converted to
``calibration.json``'s units scale by scale (``time_to_quality.converted_calibration``).

    python benchmarks/growing_screen.py calibrate --image histology --schedule grow3p105
    python benchmarks/growing_screen.py run --image histology --schedule grow3p105
    python benchmarks/growing_screen.py table --images histology,brain,coffee

Cache: ``benchmarks/results/time_to_quality/<image>/<schedule>/`` (``growing.safetensors``,
git-ignored; ``timing.json`` and ``quality.json``, committed) and
``<image>/calibration_growing_<schedule>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from singan_augment.testing import load_script  # noqa: E402

tq = load_script(HERE / "time_to_quality.py")


@dataclass(frozen=True)
class GrowingSchedule:
    """A named way to train the growing generator: ``GrowingConfig`` and ``TrainConfig``
    fields, and the training seed."""

    name: str
    growing: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    seed: int = tq.SEED
    note: str = ""


def _schedules() -> dict[str, GrowingSchedule]:
    # ConSinGAN's step (3 stages at once, lr x0.1 per stage down) at ``fast``'s iteration
    # counts (2000 at scale 0, falling with area to the power 1.05, floor 100) and
    # reconstruction weights (growing with area over the finest two scales); registered in
    # docs/time_to_quality.md, "ConSinGAN's architecture"
    step = {"concurrent_stages": 3, "concurrent_lr_scale": 0.1}
    counts = {"iters_decay": 1.05, "iters_min": 100}
    alphas = {"rec_weight_growth": 1.0, "rec_weight_growth_scales": 2}  # fast's
    # what the first two runs trained with: alpha growing with area at every scale (the
    # registration said fast's alphas, but the scales field was left at its default, 0)
    every = {"rec_weight_growth": 1.0}
    note = "growing generator, ConSinGAN's step"
    out = [
        GrowingSchedule(
            "grow3w32p105rg10", {"width": 32}, {**step, **counts, **alphas},
            note=f"{note}, width 32, fast's counts and alphas",
        ),
        GrowingSchedule(
            "grow3p115rg10", {}, {**step, **counts, **alphas, "iters_decay": 1.15},
            note=f"{note}, ConSinGAN's width 64, counts falling with area^1.15, fast's alphas",
        ),
        GrowingSchedule(
            "grow3w32p105rgall", {"width": 32}, {**step, **counts, **every},
            note=f"{note}, width 32, fast's counts, alpha growing with area at every scale",
        ),
        GrowingSchedule(
            "grow3p115rgall", {}, {**step, **counts, **every, "iters_decay": 1.15},
            note=f"{note}, width 64, counts falling with area^1.15, alpha growing everywhere",
        ),
        # the amendment of 21:20 (a diagnosis): ConSinGAN's own alpha, 10 at every scale
        GrowingSchedule(
            "grow3w32p105", {"width": 32}, {**step, **counts},
            note=f"{note}, width 32, fast's counts, alpha 10 at every scale (ConSinGAN's)",
        ),
        # the amendment of 21:45 (a diagnosis, far over the time bar): ConSinGAN's counts,
        # 2000 iterations at every stage, alpha 10, at width 32
        GrowingSchedule(
            "grow3w32", {"width": 32}, step,
            note=f"{note}, width 32, 2000 iterations at every stage, alpha 10",
        ),
    ]  # fmt: skip
    out += [GrowingSchedule(f"{s.name}s1", s.growing, s.train, 1, f"{s.note}; seed 1") for s in out]
    return {s.name: s for s in out}


SCHEDULES = _schedules()


def configs(s: GrowingSchedule):
    from singan_augment.engine.config import GrowingConfig, ModelConfig, PyramidConfig, TrainConfig

    return (
        GrowingConfig(**s.growing),
        ModelConfig(),
        TrainConfig(**s.train),
        PyramidConfig(max_size=tq.MAX_SIZE),
    )


def step_tag(s: GrowingSchedule) -> str:
    """What a growing schedule's calibration depends on: its width and how many stages train
    at once (the iteration counts, seeds and alphas do not change a step's cost)."""
    from singan_augment.engine.config import GrowingConfig

    width = s.growing.get("width", GrowingConfig.width)
    return f"w{width}_c{s.train.get('concurrent_stages', 1)}"


def calibration_path(image: str, s: GrowingSchedule) -> Path:
    return tq.ROOT / image / f"calibration_growing_{step_tag(s)}.json"


def train(image, s: GrowingSchedule, out: Path, iters: int | None = None) -> dict:
    """Train (or resume) into ``out``, checkpointed after every stage; timing.json's content.
    ``iters``: a calibration run (that many iterations at every stage, nothing saved)."""
    from dataclasses import replace

    from singan_augment.engine.growing_fit import fit_growing
    from singan_augment.files.growing_files import FILE_NAME, load_growing, save_growing

    gcfg, mcfg, tcfg, pcfg = configs(s)
    if iters is not None:
        tcfg = replace(tcfg, iters=iters, iters_decay=0.0)
    timing_path = out / "timing.json"
    timing = {"scales": {}}
    resume = None
    if iters is None and (out / FILE_NAME).exists():
        resume = load_growing(out)
        timing = json.loads(timing_path.read_text())
        if resume.complete and "total_wall_s" in timing:
            return timing
    timing.setdefault("code", []).append(tq.commit_id())
    mark = {"t": time.perf_counter(), "cpu": tq.cpu_seconds()}

    def done(model, stage, summary):
        now, cpu = time.perf_counter(), tq.cpu_seconds()
        h, w = model.shapes[stage]
        timing["scales"][str(stage)] = {
            "size": f"{h}x{w}",
            "iters": int(summary["iters_run"]),
            "wall_s": now - mark["t"],
            "cpu_s": cpu - mark["cpu"],
            "s_per_iter": summary["s_per_iter"],
            "rec_rmse": summary["rec_rmse"],
        }
        if iters is None:
            save_growing(model, out)
            tmp = timing_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(timing, indent=1))
            os.replace(tmp, timing_path)
        mark["t"], mark["cpu"] = time.perf_counter(), tq.cpu_seconds()

    if iters is None:
        out.mkdir(parents=True, exist_ok=True)
    fit_growing(
        image.load(), s.seed, channel_names=image.channels, label_channels=image.labels,
        growing_config=gcfg, model_config=mcfg, train_config=tcfg, pyramid_config=pcfg,
        resume=resume, on_stage_done=done, progress=sys.stderr.isatty(),
    )  # fmt: skip
    timing["total_wall_s"] = sum(v["wall_s"] for v in timing["scales"].values())
    timing["schedule"] = s.name
    if iters is None:
        timing_path.write_text(json.dumps(timing, indent=1))
    return timing


def growing_samples(image, out: Path, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference, ``n`` samples from ``start``) of the model in ``out``, with the seeds of
    the schedules' draw 0 (``1000 + start``)."""
    from singan_augment.engine.growing_fit import sample_growing
    from singan_augment.files.growing_files import load_growing

    model = load_growing(out)
    ref = tq.reference(image, model.shapes[-1])
    return ref, sample_growing(model, 1000 + start, n, start_scale=start)


def quality(image, out: Path) -> dict:
    """quality.json of a finished model: ``time_to_quality``'s measures, its draw-0 seeds."""
    result = {}
    for start in (0, 1):
        ref, imgs = growing_samples(image, out, start, tq.N_SAMPLES)
        result[f"start{start}"] = tq.sample_scores(imgs, ref)
    (out / "quality.json").write_text(json.dumps(result, indent=1))
    return result


def cmd_calibrate(args) -> int:
    image, s = tq.IMAGES[args.image], SCHEDULES[args.schedule]
    t = train(image, s, Path(os.devnull), iters=tq.CALIBRATION_ITERS)
    scales = {
        n: {
            "size": v["size"],
            "s_per_iter": v["s_per_iter"],
            "compile_s": max(v["wall_s"] - v["s_per_iter"] * (tq.CALIBRATION_ITERS - 1), 0.0),
        }
        for n, v in t["scales"].items()
    }
    ref = tq.calibrate(image)  # the published step, right after, in the same session
    cal = {
        "scales": scales,
        "code": tq.commit_id(),
        "host_cpus": os.cpu_count(),
        "step": step_tag(s),
        "reference": {"scales": ref["scales"], "code": ref["code"]},
    }
    path = calibration_path(args.image, s)
    path.write_text(json.dumps(cal, indent=1))
    for n, v in scales.items():
        r = ref["scales"][n]["s_per_iter"]
        print(f"scale {n} {v['size']}: {v['s_per_iter']:.3f} s/it, published {r:.3f}, "
              f"ratio {v['s_per_iter'] / r:.2f}")  # fmt: skip
    return 0


def modelled(image: str, name: str, timing: dict) -> float | None:
    """Modelled seconds of a growing job in ``calibration.json``'s units (None if a
    calibration is missing)."""
    base_path, path = tq.calibration_path(image), calibration_path(image, SCHEDULES[name])
    if not base_path.exists() or not path.exists():
        return None
    base = json.loads(base_path.read_text())
    return tq.cost_seconds(tq.converted_calibration(json.loads(path.read_text()), base), timing)


def planned_factor(image: str, name: str) -> float | None:
    """The time factor a growing schedule is planned at on ``image`` (baseline modelled
    seconds / the schedule's, from its planned iteration counts): read before a run."""
    from singan_augment.engine.config import TrainConfig

    base_t = json.loads((tq.job_dir(image, "singan") / "timing.json").read_text())
    shapes = [tuple(int(v) for v in x["size"].split("x")) for x in base_t["scales"].values()]
    tcfg = TrainConfig(**SCHEDULES[name].train)
    planned = {
        "scales": {str(k): {"iters": tcfg.scale_iters(k, shapes)[0]} for k in range(len(shapes))}
    }
    own = modelled(image, name, planned)
    return None if own is None else tq.modelled_seconds(image, "singan", base_t) / own


def cmd_cost(args) -> int:
    for name in args.schedules.split(","):
        f = planned_factor(args.image, name)
        print(f"{args.image} {name}: " + ("no calibration" if f is None else f"1/{f:.2f}"))
    return 0


def cmd_run(args) -> int:
    image, s = tq.IMAGES[args.image], SCHEDULES[args.schedule]
    out = tq.job_dir(args.image, s.name)
    train(image, s, out)
    q = quality(image, out)
    print(json.dumps({k: {m: q[k][m] for m in ("swd", "diversity")} for k in q}), flush=True)
    return 0


def ratios(image: str, name: str) -> dict | None:
    """The bar's ratios of a finished job to the published ``singan`` pyramid's draw 0, and
    its time factor (baseline modelled seconds / the job's)."""
    out, base = tq.job_dir(image, name), tq.job_dir(image, "singan")
    if not (out / "quality.json").exists() or not (base / "quality.json").exists():
        return None
    q, bq = (json.loads((d / "quality.json").read_text()) for d in (out, base))
    timing = json.loads((out / "timing.json").read_text())
    own = modelled(image, name, timing)
    base_s = tq.modelled_seconds(image, "singan", json.loads((base / "timing.json").read_text()))
    r = {
        f"{m}{k[-1]}": q[k][m] / bq[k][m]
        for k in ("start0", "start1")
        for m in ("swd", "diversity")
    }
    r["factor"] = None if own is None or base_s is None else base_s / own
    r["meets_bar"] = tq.meets_bar(q, bq) and r["factor"] is not None and r["factor"] >= 6.0
    return r


def cmd_table(args) -> int:
    print(
        "| image | schedule | time | SWD ratio, start 0 / 1 | diversity ratio, start 0 / 1 | bar |"
    )
    print("|---|---|---|---|---|---|")
    for image in args.images.split(","):
        for name in SCHEDULES:
            r = ratios(image, name)
            if r is None:
                continue
            f = "?" if r["factor"] is None else f"1/{r['factor']:.2f}"
            print(f"| {image} | {name} | {f} | {r['swd0']:.2f} / {r['swd1']:.2f} | "
                  f"{r['diversity0']:.2f} / {r['diversity1']:.2f} | "
                  f"{'yes' if r['meets_bar'] else 'no'} |")  # fmt: skip
    return 0


def draw(image: str, name: str, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``time_to_quality.pyramid_draw`` for a growing job too (the same seeds)."""
    if name not in SCHEDULES:
        return tq.pyramid_draw(image, name, start, n)
    return growing_samples(tq.IMAGES[image], tq.job_dir(image, name), start, n)


def cmd_samples(args) -> int:
    path = Path(args.out)
    tq.samples_figure(args.image, args.jobs.split(","), path, draw=draw)
    print(path)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn in (("calibrate", cmd_calibrate), ("run", cmd_run)):
        p = sub.add_parser(name)
        p.add_argument("--image", required=True, choices=sorted(tq.IMAGES))
        p.add_argument("--schedule", required=True, choices=sorted(SCHEDULES))
        p.set_defaults(fn=fn)
    p = sub.add_parser("cost")
    p.add_argument("--image", required=True, choices=sorted(tq.IMAGES))
    p.add_argument("--schedules", required=True)
    p.set_defaults(fn=cmd_cost)
    p = sub.add_parser("samples", help="a figure: the training image and samples per job")
    p.add_argument("--image", required=True, choices=sorted(tq.IMAGES))
    p.add_argument("--jobs", required=True, help="comma-separated schedule names")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_samples)
    p = sub.add_parser("table")
    p.add_argument("--images", default="brain,histology,coffee")
    p.set_defaults(fn=cmd_table)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
