"""Offline dataset expansion: one pyramid per image (``fit_dataset``), then N synthetic
image + label pairs per pyramid and a MONAI datalist (``expand``).

Both steps are restartable. ``fit_dataset`` checkpoints every pyramid after every scale, skips
pyramids whose ``pyramid.json`` says ``complete: true`` and resumes the others; only complete
pyramids count as done. ``expand`` writes each output file atomically and skips outputs that
already exist, so an interrupted run, rerun, writes every output exactly once. Randomness is
derived from the seed and the pyramid *name*, never from the order of the work, so the local and
the Ray executor (one task per group of same-shaped pyramids) produce the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelConfig, PyramidConfig, TrainConfig
from .errors import InputError, PyramidFileError
from .safe_json import read_json

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy", ".nii", ".nii.gz")
CRASH_ENV = "SINGAN_AUGMENT_CRASH_ONCE"  # testing: path of a marker file; see ``fit_group``
DATALIST_NAME = "datalist.json"
MAX_DATALIST_BYTES = 64 << 20
CHUNK = 8  # samples are drawn in fixed chunks of 8 keys, so output i never depends on N
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Entry:
    """One training image: its files (stacked as channels), label map file and pyramid name."""

    name: str
    images: tuple[str, ...]
    label: str | None = None
    image_keys: tuple[str, ...] | None = None


def derive_seed(seed: int, name: str) -> int:
    """A 31-bit seed from the run seed and a pyramid name (independent of processing order)."""
    h = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def _suffix(name: str) -> str:
    low = name.lower()
    return ".nii.gz" if low.endswith(".nii.gz") else os.path.splitext(low)[1]


def _stem(name: str) -> str:
    suf = _suffix(name)
    return name[: -len(suf)] if suf else name


def safe_name(text: str) -> str:
    """A directory name made of ``[A-Za-z0-9._-]`` only, never hidden, ``.`` or ``..``."""
    name = _NAME_RE.sub("_", text).strip("._-")
    return name or "image"


def resolve_inside(base: Path, rel: str, what: str) -> Path:
    """``base / rel`` resolved, refusing absolute paths and anything that escapes ``base``.

    Raises:
        InputError: the path is absolute, empty or leaves ``base`` (``..``, symlinks).
    """
    if not isinstance(rel, str) or not rel.strip() or "\x00" in rel:
        raise InputError(f"{what}: expected a relative file path, got {rel!r}")
    if os.path.isabs(rel) or rel.startswith("~"):
        raise InputError(f"{what}: absolute path {rel!r} refused; datalist paths must be relative")
    root = base.resolve()
    p = (root / rel).resolve()
    if p != root and root not in p.parents:
        raise InputError(
            f"{what}: path {rel!r} escapes the datalist's folder {root}; refused (path traversal)"
        )
    return p


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}-{k}")
    return out


def discover(
    source: str | os.PathLike,
    *,
    image_keys: Sequence[str] | None = None,
    label_key: str = "label",
    section: str = "training",
) -> list[Entry]:
    """The entries of a folder of images or of a decathlon-style MONAI datalist JSON.

    Folder: every ``.png/.jpg/.tif/.npy/.nii/.nii.gz`` file directly inside, one image each
    (no labels). Datalist: ``{"training": [{"image": ..., "label": ...}, ...]}`` with paths
    relative to the JSON's folder; ``image_keys`` (e.g. t1, t2, flair) names per-contrast keys
    that are stacked as channels, otherwise ``"image"`` (a path or a list of paths) is used.

    Raises:
        InputError: missing input, empty folder, malformed datalist, unsafe or missing paths.
    """
    src = Path(source)
    if src.is_dir():
        files = sorted(f for f in src.iterdir() if f.is_file() and _suffix(f.name) in IMAGE_EXTS)
        if not files:
            raise InputError(f"{src}: no images ({', '.join(IMAGE_EXTS)}) in this folder")
        names = _unique([safe_name(_stem(f.name)) for f in files])
        return [Entry(n, (str(f.resolve()),)) for n, f in zip(names, files)]
    if not src.is_file():
        raise InputError(f"{src}: no such folder or datalist file")
    if src.suffix.lower() != ".json":
        raise InputError(f"{src}: expected a folder of images or a datalist .json")
    data = read_json(src, max_bytes=MAX_DATALIST_BYTES, max_depth=16, raises=InputError)
    items = data.get(section) if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise InputError(f"{src}: expected a non-empty list under {section!r}")
    base = src.parent
    keys = tuple(image_keys) if image_keys else None
    raw: list[tuple[str, tuple[str, ...], str | None]] = []
    for i, item in enumerate(items):
        where = f"{src} entry {i}"
        if isinstance(item, str):
            item = {"image": item}
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected an object with an 'image' key")
        if keys:
            missing = [k for k in keys if k not in item]
            if missing:
                raise InputError(f"{where}: missing image keys {missing}")
            rels = [item[k] for k in keys]
        else:
            img = item.get("image")
            rels = img if isinstance(img, list) else [img]
        paths = tuple(str(resolve_inside(base, r, where)) for r in rels)
        lab = item.get(label_key)
        label = str(resolve_inside(base, lab, where)) if lab is not None else None
        for p in (*paths, *([label] if label else [])):
            if not Path(p).is_file():
                raise InputError(f"{where}: no such file {p}")
        rel0 = os.path.relpath(paths[0], base.resolve())
        raw.append((safe_name(_stem(rel0).replace(os.sep, "__")), paths, label))
    names = _unique([r[0] for r in raw])
    return [Entry(n, p, lab, keys) for n, (_, p, lab) in zip(names, raw)]


def read_label_map(path: str) -> np.ndarray:
    """(H, W) int label map; a {0, 255} mask is read as {0, 1}.

    Raises:
        InputError: more than one channel, negative or non-integer values.
    """
    from .image_io import read_image

    arr = read_image(path)
    if arr.shape[0] != 1:
        raise InputError(f"{path}: a label map must have one channel, got {arr.shape[0]}")
    lab = arr[0]
    if np.any(lab < 0) or np.any(lab != np.round(lab)):
        raise InputError(f"{path}: label values must be non-negative integers")
    lab = lab.astype(np.int64)
    if lab.max() == 255 and set(np.unique(lab).tolist()) <= {0, 255}:
        lab = lab // 255
    return lab


def entry_channels(entry: Entry, image: np.ndarray, counts: Sequence[int]) -> list[str]:
    """Channel names of an entry's stacked image channels (``counts`` channels per file)."""
    if entry.image_keys:
        names = []
        for k, c in zip(entry.image_keys, counts):
            names += [safe_name(k)] if c == 1 else [f"{safe_name(k)}_{j}" for j in range(c)]
        return names
    c = image.shape[0]
    if len(counts) == 1 and c == 3 and _suffix(entry.images[0]) not in (".npy", ".nii", ".nii.gz"):
        return ["r", "g", "b"]
    return ["image"] if c == 1 else [f"ch{j}" for j in range(c)]


def label_names(num_classes: int) -> list[str]:
    return ["label"] if num_classes == 1 else [f"label_{k}" for k in range(1, num_classes + 1)]


def load_entry(entry: Entry, num_classes: int) -> tuple[np.ndarray, list[str], list[str]]:
    """(C, H, W) image (+ one-hot label channels), channel names, label channel names.

    Raises:
        InputError: unreadable files, sizes that differ, label classes above ``num_classes``.
    """
    from .channels import one_hot
    from .image_io import read_image

    arrays = [read_image(p) for p in entry.images]
    if len({a.shape[1:] for a in arrays}) > 1:
        raise InputError(f"{entry.name}: image files differ in size {[a.shape for a in arrays]}")
    image = np.concatenate(arrays, axis=0)
    names = entry_channels(entry, image, [a.shape[0] for a in arrays])
    labs: list[str] = []
    if entry.label is not None and num_classes > 0:
        lab = read_label_map(entry.label)
        if lab.shape != image.shape[1:]:
            raise InputError(
                f"{entry.name}: label map {lab.shape} and image {image.shape[1:]} differ in size"
            )
        oh = one_hot(lab, num_classes)
        labs = label_names(num_classes)
        image = np.concatenate([image, oh], axis=0)
        names = names + labs
    return image, names, labs


# --------------------------------------------------------------------------- fit-dataset


@dataclass
class Row:
    """One line of a run summary."""

    name: str
    status: str  # done / skipped / failed
    seconds: float = 0.0
    detail: str = ""


@dataclass
class RunReport:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def table(self, title: str) -> str:
        w = max([len(r.name) for r in self.rows] + [8])
        lines = [title, f"{'name':<{w}}  {'status':<7}  {'time s':>8}  detail"]
        for r in self.rows:
            lines.append(f"{r.name:<{w}}  {r.status:<7}  {r.seconds:>8.1f}  {r.detail}")
        lines.append(
            f"done {self.count('done')}, skipped {self.count('skipped')}, "
            f"failed {self.count('failed')}; total {self.seconds:.1f} s"
        )
        return "\n".join(lines)


def _configs_of(job: dict[str, Any]) -> tuple[ModelConfig, TrainConfig, PyramidConfig]:
    return (
        ModelConfig.from_dict(job["model_config"]),
        TrainConfig.from_dict(job["train_config"]),
        PyramidConfig.from_dict(job["pyramid_config"]),
    )


def _existing_state(directory: Path) -> str:
    """``missing``, ``partial`` or ``complete`` for a pyramid directory (``complete`` only when
    the metadata says so; an interrupted save pending roll-forward counts as partial)."""
    from .io import JSON_NAME, read_metadata

    if not (directory / JSON_NAME).exists() and not (directory / (JSON_NAME + ".tmp")).exists():
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
    """
    from dataclasses import replace

    from .fit import fit_many, image_sha256, init_pyramid
    from .io import load_pyramid, save_pyramid

    mcfg, tcfg, pcfg = _configs_of(job)
    out = Path(job["out"])
    num_classes = int(job["num_classes"])
    starts = []
    for e in job["entries"]:
        entry = Entry(
            e["name"], tuple(e["images"]), e["label"], tuple(e["image_keys"] or ()) or None
        )
        image, names, labs = load_entry(entry, num_classes)
        seed = derive_seed(job["seed"], entry.name)
        prov = {"source": [os.path.basename(p) for p in entry.images], "name": entry.name}
        if entry.label:
            prov["label_source"] = os.path.basename(entry.label)
        fresh = init_pyramid(
            image,
            seed,
            channel_names=names,
            label_channels=labs,
            model_config=mcfg,
            train_config=tcfg,
            pyramid_config=pcfg,
            provenance=prov,
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
            ) != (fresh.shapes, mcfg, tcfg, fresh.channels, seed):
                raise InputError(
                    f"{d} holds a pyramid of another image, seed or settings; remove it or use "
                    "another --out"
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

        done = fit_many(pyrs, on_scale_done=checkpoint, progress=progress)
        dt = time.perf_counter() - t0
        for p in done:
            results.append({"name": p.provenance["name"], "seconds": dt / len(done)})
    return results


def _ray_fit_group(job: dict[str, Any]) -> list[dict[str, Any]]:
    return fit_group(job, progress=False)


def _ray_expand_one(job: dict[str, Any]) -> dict[str, Any]:
    return expand_one(**job)


class RayExecutor:
    """Runs units of work as Ray tasks (connecting to ``address`` or starting a local Ray)."""

    def __init__(self, address: str | None = None, max_retries: int = 2):
        try:
            import ray
        except ImportError:
            raise InputError(
                "--executor ray needs Ray: pip install 'singan-augment[ray]'"
            ) from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            ray.init(address=address, **kw) if address else ray.init(**kw)
            self.started = True
        self.max_retries = max_retries
        self.num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0

    def run(self, fn: Callable, jobs: list[Any], on_result: Callable[[int, Any, str | None], None]):
        ray = self.ray
        remote = ray.remote(
            max_retries=self.max_retries, retry_exceptions=True, num_gpus=self.num_gpus
        )(fn)
        refs = {remote.remote(job): i for i, job in enumerate(jobs)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    on_result(refs[ref], ray.get(ref), None)
                except Exception as e:  # noqa: BLE001 - a task's failure is reported, not raised
                    on_result(
                        refs[ref], None, f"{type(e).__name__}: {str(e).splitlines()[-1][:200]}"
                    )

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _run_local(fn: Callable, jobs: list[Any], on_result, **kw) -> None:
    for i, job in enumerate(jobs):
        try:
            res = fn(job, **kw)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - one bad unit must not stop the others
            on_result(i, None, f"{type(e).__name__}: {e}")
        else:
            on_result(i, res, None)


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
) -> RunReport:
    """Train one pyramid per input image into ``out/<name>/`` (see the module docstring).

    Same-shaped images with the same channels train together through ``fit_many``; each group
    is one unit of work (run in turn locally, or as one Ray task each).

    Raises:
        InputError: unusable input (see ``discover``) or an unknown executor.
    """
    from tqdm.auto import tqdm

    from .image_io import read_image

    t_start = time.perf_counter()
    if executor not in ("local", "ray"):
        raise InputError(f"unknown executor {executor!r} (use local or ray)")
    entries = discover(source, image_keys=image_keys, label_key=label_key)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    num_classes = 0
    for e in entries:
        if e.label is not None:
            num_classes = max(num_classes, int(read_label_map(e.label).max()))
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
            arrays = [read_image(p) for p in e.images]
        except InputError as err:
            report.rows.append(Row(e.name, "failed", 0.0, str(err)))
            continue
        c = sum(a.shape[0] for a in arrays)
        names = entry_channels(e, np.zeros((c, 1, 1)), [a.shape[0] for a in arrays])
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

    if executor == "ray":
        ex = RayExecutor(ray_address, max_retries)
        try:
            ex.run(_ray_fit_group, jobs, on_result)
        finally:
            ex.close()
    else:
        _run_local(fit_group, jobs, on_result, progress=progress)
    bar.close()
    report.rows.sort(key=lambda r: r.name)
    report.seconds = time.perf_counter() - t_start
    return report


# --------------------------------------------------------------------------- expand


def find_pyramids(directory: str | os.PathLike) -> list[tuple[str, Path]]:
    """(name, dir) of the pyramids in ``directory`` (its sub-folders, or itself)."""
    from .io import JSON_NAME

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
    lo = np.array([ch.low[i] for i in idx], np.float32)[:, None, None]
    hi = np.array([ch.high[i] for i in idx], np.float32)[:, None, None]
    if lo.min() >= 0 and hi.max() <= 255:
        u8 = np.clip(np.round(img), 0, 255)
    else:
        u8 = np.clip(np.round((img - lo) / (hi - lo) * 255), 0, 255)
    u8 = u8.astype(np.uint8)
    return u8[0] if len(idx) == 1 else np.moveaxis(u8, 0, -1)


def _label_for_format(labels: np.ndarray, fmt: str) -> np.ndarray:
    return labels.astype(np.uint8)


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
    """Read an ``expand`` output: an image as (C, H, W) float32, a label map as (H, W).

    Handles the (H, W, 1, C) NIfTI layout that ``image_io.write_array`` uses for (C, H, W).
    """
    from .image_io import read_image

    p = Path(path)
    if _suffix(p.name) in (".nii", ".nii.gz"):
        import nibabel as nib

        arr = np.asarray(nib.load(str(p)).dataobj)
        if arr.ndim == 4:
            arr = np.moveaxis(arr[:, :, 0, :], -1, 0)
        elif arr.ndim == 3:
            arr = arr[None, :, :, 0] if arr.shape[2] == 1 else np.moveaxis(arr, -1, 0)
        elif arr.ndim == 2:
            return arr
    elif _suffix(p.name) == ".npy":
        arr = np.load(p, allow_pickle=False)
        if arr.ndim == 2:
            return arr
    else:
        arr = read_image(p)
        if "labels" in p.parts and arr.shape[0] == 1:
            return arr[0]
    return np.asarray(arr, np.float32)


def _remove_stale_temps(folder: Path, final_name: re.Pattern) -> int:
    """Delete temp files that an interrupted earlier run left behind in ``folder``.

    ``io._atomic_write`` writes ``.<final name>.<random>.partial`` and renames it; a process
    killed in between leaves that hidden file behind. Only temps whose final name matches
    ``final_name`` are removed, so concurrent tasks for other pyramids are not disturbed.
    """
    temp = re.compile(r"^\.(?P<final>.+)\.[A-Za-z0-9_]+\.partial$")
    removed = 0
    if not folder.is_dir():
        return 0
    for f in folder.iterdir():
        m = temp.match(f.name)
        if m and final_name.fullmatch(m.group("final")) and f.is_file():
            f.unlink(missing_ok=True)
            removed += 1
    return removed


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

    from .channels import decode_labels
    from .harmonize import inject
    from .image_io import write_array
    from .io import load_pyramid
    from .sample import sample

    pyr = load_pyramid(pyramid_dir)
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
        _remove_stale_temps(outp / sub, ours)

    def paths(stem: str) -> tuple[Path, Path | None]:
        return outp / "images" / f"{stem}.{ext}", (
            outp / "labels" / f"{stem}.{ext}" if has_labels else None
        )

    def write(stem: str, image: np.ndarray, labels: np.ndarray | None) -> None:
        ip, lp = paths(stem)
        if lp is not None:  # label first: the image file marks the pair as complete
            write_array(lp, _label_for_format(labels, fmt))
        write_array(ip, _image_for_format(image, pyr, fmt))

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
    if exists(real_stem):
        skipped += 1
    else:
        write(real_stem, *real_pair(pyr))
        written += 1
    key = jax.random.PRNGKey(derive_seed(seed, name))
    real_image = real_pair(pyr)[0]
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
    The datalist lists the real pair and the synthetic ones of each pyramid, with
    ``"synthetic"`` and ``"source_pyramid"`` fields, paths relative to ``out``.

    Raises:
        InputError: no pyramids, bad n, format or scales, unknown executor.
    """
    from tqdm.auto import tqdm

    from .io import _atomic_write, read_metadata

    t_start = time.perf_counter()
    if n < 0:
        raise InputError(f"--n must be >= 0, got {n}")
    if fmt not in ("nii.gz", "nii", "png", "npy"):
        raise InputError(f"unknown format {fmt!r} (use nii.gz, png or npy)")
    if start_scale is not None and inject_scale is not None:
        raise InputError("give either --start-scale or --inject-scale, not both")
    if executor not in ("local", "ray"):
        raise InputError(f"unknown executor {executor!r} (use local or ray)")
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
                Row(name, "failed", 0.0, "pyramid is not complete: rerun fit-dataset to finish it")
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

    if executor == "ray":
        ex = RayExecutor(ray_address, max_retries)
        try:
            ex.run(_ray_expand_one, jobs, on_result)
        finally:
            ex.close()
    else:
        _run_local(lambda job: expand_one(**job), jobs, on_result)
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
    _remove_stale_temps(Path(out), re.compile(re.escape(DATALIST_NAME)))
    _atomic_write(
        Path(out) / DATALIST_NAME, (json.dumps(datalist, indent=2, sort_keys=True) + "\n").encode()
    )
    report.rows.sort(key=lambda r: r.name)
    report.seconds = time.perf_counter() - t_start
    return report


__all__ = [
    "Entry",
    "RunReport",
    "derive_seed",
    "discover",
    "expand",
    "expand_one",
    "find_pyramids",
    "read_output",
    "fit_dataset",
    "fit_group",
    "resolve_inside",
    "safe_name",
]
