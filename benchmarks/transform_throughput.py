"""Bridge overhead and DataLoader throughput of the SinGAN transforms.

1. Bridge overhead per sample, as a fraction of the engine's own sampling time: the engine call
   (``sample_normalised`` + ``block_until_ready``) against the bridge work around it
   (torch -> JAX of the input, JAX -> torch of the output, NHWC -> NCHW view, MetaTensor
   rewrap). Also the whole wrapper (``RandSinGANSample`` on a MetaTensor minus the engine).
2. Samples/s of ``RandSinGANSampled`` inside a MONAI DataLoader with 2 spawn workers
   (persistent; the first epoch, with worker start-up and JIT compilation, is reported apart),
   against ``num_workers=0``.

The pyramid is *untrained* (real architecture and shapes, fresh weights): the compute cost
is that of a trained pyramid of the same size. Run:

    python benchmarks/transform_throughput.py --size 128 --reps 20 --samples 16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def _median_time(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _image(size: int, c: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ch = [50 + 40 * np.sin(xx / (5 + i)) * np.cos(yy / (7 + i)) for i in range(c)]
    return np.stack(ch).astype(np.float32)


def bridge_overhead(pyr, size: int, reps: int, start_scale: int) -> dict:
    import jax
    from monai.data import MetaTensor
    from singan_augment.transforms import RandSinGANSample
    from singan_augment.transforms.bridge import jax_to_torch, rewrap_like, torch_to_jax
    from singan_augment.transforms.planes import normalise_planes

    from singan_augment.engine.sample import sample_normalised

    key = jax.random.PRNGKey(0)
    img = MetaTensor(torch.from_numpy(_image(size)), affine=torch.eye(4))

    def engine():
        sample_normalised(
            pyr, key, 1, start_scale=start_scale, size=(size, size)
        ).block_until_ready()

    out = sample_normalised(pyr, key, 1, start_scale=start_scale, size=(size, size))
    out.block_until_ready()
    nhwc_in = normalise_planes(pyr.channels, img.as_tensor()[None])

    def bridge_only():
        j, _ = torch_to_jax(nhwc_in)  # the input (inject mode's path)
        t = jax_to_torch(out).permute(0, 3, 1, 2)[0]  # the output, NCHW view
        rewrap_like(t, img)
        return j

    t_engine = _median_time(engine, reps)
    t_bridge = _median_time(bridge_only, max(reps * 10, 100))
    tr = RandSinGANSample(pyr, prob=1.0, start_scale=start_scale).set_random_state(0)
    t_transform = _median_time(lambda: tr(img), reps)
    return {
        "engine_ms": 1e3 * t_engine,
        "bridge_us": 1e6 * t_bridge,
        "bridge_frac": t_bridge / t_engine,
        "transform_ms": 1e3 * t_transform,
        "wrapper_frac": (t_transform - t_engine) / t_engine,
    }


def dataloader_throughput(pyr_dir: str, size: int, n: int, workers: int, start_scale: int):
    from monai.data import DataLoader, Dataset
    from singan_augment.transforms import RandSinGANSampled, safe_dataloader_kwargs

    x = _image(size)
    rows = [{"image": x.copy()} for _ in range(n)]
    t = RandSinGANSampled(["image"], pyramid=pyr_dir, prob=1.0, start_scale=start_scale)
    ds = Dataset(rows, transform=t)
    kw = safe_dataloader_kwargs() if workers else {}
    dl = DataLoader(ds, batch_size=1, num_workers=workers, **kw)
    res = []
    for _ in range(2):
        t0 = time.perf_counter()
        k = sum(1 for _ in dl)
        res.append(k / (time.perf_counter() - t0))
    return res  # [first epoch (start-up + compile), steady epoch]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128, help="square image side")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--samples", type=int, default=16, help="samples per DataLoader epoch")
    ap.add_argument("--start-scale", type=int, default=1)
    ap.add_argument("--skip-dataloader", action="store_true")
    args = ap.parse_args()

    import tempfile

    import jax

    from singan_augment.files.pyramid_files import save_pyramid
    from singan_augment.testing import untrained_pyramid

    pyr = untrained_pyramid(_image(args.size), 0, channel_names=["t1", "t2", "flair"])
    print(f"jax {jax.__version__} on {jax.default_backend()}, torch {torch.__version__}")
    print(f"pyramid: {pyr.num_scales} scales {pyr.shapes[0]}..{pyr.shapes[-1]}, 3 channels")
    b = bridge_overhead(pyr, args.size, args.reps, args.start_scale)
    print(
        "| engine sample (ms) | bridge (us) | bridge / engine | transform (ms) | wrapper / engine |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {b['engine_ms']:.1f} | {b['bridge_us']:.0f} | {100 * b['bridge_frac']:.2f}% "
        f"| {b['transform_ms']:.1f} | {100 * b['wrapper_frac']:.1f}% |"
    )
    if args.skip_dataloader:
        return
    with tempfile.TemporaryDirectory() as d:
        pdir = str(save_pyramid(pyr, f"{d}/pyr"))
        print("| DataLoader | first epoch (samples/s) | steady epoch (samples/s) |")
        print("|---|---|---|")
        for w in (0, 2):
            first, steady = dataloader_throughput(
                pdir, args.size, args.samples, w, args.start_scale
            )
            name = "num_workers=0" if w == 0 else "2 spawn workers (persistent)"
            print(f"| {name} | {first:.2f} | {steady:.2f} |")


if __name__ == "__main__":
    main()
