"""``fit-dataset``: one pyramid per training image, restartable (every pyramid is
checkpointed after every scale; complete pyramids are skipped, partial ones resumed)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig
from singan_augment.engine.schedules import check_warm_start_schedule
from singan_augment.errors import InputError, PyramidFileError
from singan_augment.files.lock import FolderLock

from .executors import Row, RunReport, run_jobs
from .sources import Entry, derive_seed, discover, entry_channels, load_entry, read_label_map

CRASH_ENV = "SINGAN_AUGMENT_CRASH_ONCE"  # testing: path of a marker file; see ``fit_group``


def _configs_of(job: dict[str, Any]) -> tuple[ModelConfig, TrainConfig, PyramidConfig]:
    return (
        ModelConfig.from_dict(job["model_config"]),
        TrainConfig.from_dict(job["train_config"]),
        PyramidConfig.from_dict(job["pyramid_config"]),
    )


def _existing_state(directory: Path) -> str:
    """``missing``, ``partial`` or ``complete`` for a pyramid directory (``complete`` only when
    the metadata says so; an interrupted save pending roll-forward counts as partial). A
    pending ``pyramid.json.tmp`` without weights is a first save stopped before its weights
    were written: nothing to resume, so ``missing`` (the pyramid starts afresh, as ``train``
    does)."""
    from singan_augment.files.pyramid_files import JSON_NAME, checkpoint_exists, read_metadata

    if not checkpoint_exists(directory):
        return "missing"
    try:
        meta = read_metadata(directory)
    except PyramidFileError:
        return "partial"
    if (directory / (JSON_NAME + ".tmp")).exists():
        return "partial"
    return (
        "complete"
        if meta.get("complete") and meta["num_trained"] == len(meta["shapes"])
        else "partial"
    )


def fit_group(job: dict[str, Any], progress: bool = False) -> list[dict[str, Any]]:
    """Train (or resume) the pyramids of one group of same-shaped entries; the unit of work of
    both executors. ``job`` is plain data (entries, configs, seed, out dir) so that it can be
    shipped to a Ray worker. Every pyramid is saved after every scale.

    If ``job["crash_marker"]`` names a file that does not exist yet, the process creates it and
    exits hard right after the first checkpoint (used by tests to simulate a crashed worker).

    Raises:
        FolderLockedError: another live process is writing one of these pyramids.
    """
    out = Path(job["out"])
    with ExitStack() as locks:
        for e in job["entries"]:
            locks.enter_context(FolderLock(out / e["name"], "fit-dataset"))
        return _fit_locked_group(job, out, progress)


def _fit_locked_group(job: dict[str, Any], out: Path, progress: bool) -> list[dict[str, Any]]:
    from dataclasses import replace

    from singan_augment.engine.fit import (
        check_warm_start,
        fit_many,
        image_sha256,
        init_pyramid,
        warm_start_record,
    )
    from singan_augment.files.images import read_stack_affine, read_stack_spacing
    from singan_augment.files.pyramid_files import load_pyramid, save_pyramid

    mcfg, tcfg, pcfg = _configs_of(job)
    num_classes = int(job["num_classes"])
    volume = bool(job.get("volumes"))
    warm = load_pyramid(job["warm_start"]) if job.get("warm_start") else None
    starts = []
    for e in job["entries"]:
        entry = Entry(
            e["name"], tuple(e["images"]), e["label"], tuple(e["image_keys"] or ()) or None
        )
        image, names, labs = load_entry(entry, num_classes, volume=volume)
        seed = derive_seed(job["seed"], entry.name)
        prov = {"source": [os.path.basename(p) for p in entry.images], "name": entry.name}
        affine = read_stack_affine(entry.images) if volume else None
        if affine is not None:  # ``expand`` writes this volume's samples in its space
            prov["affine"] = affine.tolist()
            prov["source_shape"] = [int(n) for n in image.shape[1:]]
        if entry.label:
            prov["label_source"] = os.path.basename(entry.label)
        if warm is not None:
            prov["warm_start"] = warm_start_record(warm)
        fresh = init_pyramid(
            image,
            seed,
            channel_names=names,
            label_channels=labs,
            model_config=mcfg,
            train_config=tcfg,
            pyramid_config=pcfg,
            provenance=prov,
            spacing=read_stack_spacing(entry.images, volume=volume),
        )
        d = out / entry.name
        if _existing_state(d) != "missing":
            old = load_pyramid(d, require_complete=False)
            if old.provenance.get("sha256") != image_sha256(image) or (
                old.shapes,
                old.model_config,
                old.train_config,
                old.channels,
                int(old.provenance.get("seed", -1)),
                old.provenance.get("warm_start"),
            ) != (fresh.shapes, mcfg, tcfg, fresh.channels, seed, prov.get("warm_start")):
                raise InputError(
                    f"{d} holds a pyramid of another image, seed, settings or warm start; remove "
                    "it or use another --out"
                )
            if old.complete:
                continue
            fresh = replace(old, provenance={**old.provenance, **prov})
        starts.append(fresh)
    marker = job.get("crash_marker")
    logs: dict[str, dict[str, Any]] = {}
    results = []
    by_progress: dict[int, list] = {}
    for p in starts:
        by_progress.setdefault(p.num_trained, []).append(p)
    for _, pyrs in sorted(by_progress.items()):
        t0 = time.perf_counter()

        def checkpoint(trained, scale, summaries, t0=t0):
            for p, s in zip(trained, summaries):
                name = p.provenance["name"]
                logs.setdefault(name, {})[str(scale)] = s
                save_pyramid(p, out / name, extra={"train_log": logs[name]})
            if marker and not os.path.exists(marker):
                Path(marker).write_text(f"crashed after scale {scale}\n")
                os._exit(75)

        if warm is not None:
            check_warm_start(warm, pyrs[0])  # raises, naming the difference, if it does not fit
        done = fit_many(pyrs, on_scale_done=checkpoint, progress=progress, warm_start=warm)
        dt = time.perf_counter() - t0
        for p in done:
            results.append({"name": p.provenance["name"], "seconds": dt / len(done)})
    return results


def _ray_fit_group(job: dict[str, Any]) -> list[dict[str, Any]]:
    return fit_group(job, progress=False)


def fit_dataset(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    pyramid_config: PyramidConfig = PyramidConfig(),
    image_keys: Sequence[str] | None = None,
    label_key: str = "label",
    executor: str = "local",
    ray_address: str | None = None,
    max_retries: int = 2,
    progress: bool = True,
    warm_start: str | os.PathLike | None = None,
    volumes: bool = False,
) -> RunReport:
    """Train one pyramid per input image into ``out/<name>/`` (see the module docstring).

    ``volumes``: the inputs are 3-D volumes (NIfTI per contrast, or (C, D, H, W) ``.npy``),
    each trained as one volume pyramid; a NIfTI source's affine is recorded so that ``expand``
    writes its samples in the same space.

    Same-shaped images with the same channels train together through ``fit_many``; each group
    is one unit of work (run in turn locally, or as one Ray task each). ``warm_start``: a
    complete pyramid of a sibling image (same modality, channels, scale count and model) whose
    generators initialise every pyramid (``fit(warm_start=...)``); pair it with a short
    schedule to fine-tune. It is recorded in each pyramid's provenance; an image whose pyramid
    it does not fit is reported failed with the difference named.

    Raises:
        InputError: unusable input (see ``discover``), an unknown executor, or the
            ``finetune`` schedule without ``warm_start``;
        PyramidFileError: an unreadable or incomplete ``warm_start`` pyramid.
    """
    from tqdm.auto import tqdm

    from singan_augment.files.images import read_image

    t_start = time.perf_counter()
    if executor not in ("local", "ray"):
        raise InputError(f"unknown executor {executor!r} (use local or ray)")
    check_warm_start_schedule(train_config, warm_start)
    entries = discover(source, image_keys=image_keys, label_key=label_key)
    if warm_start is not None:
        from singan_augment.files.pyramid_files import load_pyramid

        load_pyramid(warm_start)  # refuse a missing, corrupt or partial one before any work
        warm_start = str(Path(warm_start).resolve())
    out = Path(out)
    # One run per output folder (a second fit-dataset fails at once); each task also locks
    # the pyramid folders it writes, so a retried Ray task never races a live first attempt.
    with FolderLock(out, "fit-dataset"):
        num_classes = 0
        for e in entries:
            if e.label is not None:
                num_classes = max(num_classes, int(read_label_map(e.label, volumes).max()))
        if any(e.label for e in entries) and num_classes == 0:
            num_classes = 1  # all-background labels still get their (empty) channel
        report = RunReport()
        groups: dict[tuple, list[Entry]] = {}
        for e in entries:
            state = _existing_state(out / e.name)
            if state == "complete":
                report.rows.append(Row(e.name, "skipped", 0.0, "complete pyramid on disk"))
                continue
            try:
                arrays = [read_image(p, volume=volumes) for p in e.images]
            except InputError as err:
                report.rows.append(Row(e.name, "failed", 0.0, str(err)))
                continue
            c = sum(a.shape[0] for a in arrays)
            names = entry_channels(e, np.zeros((c, 1)), [a.shape[0] for a in arrays])
            key = (arrays[0].shape[1:], tuple(names), e.label is not None, state)
            groups.setdefault(key, []).append(e)
        base = {
            "out": str(out),
            "seed": int(seed),
            "num_classes": num_classes,
            "model_config": model_config.to_dict(),
            "train_config": train_config.to_dict(),
            "pyramid_config": pyramid_config.to_dict(),
            "crash_marker": os.environ.get(CRASH_ENV) or None,
            "warm_start": warm_start,
            "volumes": bool(volumes),
        }
        jobs = []
        for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3])):
            members = sorted(groups[key], key=lambda e: e.name)
            jobs.append(
                {
                    **base,
                    "entries": [
                        {
                            "name": e.name,
                            "images": list(e.images),
                            "label": e.label,
                            "image_keys": list(e.image_keys) if e.image_keys else None,
                        }
                        for e in members
                    ],
                }
            )
        total = sum(len(j["entries"]) for j in jobs)
        bar = tqdm(total=total, desc="pyramids", unit="pyr", disable=not progress or total == 0)
        t_group = time.perf_counter()

        def on_result(i: int, res: Any, err: str | None) -> None:
            nonlocal t_group
            dt = time.perf_counter() - t_group
            t_group = time.perf_counter()
            for e in jobs[i]["entries"]:
                state = _existing_state(out / e["name"])
                if err is None and state == "complete":
                    report.rows.append(Row(e["name"], "done", dt / len(jobs[i]["entries"])))
                else:
                    why = err or f"pyramid is {state} after its task ended"
                    report.rows.append(Row(e["name"], "failed", dt, why))
                bar.update(1)

        run_jobs(
            executor,
            jobs,
            on_result,
            local=lambda job: fit_group(job, progress=progress),
            remote=_ray_fit_group,
            ray_address=ray_address,
            max_retries=max_retries,
        )
        bar.close()
        report.rows.sort(key=lambda r: r.name)
        report.seconds = time.perf_counter() - t_start
        return report
