"""The ``singan-augment`` command line. Heavy imports happen inside each command, so
``--help`` is fast. Errors caused by the input print one line and exit with code 2."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from singan_augment.engine.schedules import with_coarsest

from . import dataset_commands, demo
from .args import add_coarsest_argument, add_num_scales_argument, with_overrides
from .args import positive as _positive


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = text.lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 128x160, got {text!r}") from None


def _factors(text: str) -> tuple[float, float]:
    try:
        a, b = text.lower().split("x")
        return float(a), float(b)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected VxH factors, e.g. 1x1.5, got {text!r}"
        ) from None


def _spacing(text: str) -> float | tuple[float, ...]:
    """One value (isotropic), ROW,COL, or SLICE,ROW,COL for a volume."""
    from singan_augment.engine.resolution import check_spacing

    try:
        parts = [float(v) for v in text.lower().replace("x", ",").split(",")]
        if len(parts) == 1:
            return check_spacing(parts[0], "--spacing")[0]
        return check_spacing(parts, "--spacing", dims=len(parts) if len(parts) == 3 else 2)
    except ValueError:  # float() or check_spacing's InputError
        raise argparse.ArgumentTypeError(
            "expected a positive pixel spacing in mm: ROW,COL, SLICE,ROW,COL (a volume) or one "
            f"value, e.g. 0.9,0.9, got {text!r}"
        ) from None


def _slice(text: str) -> tuple[int, int]:
    try:
        axis, index = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected AXIS:INDEX, e.g. 2:77 (axis 0, 1 or 2 of the volume), got {text!r}"
        ) from None
    if axis not in (0, 1, 2):
        raise argparse.ArgumentTypeError(f"the slice axis must be 0, 1 or 2, got {axis}")
    return axis, index


def _input_spacing(args: argparse.Namespace, paths, **kwargs) -> tuple[float, ...] | None:
    """--spacing if given, else the files' own (NIfTI; ``kwargs`` as ``read_spacing``'s),
    else None (unknown)."""
    from singan_augment.files.images import read_stack_spacing

    return args.spacing if args.spacing is not None else read_stack_spacing(paths, **kwargs)


def _source_provenance(paths, image) -> dict:
    """What ``train`` records about its input files: their names, and for a NIfTI volume its
    affine and voxel shape (``expand``/``sample``/``harmonize`` write volumes in that space)."""
    from singan_augment.files.images import read_stack_affine

    prov: dict = {"source": [str(Path(p).name) for p in paths]}
    affine = read_stack_affine(paths) if image.ndim == 4 else None
    if affine is not None:
        prov["affine"] = affine.tolist()
        prov["source_shape"] = [int(n) for n in image.shape[1:]]
    return prov


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_train(args: argparse.Namespace) -> int:

    from singan_augment.files.images import read_stack
    from singan_augment.files.lock import FolderLock

    image = read_stack(args.image, volume=True, slice_at=args.slice)
    out = Path(args.out)
    created = not out.exists()
    try:
        # One writer per folder: a second train (or fit-dataset) into --out fails here at once.
        with FolderLock(out, "train"):
            return _train(args, image, out)
    except BaseException:
        # a run that stopped before its first checkpoint (bad options, an early signal)
        # leaves no empty --out behind
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _train(args: argparse.Namespace, image, out: Path) -> int:
    from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig
    from singan_augment.engine.fit import fit
    from singan_augment.engine.scales import format_shape
    from singan_augment.errors import InputError
    from singan_augment.files.pyramid_files import checkpoint_exists, load_pyramid, save_pyramid

    resume = None
    mcfg, tcfg, pcfg = ModelConfig(), TrainConfig(), PyramidConfig()
    exists = checkpoint_exists(out)
    if exists and not args.resume:
        raise InputError(
            f"{out} already holds a pyramid: pass --resume to continue it, or choose another --out"
        )
    if args.resume and exists:
        resume = load_pyramid(out, require_complete=False)
        mcfg, tcfg, pcfg = resume.model_config, resume.train_config, resume.pyramid_config
        if args.seed is None:
            args.seed = int(resume.provenance.get("seed", 0))
        if resume.complete:
            print(f"{out}: already complete ({resume.num_scales} scales); nothing to do")
            return 0
    if args.schedule is not None:
        from singan_augment.engine.schedules import with_schedule

        tcfg = with_schedule(tcfg, args.schedule)
    tcfg = with_overrides(
        tcfg,
        iters=args.iters,
        coarsest_noise=args.coarsest_noise,
        concurrent_stages=args.concurrent_stages,
    )
    tcfg = with_coarsest(tcfg, args.coarsest or "rule")  # "rule" keeps the schedule's
    pcfg = with_overrides(
        pcfg,
        max_size=args.max_size,
        min_size=args.min_size,
        scale_factor=args.scale_factor,
        num_scales=args.num_scales,
    )
    mcfg = with_overrides(
        mcfg,
        conv_impl=args.conv_impl,
        nfc_init=args.nfc,
        nfc_max=args.nfc_max,
        num_layers=args.num_layers,
    )
    names = _names(args.channels) if args.channels else None
    labels = _names(args.label_channels) if args.label_channels else []
    if resume is not None:
        names = names or list(resume.channels.names)
        labels = labels or [
            n for n, k in zip(resume.channels.names, resume.channels.kinds) if k == "label"
        ]
    times: dict[int, dict] = {}

    def checkpoint(pyrs, scale, summaries):
        times[scale] = summaries[0]
        save_pyramid(pyrs[0], out, extra={"train_log": {str(k): v for k, v in times.items()}})

    t0 = time.perf_counter()
    pyr = fit(
        image,
        args.seed or 0,
        channel_names=names,
        label_channels=labels,
        model_config=mcfg,
        train_config=tcfg,
        pyramid_config=pcfg,
        provenance=_source_provenance(args.image, image),
        resume=resume,
        on_scale_done=checkpoint,
        progress=not args.quiet,
        spacing=_input_spacing(args, args.image, volume=image.ndim == 4, slice_at=args.slice),
    )
    print(f"trained {pyr.num_scales} scales in {time.perf_counter() - t0:.1f} s -> {out}")
    print(f"{'scale':>5} {'size':>9} {'nfc':>4} {'s/iter':>8} {'rec RMSE':>9} {'noise amp':>9}")
    for n, s in sorted(times.items()):
        print(
            f"{n:>5} {format_shape(pyr.shapes[n]):>9} {mcfg.nfc(n):>4} {s['s_per_iter']:>8.4f} {s['rec_rmse']:>9.4f} {s['noise_amp']:>9.4f}"
        )
    return 0


def _write_outputs(out: Path, stem: str, image, labels, pyr, fmt: str) -> None:
    from singan_augment.files.atomic import atomic_write
    from singan_augment.files.images import png_bytes, preview, write_array
    from singan_augment.files.pyramid_files import output_affine

    ch = pyr.channels
    affine = output_affine(pyr, image.shape[1:])
    write_array(out / f"{stem}.{fmt}", image, affine)
    if labels is not None:
        write_array(
            out / f"{stem}_label.{fmt}",
            labels[None].astype("uint8") if fmt != "npy" else labels,
            affine,
        )
    if image.ndim == 4:  # a volume: the PNG previews its middle slice along the first axis
        mid = image.shape[1] // 2
        image, labels = image[:, mid], None if labels is None else labels[mid]
    atomic_write(
        out / f"{stem}.png", png_bytes(preview(image, ch.names, ch.kinds, ch.low, ch.high, labels))
    )


def cmd_sample(args: argparse.Namespace) -> int:
    import jax

    from singan_augment.engine.sample import sample
    from singan_augment.files.pyramid_files import load_pyramid

    pyr = load_pyramid(args.pyramid)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.PRNGKey(args.seed)
    done = 0
    chunk = 0
    from tqdm.auto import tqdm

    with tqdm(total=args.n, desc="sampling", disable=args.quiet, unit="img") as bar:
        while done < args.n:
            k = min(args.batch, args.n - done)
            res = sample(
                pyr,
                jax.random.fold_in(key, chunk),
                k,
                start_scale=args.start_scale,
                size=args.size,
                factors=args.factors,
            )
            for i in range(k):
                lab = None if res.labels is None else res.labels[i]
                _write_outputs(out, f"sample_{done + i:04d}", res.images[i], lab, pyr, args.format)
            done += k
            chunk += 1
            bar.update(k)
    print(f"wrote {args.n} samples to {out}")
    return 0


def cmd_harmonize(args: argparse.Namespace) -> int:
    from singan_augment.engine.harmonize import edit, harmonize
    from singan_augment.files.images import read_affine, read_image, write_array
    from singan_augment.files.pyramid_files import load_pyramid

    pyr = load_pyramid(args.pyramid)
    volume = pyr.spatial_dims == 3  # a volume pyramid takes a 3D composite and mask
    comp = read_image(args.composite, volume=volume)
    mask = read_image(args.mask, volume=volume)
    if mask.shape[0] != 1:
        mask = mask.max(axis=0, keepdims=True)
    fn = edit if args.editing else harmonize
    spacing = _input_spacing(args, [args.composite], volume=volume)
    res = fn(pyr, comp, mask[0] > 0, args.scale, args.seed, spacing=spacing)
    # a volume keeps the composite's own placement (the result has its voxel grid)
    write_array(args.out, res, read_affine(args.composite) if volume else None)
    print(f"wrote {args.out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from singan_augment.engine.scales import format_shape
    from singan_augment.engine.schedules import schedule_name
    from singan_augment.files.pyramid_files import (
        model_config_from_meta,
        read_metadata,
        train_config_from_meta,
    )

    meta = read_metadata(args.pyramid)
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    ch = meta["channels"]
    mcfg = model_config_from_meta(meta)
    tcfg = train_config_from_meta(meta)
    shapes = [tuple(s) for s in meta["shapes"]]
    fixed = meta.get("pyramid_config", {}).get("num_scales", 0)
    count = f" (a fixed count, --num-scales {fixed})" if fixed else ""
    print(
        f"pyramid {args.pyramid}: {meta['num_trained']}/{len(meta['shapes'])} scales trained{count}"
    )
    print("channels: " + ", ".join(f"{n} ({k})" for n, k in zip(ch["names"], ch["kinds"])))
    print(
        f"schedule: {meta.get('schedule', schedule_name(tcfg))}; "
        f"clamp to [-1, 1]: {'yes' if mcfg.clamp else 'no'}"
        + (
            f"; {tcfg.concurrent_stages} stages trained concurrently "
            f"(lr x{tcfg.concurrent_lr_scale:g} per stage back"
            + (
                f"; the coarsest {tcfg.concurrent_frozen_scales} frozen once trained)"
                if tcfg.concurrent_frozen_scales
                else ")"
            )
            if tcfg.concurrent_stages > 1
            else ""
        )
    )
    if tcfg.concurrent_freeze_diversity > 0:
        limit = tcfg.concurrent_freeze_diversity
        prov = meta.get("provenance")
        d = prov.get("coarsest_diversity") if isinstance(prov, dict) else None
        if isinstance(d, int | float) and not isinstance(d, bool):
            decision = "frozen" if d > limit else "fine-tuned with the finer scales"
            measured = f"measured {d:.3f}, so {decision}"
        else:
            measured = "not measured yet (scale 0 untrained)"
        print(f"the coarsest generator is frozen if its own diversity > {limit:g}: {measured}")
    sp = meta.get("spacing")
    axes = "row x col" if len(sp or ()) != 3 else "slice x row x col"
    print(
        f"spatial dims: {meta.get('spatial_dims', 2)} ({'volume' if meta.get('spatial_dims') == 3 else 'image'})"
    )
    print(
        "finest-scale pixel spacing: "
        + ("unknown" if sp is None else " x ".join(f"{v:.4g}" for v in sp) + f" ({axes}, e.g. mm)")
    )
    print(f"source: {meta.get('provenance', {})}")
    for n, s in enumerate(meta["shapes"]):
        amp = meta["noise_amps"][n] if n < len(meta["noise_amps"]) else None
        print(
            f"  scale {n}: {format_shape(s)} nfc {mcfg.nfc(n)} iters {tcfg.scale_iters(n, shapes)[0]}"
            + (f" noise amp {amp:.4f}" if amp is not None else " (untrained)")
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="singan-augment", description="SinGAN pyramids (JAX) for medical-image augmentation"
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train", help="train a pyramid on one image (several files = channels, in order)"
    )
    t.add_argument(
        "image",
        nargs="+",
        help="PNG/JPEG/TIFF, .npy (C,H,W) or 2D NIfTI; several files are stacked",
    )
    t.add_argument(
        "--out", required=True, help="pyramid directory (checkpointed after every scale)"
    )
    t.add_argument("--channels", help="comma-separated channel names, e.g. t1,t2,flair")
    t.add_argument(
        "--label-channels", help="comma-separated names of label (mask / one-hot) channels"
    )
    t.add_argument(
        "--schedule",
        choices=["singan", "fast"],
        help="training schedule: singan (published, default) or fast (docs/time_to_quality.md)",
    )
    t.add_argument(
        "--iters", type=_positive, help="iterations at the coarsest scale (default: the schedule's)"
    )
    t.add_argument(
        "--concurrent-stages",
        type=_positive,
        help="train the generators of this many scales together, ConSinGAN-style (default: "
        "the schedule's, 1 = published)",
    )
    add_coarsest_argument(t)
    t.add_argument("--max-size", type=_positive, help="finest scale's long side (default 250)")
    t.add_argument("--min-size", type=_positive, help="coarsest scale's short side (default 25)")
    t.add_argument("--scale-factor", type=float, help="pyramid factor (default 0.75)")
    add_num_scales_argument(t)
    t.add_argument("--coarsest-noise", choices=["shared", "independent"])
    t.add_argument("--nfc", type=_positive, help="width at scale 0 (default 32)")
    t.add_argument("--nfc-max", type=_positive, help="maximum width (default 128)")
    t.add_argument(
        "--num-layers", type=_positive, help="3x3 convolutions per generator/critic (default 5)"
    )
    t.add_argument("--conv-impl", help="convolution implementation (default auto)")
    t.add_argument(
        "--spacing",
        type=_spacing,
        help="the image's pixel spacing in mm: ROW,COL, SLICE,ROW,COL for a volume, or one "
        "value (default: the NIfTI header's, else unknown); recorded so the pyramid later "
        "runs at its own resolution",
    )
    t.add_argument(
        "--slice",
        type=_slice,
        metavar="AXIS:INDEX",
        help="train a 2D pyramid on one slice of a 3D volume (default: a 3D NIfTI trains a "
        "volume pyramid with 3x3x3 convolutions)",
    )
    t.add_argument("--seed", type=int, default=None)
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the pyramid in --out from its last finished scale",
    )
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw random samples from a pyramid")
    s.add_argument("pyramid")
    s.add_argument("--n", type=_positive, default=8)
    s.add_argument("--start-scale", type=int, default=0)
    g = s.add_mutually_exclusive_group()
    g.add_argument("--size", type=_size, help="output HxW")
    g.add_argument(
        "--factors", type=_factors, help="output size as VxH multiples of the training size"
    )
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--batch", type=_positive, default=16)
    s.add_argument("--format", choices=["npy", "nii.gz", "nii"], default="npy")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_sample)

    h = sub.add_parser("harmonize", help="harmonize a naive composite at an injection scale")
    h.add_argument("pyramid")
    h.add_argument("--composite", required=True)
    h.add_argument("--mask", required=True)
    h.add_argument("--scale", type=int, required=True)
    h.add_argument("--out", required=True, help=".npy, .nii.gz or .png")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--editing", action="store_true", help="wider blend mask (editing)")
    h.add_argument(
        "--spacing",
        type=_spacing,
        help="the composite's pixel spacing in mm, ROW,COL or one value (default: the NIfTI "
        "header's, else unknown); the pyramid then runs at its own recorded spacing",
    )
    h.set_defaults(func=cmd_harmonize)

    i = sub.add_parser("info", help="describe a pyramid")
    i.add_argument("pyramid")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)
    demo.register(sub)
    dataset_commands.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code.

    0 done; 1 OS error (unwritable --out, disk full); 2 refused input (one ``error:`` line, no
    traceback); 130 / 143 stopped by Ctrl-C / SIGTERM - at once, leaving the last checkpoint and
    at most temporary files, with the command that continues the work.
    """
    from singan_augment.errors import SinGANError

    parser = build_parser()
    args = parser.parse_args(argv)
    with stop_on_sigterm() as received:
        try:
            return int(args.func(args) or 0)
        except SinGANError as e:
            print(f"singan-augment: error: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # unwritable --out, disk full, a file where a folder should be...
            print(f"singan-augment: error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            signum = received[0] if received else signal.SIGINT
            name = signal.Signals(signum).name
            print(f"singan-augment: stopped by {name}; {_progress(args)}", file=sys.stderr)
            hint = _resume_hint(args, sys.argv[1:] if argv is None else list(argv))
            if hint:
                print(f"singan-augment: to continue: {hint}", file=sys.stderr)
            return 128 + int(signum)


def in_swallowing_context(frame) -> bool:
    """True if ``frame`` runs inside a gc callback or a ``__del__`` method, where an exception
    raised by a signal handler would be printed and dropped instead of propagating."""
    import gc

    codes = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


@contextmanager
def stop_on_sigterm():
    """Within the block, SIGTERM stops the command as Ctrl-C does (a ``KeyboardInterrupt`` in
    the main thread), so both unwind through the same clean-up: atomic writes delete their
    temporary file, executors shut down. Yields a list that receives the signal's number."""
    received: list[int] = []

    def on_signal(signum, frame):
        if in_swallowing_context(frame):
            # Python prints and drops exceptions raised in a gc callback or ``__del__`` (JAX
            # runs one on every collection): the stop would be lost. Deliver it again shortly.
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        received.append(signum)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    old = signal.signal(signal.SIGTERM, on_signal)
    old_int = signal.signal(signal.SIGINT, on_signal)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)


def _progress(args: argparse.Namespace) -> str:
    """What is safely on disk after an interruption, in words."""
    if args.command != "train":
        return "finished outputs are on disk; unfinished ones left at most temporary files"
    from singan_augment.errors import SinGANError
    from singan_augment.files.pyramid_files import read_metadata

    try:
        meta = read_metadata(args.out)
    except (SinGANError, OSError):
        return f"no scale was finished, nothing was saved in {args.out}"
    return f"{meta['num_trained']} of {len(meta['shapes'])} scales are saved in {args.out}"


def _resume_hint(args: argparse.Namespace, argv: list[str]) -> str | None:
    if args.command == "train":
        return shlex.join(["singan-augment", *argv, *([] if args.resume else ["--resume"])])
    if args.command in ("fit-dataset", "expand"):
        return shlex.join(["singan-augment", *argv]) + "   (finished work is skipped)"
    return None
