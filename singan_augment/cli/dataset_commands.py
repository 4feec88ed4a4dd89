"""Sub-commands ``fit-dataset``, ``expand`` and ``report`` (registered by ``cli.py``).

Heavy imports happen inside the commands so that ``singan-augment --help`` stays fast.
"""

from __future__ import annotations

import argparse

from singan_augment.engine.schedules import with_coarsest

from .args import add_coarsest_argument, add_num_scales_argument, with_overrides
from .args import positive as _positive


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_fit_dataset(args: argparse.Namespace) -> int:

    from singan_augment.engine.config import ModelConfig, PyramidConfig
    from singan_augment.engine.schedules import check_warm_start_schedule, schedule
    from singan_augment.expansion.fit_dataset import fit_dataset

    ref = schedule(args.schedule or ("finetune" if args.warm_start else "fast"))
    check_warm_start_schedule(ref, args.warm_start)  # before --iters makes it "custom"
    tcfg = with_overrides(ref, iters=args.iters, concurrent_stages=args.concurrent_stages)
    tcfg = with_coarsest(tcfg, args.coarsest or "rule")  # "rule" keeps the schedule's
    pcfg = with_overrides(
        PyramidConfig(), max_size=args.max_size, min_size=args.min_size, num_scales=args.num_scales
    )
    mcfg = with_overrides(
        ModelConfig(),
        nfc_init=args.nfc,
        nfc_max=args.nfc_max,
        conv_impl=args.conv_impl,
        num_layers=args.num_layers,
    )
    report = fit_dataset(
        args.input,
        args.out,
        seed=args.seed,
        model_config=mcfg,
        train_config=tcfg,
        pyramid_config=pcfg,
        image_keys=_names(args.image_keys) if args.image_keys else None,
        label_key=args.label_key,
        executor=args.executor,
        ray_address=args.ray_address,
        max_retries=args.max_retries,
        progress=not args.quiet,
        warm_start=args.warm_start,
        volumes=args.volumes,
    )
    print(report.table(f"fit-dataset {args.input} -> {args.out}"))
    return 0 if report.ok else 1


def cmd_expand(args: argparse.Namespace) -> int:
    from singan_augment.expansion.expand import expand

    report = expand(
        args.pyramids,
        args.out,
        args.n,
        fmt=args.format,
        seed=args.seed,
        start_scale=args.start_scale,
        inject_scale=args.inject_scale,
        executor=args.executor,
        ray_address=args.ray_address,
        max_retries=args.max_retries,
        progress=not args.quiet,
    )
    print(report.table(f"expand {args.pyramids} -> {args.out} (datalist.json)"))
    return 0 if report.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from singan_augment.expansion.report import make_report

    path = make_report(args.path, args.out, n=args.n, seed=args.seed, max_rows=args.max_rows)
    print(f"wrote {path}")
    return 0


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", help="connect to this Ray cluster (default: start a local one)")
    p.add_argument("--max-retries", type=int, default=2, help="Ray task retries (default 2)")
    p.add_argument("--quiet", action="store_true")


def register(sub) -> None:
    f = sub.add_parser(
        "fit-dataset",
        help="train one pyramid per image of a folder or MONAI datalist (skip done, resume partial)",
    )
    f.add_argument(
        "input", help="folder of images (png/npy/nii.gz) or a decathlon-style datalist .json"
    )
    f.add_argument("--out", required=True, help="folder of pyramids, one sub-folder per image")
    f.add_argument(
        "--schedule",
        choices=["fast", "finetune", "singan"],
        help="training schedule: fast (the default from scratch), finetune (the default with "
        "--warm-start: fast's step at 300 iterations) or the published singan; see "
        "docs/time_to_quality.md",
    )
    f.add_argument(
        "--iters",
        type=_positive,
        help="iterations at the coarsest scale (overrides the schedule's)",
    )
    f.add_argument(
        "--concurrent-stages",
        type=_positive,
        help="generators trained together (overrides the schedule's: fast 3, singan 1)",
    )
    add_coarsest_argument(f)
    f.add_argument("--max-size", type=_positive, help="finest scale's long side (default 250)")
    f.add_argument("--min-size", type=_positive, help="coarsest scale's short side (default 25)")
    add_num_scales_argument(f)
    f.add_argument("--nfc", type=_positive, help="width at scale 0 (default 32)")
    f.add_argument("--nfc-max", type=_positive, help="maximum width (default 128)")
    f.add_argument(
        "--num-layers", type=_positive, help="3x3 convolutions per generator/critic (default 5)"
    )
    f.add_argument("--conv-impl", help="convolution implementation")
    f.add_argument(
        "--seed",
        type=int,
        default=0,
        help="run seed; each pyramid's seed derives from it and its name",
    )
    f.add_argument(
        "--label-key", default="label", help="datalist key of the label map (one-hot encoded)"
    )
    f.add_argument("--image-keys", help="datalist keys stacked as channels, e.g. t1,t2,flair")
    f.add_argument(
        "--warm-start",
        help="a complete pyramid of a sibling image (same channels, scale count and model) to "
        "initialise every pyramid from, then fine-tune with the schedule (finetune unless "
        "--schedule says otherwise)",
    )
    f.add_argument(
        "--volumes",
        action="store_true",
        help="train one 3-D volume pyramid per entry (3-D NIfTI per contrast); expand then "
        "writes NIfTI volumes with each source's affine",
    )
    _executor_args(f)
    f.set_defaults(func=cmd_fit_dataset)

    e = sub.add_parser(
        "expand", help="N synthetic image+label pairs per pyramid, plus a MONAI datalist"
    )
    e.add_argument("pyramids", help="a fit-dataset output folder (or one pyramid)")
    e.add_argument("--n", type=_positive, required=True, help="synthetic pairs per pyramid")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--start-scale", type=int, help="sample from this scale (default 0)")
    g.add_argument("--inject-scale", type=int, help="inject the real image at this scale instead")
    e.add_argument("--out", required=True)
    e.add_argument(
        "--format",
        choices=["nii.gz", "png", "npy"],
        default="nii.gz",
        help="output files (default nii.gz; a volume pyramid trained from NIfTI writes its "
        "volumes with the source's affine)",
    )
    e.add_argument("--seed", type=int, default=0)
    _executor_args(e)
    e.set_defaults(func=cmd_expand)

    r = sub.add_parser(
        "report",
        help="sample grids and quality figures for a pyramid, pyramids or expanded dataset",
    )
    r.add_argument("path", help="a pyramid, a fit-dataset folder, or an expand output folder")
    r.add_argument("--out", required=True, help="report.html or report.png")
    r.add_argument("--n", type=_positive, default=6, help="samples per pyramid shown (default 6)")
    r.add_argument(
        "--max-rows", type=_positive, default=8, help="pyramids shown at most (default 8)"
    )
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(func=cmd_report)
