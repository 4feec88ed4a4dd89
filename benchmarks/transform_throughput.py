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

3. ``--volume``: the shipped 3-D pyramid ``brain_mni152_volume`` on the shipped brain volume
   zero-padded to 64^3 (3 contrasts, its tissue label map, a 2.9 mm MetaTensor affine), in
   the same DataLoaders: ``RandSinGANSampled`` (inject mode, start scale 2; the tissue map passes through)
   and ``SinGANTumourHarmonized`` (a 3-D lesion, injection scale 2). Every batch is checked:
   image and label keep the input's shape and affine, the label stays a discrete map, and
   the tumour label marks the voxels whose image changed most.

    python benchmarks/transform_throughput.py --volume --samples 8
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


def _volume_rows(n: int) -> list[dict]:
    from singan_augment import data

    img, labels, spacing = data.brain_volume()
    pad = [(0, 64 - k) for k in img.shape[1:]]
    img = np.pad(img, [(0, 0), *pad]).astype(np.float32)
    labels = np.pad(labels, pad)[None].astype(np.int64)
    affine = np.diag([*spacing, 1.0])
    return [{"image": img, "label": labels, "affine": affine} for _ in range(n)]


class _ToMeta:
    """Wrap a row's arrays as MetaTensors with its affine (what ``LoadImaged`` would give)."""

    def __call__(self, row: dict) -> dict:
        from monai.data import MetaTensor

        a = torch.from_numpy(row["affine"])
        return {
            "image": MetaTensor(torch.from_numpy(row["image"]), affine=a),
            "label": MetaTensor(torch.from_numpy(row["label"]), affine=a),
            "input": torch.from_numpy(row["image"]).clone(),
        }


def _check_volume_batch(batch: dict, tumour: bool) -> None:
    img, lab, before = batch["image"], batch["label"], batch["input"]
    assert img.shape == (1, 3, 64, 64, 64) and lab.shape == (1, 1, 64, 64, 64), img.shape
    assert torch.allclose(img.affine[0], lab.affine[0]) and float(img.affine[0][0, 0]) > 2.9
    values = set(torch.unique(lab).tolist())
    if not tumour:
        assert values <= {0, 1, 2, 3}, values  # the tissue map, untouched by inject mode
        assert not torch.equal(img.as_tensor(), before), "inject mode changed nothing"
        return
    lesion = lab[0, 0] >= 4  # the tumour's classes sit above the tissue labels
    assert lesion.sum() > 50, int(lesion.sum())
    change = (img[0] - before[0]).abs().amax(0)
    # the label is true: the lesion is where the image changed (its mean change is larger)
    assert change[lesion].mean() > 2 * change[~lesion].mean(), (
        float(change[lesion].mean()),
        float(change[~lesion].mean()),
    )


def volume_throughput(n: int, workers: int, tumour: bool) -> list[float]:
    from monai.data import DataLoader, Dataset
    from monai.transforms import Compose
    from singan_augment.transforms import (
        RandSinGANSampled,
        SinGANTumourHarmonized,
        safe_dataloader_kwargs,
    )

    from singan_augment import pretrained

    pdir = str(pretrained.path("brain_mni152_volume"))
    if tumour:
        t = SinGANTumourHarmonized(
            ["image"], pdir, label_key="label", injection_scale=2, patch_size=16,
            label_map={1: 4, 2: 5, 3: 6},
        )  # fmt: skip
    else:
        # the pyramid has no label channels: inject mode keeps the volume's structure, so
        # its tissue map passes through untouched
        t = RandSinGANSampled(["image"], pyramid=pdir, prob=1.0, mode="inject", start_scale=2)
    ds = Dataset(_volume_rows(n), transform=Compose([_ToMeta(), t]))
    kw = safe_dataloader_kwargs() if workers else {}
    dl = DataLoader(ds, batch_size=1, num_workers=workers, **kw)
    res = []
    for _ in range(2):
        t0 = time.perf_counter()
        k = 0
        for batch in dl:
            _check_volume_batch(batch, tumour)
            k += 1
        res.append(k / (time.perf_counter() - t0))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128, help="square image side")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--samples", type=int, default=16, help="samples per DataLoader epoch")
    ap.add_argument("--start-scale", type=int, default=1)
    ap.add_argument("--skip-dataloader", action="store_true")
    ap.add_argument("--volume", action="store_true", help="the 64^3 3-D pyramid benchmark")
    args = ap.parse_args()
    if args.volume:
        print("| 64^3 x 3 contrasts, brain_mni152_volume | DataLoader | first epoch (volumes/s) "
              "| steady epoch (volumes/s) |")  # fmt: skip
        print("|---|---|---|---|")
        for tumour in (False, True):
            what = "tumour harmonize (scale 2)" if tumour else "inject mode (start scale 2)"
            for w in (0, 2):
                first, steady = volume_throughput(args.samples, w, tumour)
                name = "num_workers=0" if w == 0 else "2 spawn workers (persistent)"
                print(f"| {what} | {name} | {first:.2f} | {steady:.2f} |", flush=True)
        return

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
