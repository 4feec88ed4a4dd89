"""Soak test: ``RandSinGANSampled`` in a MONAI DataLoader with spawn workers, thousands of samples.

A bounded reliability benchmark (not part of CI). It runs the shipped ``brain_t1_t2_flair``
pyramid (3 channels t1 / t2w_sim / flair_sim, trained at 80x65) as a MONAI dictionary transform
inside ``monai.data.DataLoader(num_workers=2, **safe_dataloader_kwargs())`` and checks:

* **no deadlock:** every batch must arrive within ``--batch-timeout`` seconds (DataLoader
  ``timeout=``) and the whole run within ``--deadline`` seconds (a watchdog thread prints the
  stacks, ends the workers it knows of and exits with status 3);
* **values:** every sample has the input's shape, dtype float32, only finite values, a
  non-constant image, and values within the pyramid's training range ``[low, high]`` widened
  by ``--margin`` (default 25%) of its width on each side. Why that range: the engine's output
  at each scale is ``tanh(G(noise + prev)) + prev``, with no final clip, so it is not bounded by
  construction; a trained generator reproduces the training distribution, whose values lie in
  ``[low, high]`` (in ``[-1, 1]`` normalised units), and only spreads slightly beyond it.
  Values far outside mean garbage (wrong (de)normalisation, a reused or uninitialised buffer,
  divergence). The fraction of values outside the strict ``[low, high]`` is reported too;
* **bounded metadata:** the length of each output's ``applied_operations`` is the same for
  every sample (a history that grows from call to call would be a leak);
* **randomness:** the per-sample engine seeds (recorded in ``applied_operations``) are
  distinct across samples and workers (duplicates are counted; a few are expected by chance
  only for very long runs);
* **memory:** resident set size (RSS, ``VmRSS``) of the main process and of each worker at the
  start (after ``--warmup`` samples, when every worker has compiled every graph it uses),
  every ``--every`` samples, and at the end; the verdict compares end against start.

Each sample is a random choice (MONAI ``OneOf``) between ``mode="sample"`` with a start scale
drawn in 0..2 and ``mode="inject"`` with an injection scale drawn in 1..3, ``prob=1.0``, so every
sample goes through the engine. The input is the pyramid's source slice
(``singan_augment.data.brain_multicontrast(4)``) resized to the trained 80x65, as a
MetaTensor. The main process runs no JAX operation (the workers load the pyramid from its
directory themselves).

    python benchmarks/soak_loader.py --samples 3000

Exit status: 0 pass, 1 a value/seed check failed or memory grew beyond ``--max-growth``,
3 the deadline passed (deadlock or far too slow).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import threading
import time

import numpy as np
import torch

PYRAMID = "brain_t1_t2_flair"
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process (psutil if installed, else /proc/<pid>/status VmRSS)."""
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - the process is gone
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def input_image(shape: tuple[int, int]) -> np.ndarray:
    """The pyramid's source slice (3, H, W) in [0, 1], resized (antialiased bicubic) to ``shape``."""
    from singan_augment.data import brain_multicontrast

    img, _ = brain_multicontrast(4)
    t = torch.from_numpy(np.ascontiguousarray(img))[None]
    t = torch.nn.functional.interpolate(t, size=shape, mode="bicubic", antialias=True)
    return t[0].clamp(0.0, 1.0).numpy().astype(np.float32)


class Record:
    """Last transform of the pipeline: plain tensors and what the checks need (picklable)."""

    def __call__(self, d: dict) -> dict:
        img = d["image"]
        ops = [
            op
            for op in getattr(img, "applied_operations", [])
            if op.get("class") == "RandSinGANSampled"
        ]
        info = ops[-1]["extra_info"] if ops else {}
        return {
            "history": len(getattr(img, "applied_operations", [])),
            "image": img.as_tensor() if hasattr(img, "as_tensor") else torch.as_tensor(img),
            "index": d["index"],
            "seed": int(info.get("seed", -1)),
            "mode": 0 if info.get("mode") == "sample" else 1,
            "scale": int(info.get("scale", -1)),
            "pid": os.getpid(),
        }


def build_loader(n: int, image: np.ndarray, args: argparse.Namespace):
    from monai.data import DataLoader, Dataset, MetaTensor
    from monai.transforms import Compose, OneOf
    from singan_augment.transforms import RandSinGANSampled, safe_dataloader_kwargs

    from singan_augment import pretrained

    pdir = str(pretrained.path(PYRAMID))
    keys = ["image"]
    aug = OneOf(
        [
            RandSinGANSampled(keys, pyramid=pdir, prob=1.0, start_scale=(0, 2), mode="sample"),
            RandSinGANSampled(keys, pyramid=pdir, prob=1.0, start_scale=(1, 3), mode="inject"),
        ]
    )
    meta = MetaTensor(torch.from_numpy(image), affine=torch.eye(4))
    data = [{"image": meta, "index": i} for i in range(n)]
    ds = Dataset(data, transform=Compose([aug, Record()]))
    return DataLoader(
        ds,
        batch_size=args.batch_size,
        num_workers=args.workers,
        timeout=args.batch_timeout,
        **safe_dataloader_kwargs(),
    )


def start_watchdog(deadline: float, worker_pids: set[int]) -> threading.Timer:
    def fire() -> None:
        sys.stderr.write(
            f"\nSOAK FAILED: the run exceeded its deadline of {deadline:.0f} s "
            "(deadlock or far too slow). Stacks of the main process:\n"
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for pid in sorted(worker_pids):  # only the DataLoader workers this run started
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        sys.stderr.flush()
        os._exit(3)

    t = threading.Timer(deadline, fire)
    t.daemon = True
    t.start()
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=3000, help="samples in total (default 3000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=200, help="samples before the start RSS")
    ap.add_argument("--every", type=int, default=250, help="RSS every N samples")
    ap.add_argument("--batch-timeout", type=float, default=300.0, help="DataLoader timeout (s)")
    ap.add_argument("--deadline", type=float, default=3600.0, help="whole-run limit (s)")
    ap.add_argument("--margin", type=float, default=0.25, help="range margin (x range width)")
    ap.add_argument(
        "--max-growth", type=float, default=0.10, help="fail if any RSS grows more (fraction)"
    )
    ap.add_argument("--json", help="also write the measurements to this JSON file")
    args = ap.parse_args(argv)
    if args.samples <= args.warmup:
        ap.error("--samples must exceed --warmup")

    worker_pids: set[int] = set()
    t_wall = time.perf_counter()
    watchdog = start_watchdog(args.deadline, worker_pids)

    from singan_augment import pretrained

    meta = json.loads((pretrained.path(PYRAMID) / "pyramid.json").read_text())
    shape = tuple(meta["shapes"][-1])
    low = np.array(meta["channels"]["low"], np.float32)
    high = np.array(meta["channels"]["high"], np.float32)
    width = high - low
    lo_ok = (low - args.margin * width)[:, None, None]
    hi_ok = (high + args.margin * width)[:, None, None]
    image = input_image(shape)
    loader = build_loader(args.samples, image, args)

    print(
        f"soak: {args.samples} samples of RandSinGANSampled ({PYRAMID}, 3x{shape[0]}x{shape[1]}, "
        f"OneOf sample scale 0-2 / inject scale 1-3, prob 1.0), DataLoader num_workers="
        f"{args.workers} spawn persistent, batch {args.batch_size}, batch timeout "
        f"{args.batch_timeout:.0f} s, deadline {args.deadline:.0f} s"
    )
    print(
        "accepted range per channel: "
        + ", ".join(f"[{a:.3f}, {b:.3f}]" for a, b in zip(lo_ok.ravel(), hi_ok.ravel()))
        + f" (training range widened by {args.margin:.0%} of its width)",
        flush=True,
    )
    main_pid = os.getpid()
    rows: list[dict] = []
    seen = 0
    seeds: list[int] = []
    per_worker: dict[int, int] = {}
    modes = [0, 0]
    histories: set[int] = set()
    bad: list[str] = []
    vmin, vmax = float("inf"), float("-inf")
    outside = 0
    total_vals = 0
    next_mark = args.warmup
    t_start = None
    seen_start = 0

    def fmt(v):
        return f"{v / MIB:.1f}" if v is not None else "gone"

    def snapshot(label: str) -> None:
        row = {"label": label, "samples": seen, "t": time.perf_counter() - t_wall}
        row["main"] = rss_bytes(main_pid)
        for pid in sorted(worker_pids):
            row[pid] = rss_bytes(pid)
        if not rows:
            print(
                f"\nRSS (VmRSS) of the main process and the {len(worker_pids)} workers "
                f"(pids {sorted(worker_pids)}), printed as the run goes"
            )
            print(
                f"{'samples':>8} {'time s':>8} {'main MiB':>9} "
                + " ".join(f"{'worker ' + str(k) + ' MiB':>13}" for k in range(len(worker_pids)))
                + "  note"
            )
        rows.append(row)
        cells = " ".join(f"{fmt(row.get(p)):>13}" for p in sorted(worker_pids))
        print(f"{seen:>8} {row['t']:>8.1f} {fmt(row['main']):>9} {cells}  {label}", flush=True)

    batches = iter(loader)
    # the worker processes exist from here on: let the watchdog know them before any batch
    worker_pids.update(w.pid for w in getattr(batches, "_workers", []) if w.pid)
    for batch in batches:
        imgs = batch["image"]
        for pid in batch["pid"].tolist():
            if pid not in worker_pids:
                worker_pids.add(pid)
            per_worker[pid] = per_worker.get(pid, 0) + 1
        for j in range(imgs.shape[0]):
            x = imgs[j]
            idx = int(batch["index"][j])
            if x.shape != (3, *shape) or x.dtype != torch.float32:
                bad.append(f"sample {idx}: shape {tuple(x.shape)} dtype {x.dtype}")
                continue
            a = x.numpy()
            if not np.isfinite(a).all():
                bad.append(f"sample {idx}: non-finite values")
                continue
            if (a < lo_ok).any() or (a > hi_ok).any():
                bad.append(f"sample {idx}: values in [{a.min():.3f}, {a.max():.3f}] out of range")
            if a.std(axis=(1, 2)).min() < 1e-3:
                bad.append(f"sample {idx}: a constant channel")
            vmin, vmax = min(vmin, float(a.min())), max(vmax, float(a.max()))
            outside += int(((a < low[:, None, None]) | (a > high[:, None, None])).sum())
            total_vals += a.size
        for j, h in enumerate(batch["history"].tolist()):
            histories.add(h)
            if len(histories) > 1:
                bad.append(f"sample {int(batch['index'][j])}: applied_operations length {h}")
        seeds += batch["seed"].tolist()
        for m in batch["mode"].tolist():
            modes[m] += 1
        seen += imgs.shape[0]
        if t_start is None and seen >= args.warmup:
            t_start, seen_start = time.perf_counter(), seen
            snapshot("start (after warm-up)")
            next_mark = args.warmup + args.every
        elif t_start is not None and seen >= next_mark and seen < args.samples:
            snapshot("")
            next_mark += args.every
    t_end = time.perf_counter()
    snapshot("end")
    watchdog.cancel()
    del batches, loader  # shuts the persistent workers down

    # ---- report
    pids = sorted(worker_pids)
    start, end = rows[0], rows[-1]
    verdict_ok = True
    print("\nmemory growth, end vs start (after warm-up):")
    for name, key in [("main", "main"), *[(f"worker {k}", p) for k, p in enumerate(pids)]]:
        a, b = start.get(key), end.get(key)
        if a is None or b is None:
            print(f"  {name:<9} not measured at both points")
            continue
        d, frac = (b - a) / MIB, (b - a) / a
        flag = "ok" if frac <= args.max_growth else "GROWTH"
        verdict_ok &= frac <= args.max_growth
        print(
            f"  {name:<9} {a / MIB:8.1f} -> {b / MIB:8.1f} MiB  {d:+7.1f} MiB ({frac:+.1%})  {flag}"
        )
    rate = (seen - seen_start) / (t_end - t_start)
    dup = len(seeds) - len(set(seeds))
    print(
        f"\nsamples: {seen} ({', '.join(f'worker {k}: {per_worker[p]}' for k, p in enumerate(pids))}); "
        f"mode sample {modes[0]}, inject {modes[1]}"
    )
    print(
        f"throughput after warm-up: {rate:.2f} samples/s ({seen - seen_start} samples in "
        f"{t_end - t_start:.1f} s); whole run incl. start-up {time.perf_counter() - t_wall:.1f} s"
    )
    print(
        f"values: all finite = {not any('non-finite' in b for b in bad)}; overall range "
        f"[{vmin:.4f}, {vmax:.4f}]; outside the strict training range "
        f"{outside / max(total_vals, 1):.4%} of values; failed samples {len(bad)}"
    )
    print(f"engine seeds: {len(seeds)} drawn, {dup} duplicates")
    print(f"applied_operations length per sample: {sorted(histories)} (must be one value)")
    for b in bad[:10]:
        print("  BAD", b)
    ok = not bad and verdict_ok and seen == args.samples
    print(
        "\nVERDICT: "
        + ("PASS" if ok else "FAIL")
        + f" - no deadlock ({seen}/{args.samples} samples), "
        + ("values ok" if not bad else f"{len(bad)} bad samples")
        + ", memory "
        + ("within" if verdict_ok else "BEYOND")
        + f" {args.max_growth:.0%} growth"
    )
    if args.json:
        out = {
            "samples": seen,
            "rate": rate,
            "rows": [{str(k): v for k, v in r.items()} for r in rows],
            "worker_pids": pids,
            "bad": bad,
            "range": [vmin, vmax],
            "duplicate_seeds": dup,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
