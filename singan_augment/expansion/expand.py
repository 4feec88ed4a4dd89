"""``expand``: N synthetic image + label pairs per pyramid and a MONAI datalist, each output
written atomically and exactly once across interrupted reruns."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from singan_augment.errors import InputError, PyramidFileError
from singan_augment.files.atomic import remove_stale_temps
from singan_augment.files.images import suffix
from singan_augment.files.lock import FolderLock

from .executors import Row, RunReport, run_jobs
from .sources import DATALIST_NAME, derive_seed, safe_name

CHUNK = 8  # samples are drawn in fixed chunks of 8 keys, so output i never depends on N


def _ray_expand_one(job: dict[str, Any]) -> dict[str, Any]:
    return expand_one(**job)


def find_pyramids(directory: str | os.PathLike) -> list[tuple[str, Path]]:
    """(name, dir) of the pyramids in ``directory`` (its sub-folders, or itself)."""
    from singan_augment.files.pyramid_files import JSON_NAME

    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"{d}: no such folder")
    if (d / JSON_NAME).exists() or (d / (JSON_NAME + ".tmp")).exists():
        return [(safe_name(d.resolve().name), d)]
    found = [
        (sub.name, sub)
        for sub in sorted(d.iterdir())
        if sub.is_dir() and ((sub / JSON_NAME).exists() or (sub / (JSON_NAME + ".tmp")).exists())
    ]
    if not found:
        raise InputError(f"{d}: no pyramids (folders with {JSON_NAME}) here")
    return found


def _image_for_format(image: np.ndarray, pyr, fmt: str) -> np.ndarray:
    ch = pyr.channels
    idx = ch.image_indices
    img = image[idx]
    if fmt != "png":
        return img.astype(np.float32)
    if len(idx) not in (1, 3):
        raise InputError(
            f"png output needs 1 or 3 image channels, this pyramid has {len(idx)}; use nii.gz or npy"
        )
    if pyr.spatial_dims != 2:
        raise InputError("png output cannot hold a volume; use nii.gz or npy")
    lo = np.array([ch.low[i] for i in idx], np.float32)[:, None, None]
    hi = np.array([ch.high[i] for i in idx], np.float32)[:, None, None]
    if lo.min() >= 0 and hi.max() <= 255:
        u8 = np.clip(np.round(img), 0, 255)
    else:
        u8 = np.clip(np.round((img - lo) / (hi - lo) * 255), 0, 255)
    u8 = u8.astype(np.uint8)
    return u8[0] if len(idx) == 1 else np.moveaxis(u8, 0, -1)


def _label_for_format(labels: np.ndarray, fmt: str) -> np.ndarray:
    labels = labels.astype(np.uint8)
    # NIfTI: a label volume (D, H, W) goes in as one channel, so it is not read as (C, H, W)
    return labels[None] if labels.ndim == 3 and fmt in ("nii", "nii.gz") else labels


def real_pair(pyr) -> tuple[np.ndarray, np.ndarray | None]:
    """The pyramid's training image at the finest scale (training range) and its exact label map."""
    arr = np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0)
    image = pyr.channels.denormalise(arr)
    li = pyr.channels.label_indices
    if not li:
        return image, None
    probs = np.clip(image[li], 0, 1)
    labels = np.where(probs.max(0) > 0.5, probs.argmax(0) + 1, 0).astype(np.uint8)
    return image, labels


def read_output(path: str | os.PathLike) -> np.ndarray:
    """Read an ``expand`` output: an image as (C, H, W) float32 (a volume as (C, D, H, W)), a
    label map (in ``labels/``) as (H, W) (a volume's as (D, H, W)), its stored integers.

    Handles the NIfTI layouts that ``files.images.write_array`` uses: (H, W, 1, C) for a
    (C, H, W) image, (X, Y, Z[, C]) for a volume.
    """
    from singan_augment.files.images import read_image

    p = Path(path)
    is_label = "labels" in p.parts
    if suffix(p.name) in (".nii", ".nii.gz"):
        import nibabel as nib

        arr = np.asarray(nib.load(str(p)).dataobj)
        if arr.ndim == 4:  # (H, W, 1, C) image, or (X, Y, Z, C) volume
            arr = np.moveaxis(arr[:, :, 0, :] if arr.shape[2] == 1 else arr, -1, 0)
        elif arr.ndim == 3:  # (H, W, 1) image, or (X, Y, Z) one-channel volume / label volume
            arr = arr[None, :, :, 0] if arr.shape[2] == 1 else arr[None]
        elif arr.ndim == 2:
            arr = arr[None]
    elif suffix(p.name) == ".npy":
        arr = np.load(p, allow_pickle=False)
        if is_label:
            return arr
    else:
        arr = read_image(p)
    if is_label and arr.shape[0] == 1:
        return arr[0]
    return np.asarray(arr, np.float32)


def expand_one(
    pyramid_dir: str,
    name: str,
    out: str,
    n: int,
    fmt: str,
    seed: int,
    start_scale: int | None = None,
    inject_scale: int | None = None,
) -> dict[str, Any]:
    """Write the real pair and ``n`` synthetic pairs of one pyramid; skip existing outputs.

    A pair is complete once its image file exists (the label is written first); every file is
    written atomically, and temp files of this pyramid's outputs left by a killed earlier run
    are removed first, so a rerun leaves each output exactly once and nothing else.

    Output i comes from chunk ``i // 8`` with key ``fold_in(PRNGKey(derive_seed(seed, name)),
    chunk)``, so it does not depend on ``n``, on other pyramids, or on which outputs exist.
    Returns ``{"name", "written", "skipped", "entries"}``.
    """
    import jax

    from singan_augment.engine.channels import decode_labels
    from singan_augment.engine.harmonize import inject
    from singan_augment.engine.sample import sample
    from singan_augment.files.images import write_array
    from singan_augment.files.pyramid_files import load_pyramid, output_affine

    pyr = load_pyramid(pyramid_dir)
    affine = output_affine(pyr, pyr.shapes[-1])  # volumes trained from NIfTI: the source's
    outp = Path(out)
    (outp / "images").mkdir(parents=True, exist_ok=True)
    has_labels = bool(pyr.channels.label_indices)
    if has_labels:
        (outp / "labels").mkdir(parents=True, exist_ok=True)
    if fmt == "png":
        _image_for_format(np.zeros((pyr.num_channels, 1, 1), np.float32), pyr, fmt)  # check early
    ext = {"png": "png", "npy": "npy", "nii.gz": "nii.gz", "nii": "nii"}[fmt]
    ours = re.compile(rf"{re.escape(name)}_(real|syn\d+)\.{re.escape(ext)}")
    for sub in ("images", "labels"):
        remove_stale_temps(outp / sub, ours)

    def paths(stem: str) -> tuple[Path, Path | None]:
        return outp / "images" / f"{stem}.{ext}", (
            outp / "labels" / f"{stem}.{ext}" if has_labels else None
        )

    def write(stem: str, image: np.ndarray, labels: np.ndarray | None) -> None:
        ip, lp = paths(stem)
        if lp is not None:  # label first: the image file marks the pair as complete
            write_array(lp, _label_for_format(labels, fmt), affine)
        write_array(ip, _image_for_format(image, pyr, fmt), affine)

    def exists(stem: str) -> bool:
        ip, lp = paths(stem)
        return ip.is_file() and (lp is None or lp.is_file())

    def entry(stem: str, synthetic: bool, index: int | None) -> dict[str, Any]:
        ip, lp = paths(stem)
        e: dict[str, Any] = {"image": f"images/{ip.name}"}
        if lp is not None:
            e["label"] = f"labels/{lp.name}"
        e.update({"synthetic": synthetic, "source_pyramid": name})
        if index is not None:
            e["index"] = index
        return e

    written = skipped = 0
    real_stem = f"{name}_real"
    entries = [entry(real_stem, False, None)]
    real_image, real_labels = real_pair(pyr)
    if exists(real_stem):
        skipped += 1
    else:
        write(real_stem, real_image, real_labels)
        written += 1
    key = jax.random.PRNGKey(derive_seed(seed, name))
    for c in range(-(-n // CHUNK)):
        idx = list(range(c * CHUNK, min(n, (c + 1) * CHUNK)))
        stems = [f"{name}_syn{i:04d}" for i in idx]
        entries += [entry(s, True, i) for s, i in zip(stems, idx)]
        todo = [j for j, s in enumerate(stems) if not exists(s)]
        skipped += len(stems) - len(todo)
        if not todo:
            continue
        ck = jax.random.fold_in(key, c)
        if inject_scale is not None:
            imgs = inject(pyr, real_image, inject_scale, ck, CHUNK)
            li = pyr.channels.label_indices
            labs = np.stack([decode_labels(im[li]) for im in imgs]) if li else None
            res_images, res_labels = imgs, labs
        else:
            res = sample(pyr, ck, CHUNK, start_scale=start_scale or 0)
            res_images, res_labels = res.images, res.labels
        for j in todo:
            write(stems[j], res_images[j], None if res_labels is None else res_labels[j])
            written += 1
    return {"name": name, "written": written, "skipped": skipped, "entries": entries}


def expand(
    directory: str | os.PathLike,
    out: str | os.PathLike,
    n: int,
    *,
    fmt: str = "nii.gz",
    seed: int = 0,
    start_scale: int | None = None,
    inject_scale: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    max_retries: int = 2,
    progress: bool = True,
) -> RunReport:
    """``n`` synthetic pairs per complete pyramid in ``directory``, plus ``out/datalist.json``.

    Sampling starts at ``start_scale`` (default 0, the coarsest), or with ``inject_scale`` the
    real training image is injected at that scale (structure-preserving variations).
    Volume pyramids write (C, D, H, W) volumes and (D, H, W) label volumes (NIfTI in the
    source volume's space when ``train`` read it from NIfTI, see ``output_affine``).
    The datalist lists the real pair and the synthetic ones of each pyramid, with
    ``"synthetic"`` and ``"source_pyramid"`` fields, paths relative to ``out``.

    Raises:
        InputError: no pyramids, bad n, format or scales, unknown executor.
        FolderLockedError: another live process is writing ``out``.
    """
    from tqdm.auto import tqdm

    from singan_augment.files.atomic import atomic_write
    from singan_augment.files.pyramid_files import read_metadata

    t_start = time.perf_counter()
    if n < 0:
        raise InputError(f"--n must be >= 0, got {n}")
    if fmt not in ("nii.gz", "nii", "png", "npy"):
        raise InputError(f"unknown format {fmt!r} (use nii.gz, png or npy)")
    if start_scale is not None and inject_scale is not None:
        raise InputError("give either --start-scale or --inject-scale, not both")
    if executor not in ("local", "ray"):
        raise InputError(f"unknown executor {executor!r} (use local or ray)")
    # One writer per output folder: a second expand into ``out`` fails at once.
    with FolderLock(out, "expand"):
        report = RunReport()
        jobs = []
        for name, d in find_pyramids(directory):
            try:
                meta = read_metadata(d)
            except PyramidFileError as e:
                report.rows.append(Row(name, "failed", 0.0, str(e)))
                continue
            if not meta.get("complete"):
                report.rows.append(
                    Row(
                        name,
                        "failed",
                        0.0,
                        "pyramid is not complete: rerun fit-dataset to finish it",
                    )
                )
                continue
            if fmt == "png" and meta.get("spatial_dims", 2) != 2:
                report.rows.append(
                    Row(name, "failed", 0.0, "png output cannot hold a volume; use nii.gz or npy")
                )
                continue
            jobs.append(
                {
                    "pyramid_dir": str(d),
                    "name": name,
                    "out": str(out),
                    "n": int(n),
                    "fmt": fmt,
                    "seed": int(seed),
                    "start_scale": start_scale,
                    "inject_scale": inject_scale,
                }
            )
        Path(out).mkdir(parents=True, exist_ok=True)
        results: dict[str, dict[str, Any]] = {}
        bar = tqdm(total=len(jobs), desc="expanding", unit="pyr", disable=not progress)
        t_last = time.perf_counter()

        def on_result(i: int, res: Any, err: str | None) -> None:
            nonlocal t_last
            dt = time.perf_counter() - t_last
            t_last = time.perf_counter()
            name = jobs[i]["name"]
            if err is not None:
                report.rows.append(Row(name, "failed", dt, err))
            else:
                results[name] = res
                status = "done" if res["written"] else "skipped"
                report.rows.append(
                    Row(name, status, dt, f"{res['written']} written, {res['skipped']} existed")
                )
            bar.update(1)

        run_jobs(
            executor,
            jobs,
            on_result,
            local=lambda job: expand_one(**job),
            remote=_ray_expand_one,
            ray_address=ray_address,
            max_retries=max_retries,
        )
        bar.close()
        entries = [e for name in sorted(results) for e in results[name]["entries"]]
        mode = (
            {"inject_scale": inject_scale}
            if inject_scale is not None
            else {"start_scale": start_scale or 0}
        )
        datalist = {
            "description": "singan-augment expand: real training pairs and SinGAN synthetic pairs",
            "seed": int(seed),
            "n_per_pyramid": int(n),
            "format": fmt,
            **mode,
            "num_real": sum(not e["synthetic"] for e in entries),
            "num_synthetic": sum(bool(e["synthetic"]) for e in entries),
            "training": entries,
        }
        remove_stale_temps(Path(out), re.compile(re.escape(DATALIST_NAME)))
        atomic_write(
            Path(out) / DATALIST_NAME,
            (json.dumps(datalist, indent=2, sort_keys=True) + "\n").encode(),
        )
        report.rows.sort(key=lambda r: r.name)
        report.seconds = time.perf_counter() - t_start
        return report
