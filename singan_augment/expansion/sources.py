"""Inputs of dataset expansion: discovering training images (a folder or a MONAI-style
datalist), naming their pyramids, and loading an entry as one channel-stacked image."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from singan_augment.errors import InputError
from singan_augment.files.images import suffix
from singan_augment.files.safe_json import read_json

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy", ".nii", ".nii.gz")
DATALIST_NAME = "datalist.json"
MAX_DATALIST_BYTES = 64 << 20
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


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


def _stem(name: str) -> str:
    suf = suffix(name)
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
        files = sorted(f for f in src.iterdir() if f.is_file() and suffix(f.name) in IMAGE_EXTS)
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


def read_label_map(path: str, volume: bool = False) -> np.ndarray:
    """(H, W) int label map ((D, H, W) with ``volume``); a {0, 255} mask is read as {0, 1}.

    Raises:
        InputError: more than one channel, negative or non-integer values.
    """
    from singan_augment.files.images import read_image

    arr = read_image(path, volume=volume)
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
    if len(counts) == 1 and c == 3 and suffix(entry.images[0]) not in (".npy", ".nii", ".nii.gz"):
        return ["r", "g", "b"]
    return ["image"] if c == 1 else [f"ch{j}" for j in range(c)]


def label_names(num_classes: int) -> list[str]:
    return ["label"] if num_classes == 1 else [f"label_{k}" for k in range(1, num_classes + 1)]


def load_entry(
    entry: Entry, num_classes: int, volume: bool = False
) -> tuple[np.ndarray, list[str], list[str]]:
    """(C, H, W) image (+ one-hot label channels), channel names, label channel names; with
    ``volume`` a (C, D, H, W) volume (3-D NIfTI or (C, D, H, W) ``.npy`` files).

    Raises:
        InputError: unreadable files, sizes that differ, label classes above ``num_classes``.
    """
    from singan_augment.engine.channels import one_hot
    from singan_augment.files.images import read_image

    arrays = [read_image(p, volume=volume) for p in entry.images]
    if len({a.shape[1:] for a in arrays}) > 1:
        raise InputError(f"{entry.name}: image files differ in size {[a.shape for a in arrays]}")
    image = np.concatenate(arrays, axis=0)
    names = entry_channels(entry, image, [a.shape[0] for a in arrays])
    labs: list[str] = []
    if entry.label is not None and num_classes > 0:
        lab = read_label_map(entry.label, volume=volume)
        if lab.shape != image.shape[1:]:
            raise InputError(
                f"{entry.name}: label map {lab.shape} and image {image.shape[1:]} differ in size"
            )
        oh = one_hot(lab, num_classes)
        labs = label_names(num_classes)
        image = np.concatenate([image, oh], axis=0)
        names = names + labs
    return image, names, labs
