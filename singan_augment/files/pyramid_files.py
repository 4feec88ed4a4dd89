"""Pyramid files: ``pyramid.json`` (metadata) + ``weights.safetensors`` (tensors). Never pickle.

Saving is atomic: each file is written to a temporary name, fsynced and renamed; the JSON
(which records the weights' sha256, and its own checksum over every field but the free-form
``extra``) is renamed last. If a crash falls between the two renames,
the complete ``pyramid.json.tmp`` whose hash matches the new weights is taken on the next load
(the commit is rolled forward). Loading checks the JSON's size, nesting, schema and shapes, and
the weights against the recorded sha256, before any tensor is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from singan_augment import __version__
from singan_augment.engine.channels import ChannelSpec
from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig
from singan_augment.engine.generate import Stage
from singan_augment.engine.pyramid import Pyramid
from singan_augment.engine.resolution import check_spacing
from singan_augment.engine.schedules import schedule_name
from singan_augment.errors import InputError, PyramidFileError

from .atomic import atomic_write, fsync_dir
from .safe_json import read_json

FORMAT = "singan-augment-pyramid"
VERSION = 1
JSON_NAME = "pyramid.json"
WEIGHTS_NAME = "weights.safetensors"
MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 16
MAX_WEIGHTS_BYTES = 2 << 30


CHECKSUM_KEY = "metadata_sha256"


def metadata_sha256(meta: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``meta`` without its checksum and the free-form
    ``extra`` notes: every field that changes what the pyramid computes is covered."""
    body = {k: v for k, v in meta.items() if k not in (CHECKSUM_KEY, "extra")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _flatten(prefix: str, params: Any, out: dict[str, np.ndarray]) -> None:
    for i, layer in enumerate(params["layers"]):
        for k, v in layer.items():
            out[f"{prefix}/layers/{i}/{k}"] = np.asarray(v, np.float32)


def _flatten_stats(prefix: str, stats: Any, out: dict[str, np.ndarray]) -> None:
    for i, s in enumerate(stats):
        for k, v in s.items():
            out[f"{prefix}/{i}/{k}"] = np.asarray(v, np.float32)


def pyramid_tensors(pyramid: Pyramid) -> dict[str, np.ndarray]:
    """Every tensor of a pyramid under a flat, stable name."""
    out: dict[str, np.ndarray] = {"z_opt": np.asarray(pyramid.z_opt, np.float32)}
    for n, real in enumerate(pyramid.reals):
        out[f"reals/{n}"] = np.asarray(real, np.float32)
    for n, stage in enumerate(pyramid.stages):
        _flatten(f"stages/{n}/g", stage.params, out)
        _flatten_stats(f"stages/{n}/stats", stage.stats, out)
    if pyramid.discriminator is not None:
        _flatten("train/d", pyramid.discriminator, out)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def model_config_from_meta(meta: dict[str, Any]) -> ModelConfig:
    """The model config of a pyramid.json. Files written before ``ModelConfig.clamp`` existed
    were trained without the clamp, so they load with ``clamp=False`` and sample as before."""
    data = meta["model_config"]
    if isinstance(data, dict) and "clamp" not in data:
        data = {**data, "clamp": False}
    return ModelConfig.from_dict(data)


def train_config_from_meta(meta: dict[str, Any]) -> TrainConfig:
    """The train config of a pyramid.json (``TrainConfig.from_dict``: the fields of retired
    options, ``concurrent_pull`` of 2026-12-03 among them, load at their neutral value only)."""
    return TrainConfig.from_dict(meta["train_config"])


def expected_shapes(meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes that a pyramid.json implies."""
    mcfg = model_config_from_meta(meta)
    c = len(meta["channels"]["names"])
    shapes = [tuple(s) for s in meta["shapes"]]
    kernel = (3,) * len(shapes[0])
    out: dict[str, tuple[int, ...]] = {"z_opt": (1, *shapes[0], c)}
    for n, shape in enumerate(shapes):
        out[f"reals/{n}"] = (*shape, c)

    def net(prefix: str, width: int, out_ch: int) -> None:
        chans = [c] + [width] * (mcfg.num_layers - 1) + [out_ch]
        for i in range(mcfg.num_layers):
            out[f"{prefix}/layers/{i}/w"] = (*kernel, chans[i], chans[i + 1])
            out[f"{prefix}/layers/{i}/b"] = (chans[i + 1],)
            if i < mcfg.num_layers - 1:
                out[f"{prefix}/layers/{i}/gamma"] = (chans[i + 1],)
                out[f"{prefix}/layers/{i}/beta"] = (chans[i + 1],)

    for n in range(meta["num_trained"]):
        width = mcfg.nfc(n)
        net(f"stages/{n}/g", width, c)
        for i in range(mcfg.num_layers - 1):
            out[f"stages/{n}/stats/{i}/mean"] = (width,)
            out[f"stages/{n}/stats/{i}/var"] = (width,)
    if meta.get("has_discriminator"):
        net("train/d", mcfg.nfc(meta["num_trained"] - 1), 1)
    return out


def save_pyramid(
    pyramid: Pyramid, directory: str | os.PathLike, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``pyramid`` into ``directory`` atomically (created if missing). Returns the path."""
    from safetensors.numpy import save

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    blob = save(pyramid_tensors(pyramid))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "package_version": __version__,
        "shapes": [list(s) for s in pyramid.shapes],
        "spatial_dims": pyramid.spatial_dims,
        "num_scales": pyramid.num_scales,
        "num_trained": pyramid.num_trained,
        "complete": pyramid.complete,
        "noise_amps": [float(np.float32(s.amp)) for s in pyramid.stages],
        "nfc": [pyramid.model_config.nfc(n) for n in range(pyramid.num_scales)],
        "channels": pyramid.channels.to_dict(),
        "model_config": pyramid.model_config.to_dict(),
        "train_config": pyramid.train_config.to_dict(),
        "schedule": schedule_name(pyramid.train_config),
        "pyramid_config": pyramid.pyramid_config.to_dict(),
        "provenance": pyramid.provenance,
        "spacing": None if pyramid.spacing is None else [float(v) for v in pyramid.spacing],
        "has_discriminator": pyramid.discriminator is not None,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "extra": extra or {},
    }
    meta[CHECKSUM_KEY] = metadata_sha256(meta)
    text = json.dumps(meta, indent=2, sort_keys=True).encode()
    json_tmp = d / (JSON_NAME + ".tmp")
    atomic_write(json_tmp, text)  # complete, but not yet the live metadata
    atomic_write(d / WEIGHTS_NAME, blob)
    os.replace(json_tmp, d / JSON_NAME)
    fsync_dir(d)
    return d


def _read_json(path: Path) -> dict[str, Any]:
    meta = read_json(
        path, max_bytes=MAX_JSON_BYTES, max_depth=MAX_JSON_DEPTH, raises=PyramidFileError
    )
    if not isinstance(meta, dict):
        raise PyramidFileError(f"{path}: expected a JSON object at the top level")
    return meta


def _validate_meta(meta: dict[str, Any], where: Path) -> None:
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise PyramidFileError(f"{where}: {what}")

    need(
        meta.get("format") == FORMAT,
        f"not a singan-augment pyramid (format {meta.get('format')!r})",
    )
    need(
        meta.get("version") == VERSION,
        f"unsupported format version {meta.get('version')!r} (this build reads {VERSION})",
    )
    for key in (
        "shapes",
        "num_trained",
        "noise_amps",
        "channels",
        "model_config",
        "train_config",
        "pyramid_config",
        "weights_sha256",
    ):
        need(key in meta, f"missing field {key!r}")
    nd = meta.get("spatial_dims", 2)  # absent in files written before volumes existed
    need(
        nd in (2, 3) and not isinstance(nd, bool),
        f"field 'spatial_dims' must be 2 or 3, got {nd!r}",
    )
    shapes = meta["shapes"]
    need(
        isinstance(shapes, list)
        and 1 <= len(shapes) <= 64
        and all(
            isinstance(s, list)
            and len(s) == nd
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65536 for v in s)
            for s in shapes
        ),
        "field 'shapes' must be a list of "
        + ("[H, W]" if nd == 2 else "[D, H, W]")
        + f" positive integers (spatial_dims {nd})",
    )
    nt = meta["num_trained"]
    need(
        isinstance(nt, int) and 0 <= nt <= len(shapes),
        f"num_trained {nt!r} is not in 0..{len(shapes)}",
    )
    amps = meta["noise_amps"]
    need(
        isinstance(amps, list)
        and len(amps) == nt
        and all(isinstance(a, int | float) and not isinstance(a, bool) and a >= 0 for a in amps),
        "noise_amps must hold one non-negative number per trained scale",
    )
    need(
        isinstance(meta.get("has_discriminator", False), bool),
        "has_discriminator must be true or false",
    )
    need(
        isinstance(meta["weights_sha256"], str) and len(meta["weights_sha256"]) == 64,
        "weights_sha256 must be a sha256 hex digest",
    )
    try:
        ChannelSpec.from_dict(meta["channels"])
        model_config_from_meta(meta)
        train_config_from_meta(meta)
        PyramidConfig.from_dict(meta["pyramid_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise PyramidFileError(f"{where}: invalid channels or config ({e})") from None
    need(
        meta.get(CHECKSUM_KEY) == metadata_sha256(meta),
        f"{CHECKSUM_KEY} does not match the metadata: the file was edited or corrupted "
        "(every field but 'extra' is covered)",
    )


def _on_device(a: np.ndarray) -> jax.Array:
    """``a`` as a JAX array on the default device. ``jax.device_put``, not ``jnp.asarray``: the
    latter compiles a small XLA program per new shape, which made loading a shipped pyramid
    compile about 27 of them (1 s for the three shipped 2-D pyramids against 0.15 s)."""
    return jax.device_put(np.asarray(a))


def _unflatten(tensors: dict[str, np.ndarray], prefix: str, num_layers: int) -> dict[str, Any]:
    layers = []
    for i in range(num_layers):
        keys = ("w", "b", "gamma", "beta") if i < num_layers - 1 else ("w", "b")
        layers.append({k: _on_device(tensors[f"{prefix}/layers/{i}/{k}"]) for k in keys})
    return {"layers": layers}


def load_pyramid(directory: str | os.PathLike, *, require_complete: bool = True) -> Pyramid:
    """Load and verify a pyramid directory.

    Raises:
        PyramidFileError: missing files, oversized or malformed JSON, unknown format version,
            weights whose sha256 differs from the recorded one, missing/extra/misshapen tensors,
            or (with ``require_complete``) a partly trained pyramid.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    d = Path(directory)
    if not d.is_dir():
        raise PyramidFileError(f"{d}: no such pyramid directory")
    json_path, weights_path = d / JSON_NAME, d / WEIGHTS_NAME
    if not weights_path.is_file():
        raise PyramidFileError(f"{d}: missing {WEIGHTS_NAME}")
    wsize = weights_path.stat().st_size
    if wsize > MAX_WEIGHTS_BYTES:
        raise PyramidFileError(
            f"{weights_path}: {wsize} bytes is over the {MAX_WEIGHTS_BYTES}-byte limit"
        )
    blob = weights_path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    pending = d / (JSON_NAME + ".tmp")
    meta = None
    if pending.is_file():  # a save was interrupted after the weights were renamed into place
        try:
            cand = _read_json(pending)
            if cand.get("weights_sha256") == digest:
                meta, json_path = cand, pending
        except PyramidFileError:
            pass
    if meta is None:
        if not json_path.is_file():
            raise PyramidFileError(f"{d}: missing {JSON_NAME}")
        meta = _read_json(json_path)
    _validate_meta(meta, json_path)
    if meta["weights_sha256"] != digest:
        raise PyramidFileError(
            f"{weights_path}: sha256 {digest[:12]}… does not match the {meta['weights_sha256'][:12]}… recorded in "
            f"{JSON_NAME}: the weights were modified or the files come from different pyramids"
        )
    try:
        tensors = load(blob)
    except (SafetensorError, ValueError, Exception) as e:  # noqa: BLE001 - any parse failure is a file error
        raise PyramidFileError(f"{weights_path}: not a valid safetensors file ({e})") from None
    try:
        expected = expected_shapes(meta)
    except (KeyError, TypeError, ValueError) as e:
        raise PyramidFileError(f"{json_path}: inconsistent metadata ({e})") from None
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise PyramidFileError(
            f"{weights_path}: tensors do not match the metadata (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for name, shape in expected.items():
        t = tensors[name]
        if tuple(t.shape) != shape or t.dtype != np.float32:
            raise PyramidFileError(
                f"{weights_path}: tensor {name!r} is {t.dtype}{tuple(t.shape)}, expected float32{shape}"
            )
        if not np.all(np.isfinite(t)):
            raise PyramidFileError(f"{weights_path}: tensor {name!r} has non-finite values")
    if pending.is_file() and json_path == pending and os.access(d, os.W_OK):
        os.replace(pending, d / JSON_NAME)  # roll the interrupted save forward
    mcfg = model_config_from_meta(meta)
    stages = []
    for n in range(meta["num_trained"]):
        params = _unflatten(tensors, f"stages/{n}/g", mcfg.num_layers)
        stats = [
            {
                "mean": _on_device(tensors[f"stages/{n}/stats/{i}/mean"]),
                "var": _on_device(tensors[f"stages/{n}/stats/{i}/var"]),
            }
            for i in range(mcfg.num_layers - 1)
        ]
        stages.append(Stage(params, stats, _on_device(np.float32(meta["noise_amps"][n]))))
    disc = (
        _unflatten(tensors, "train/d", mcfg.num_layers) if meta.get("has_discriminator") else None
    )
    pyr = Pyramid(
        shapes=tuple(tuple(s) for s in meta["shapes"]),
        stages=tuple(stages),
        z_opt=_on_device(tensors["z_opt"]),
        reals=tuple(_on_device(tensors[f"reals/{n}"]) for n in range(len(meta["shapes"]))),
        channels=ChannelSpec.from_dict(meta["channels"]),
        model_config=mcfg,
        train_config=train_config_from_meta(meta),
        pyramid_config=PyramidConfig.from_dict(meta["pyramid_config"]),
        provenance=dict(meta.get("provenance") or {}),
        discriminator=disc,
        spacing=spacing_from_meta(meta, json_path),
    )
    if require_complete and not pyr.complete:
        raise PyramidFileError(
            f"{d}: pyramid is only trained to scale {pyr.num_trained - 1} of {pyr.num_scales - 1}; "
            "finish it with `singan-augment train ... --resume`"
        )
    return pyr


def spacing_from_meta(meta: dict[str, Any], path: Path | str) -> tuple[float, ...] | None:
    """The finest-scale pixel spacing recorded in ``pyramid.json``; None when absent (files
    written before the field existed) or null (unknown).

    Raises:
        PyramidFileError: a malformed value.
    """
    value = meta.get("spacing")
    nd = meta.get("spatial_dims", 2)
    if isinstance(value, bool) or (value is not None and not isinstance(value, list)):
        raise PyramidFileError(
            f"{path}: 'spacing' must be null or {('two', 'three')[nd - 2]} positive numbers, "
            f"got {value!r}"
        )
    try:
        return check_spacing(value, "spacing", dims=nd)
    except InputError as e:
        raise PyramidFileError(f"{path}: {e}") from None


def checkpoint_exists(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a pyramid checkpoint to resume: its ``pyramid.json``, or a
    pending ``pyramid.json.tmp`` whose save got as far as the weights (a pending JSON without
    weights is a first save stopped early: nothing to resume, start afresh)."""
    d = Path(directory)
    pending = (d / (JSON_NAME + ".tmp")).exists() and (d / WEIGHTS_NAME).exists()
    return (d / JSON_NAME).exists() or pending


def output_affine(pyramid: Pyramid, spatial_shape: tuple[int, ...]) -> np.ndarray | None:
    """The NIfTI affine for a volume of ``spatial_shape`` voxels drawn from ``pyramid``: the
    source volume's affine (``provenance["affine"]``, recorded by ``train`` from a NIfTI
    volume) rescaled so that the output covers the source's field of view. None for image
    pyramids and for volumes trained from other files.

    Raises:
        PyramidFileError: a malformed recorded affine or source shape.
    """
    prov = pyramid.provenance
    if pyramid.spatial_dims != 3 or prov.get("affine") is None:
        return None
    from .images import check_affine, resampled_affine

    src = prov.get("source_shape")
    if (
        not isinstance(src, list)
        or len(src) != 3
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in src)
    ):
        raise PyramidFileError(
            f"provenance 'source_shape' must be three positive ints beside 'affine', got {src!r}"
        )
    try:
        affine = check_affine(prov["affine"], "provenance 'affine'")
    except InputError as e:
        raise PyramidFileError(str(e)) from None
    return resampled_affine(affine, src, spatial_shape)


def read_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """The validated ``pyramid.json`` of a directory, without loading tensors."""
    p = Path(directory) / JSON_NAME
    if not p.is_file():
        raise PyramidFileError(f"{directory}: missing {JSON_NAME}")
    meta = _read_json(p)
    _validate_meta(meta, p)
    return meta
