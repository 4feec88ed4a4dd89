"""Growing-generator files: one ``growing.safetensors`` per model, its JSON metadata in the
safetensors header. Never pickle.

One file, written atomically (``atomic_write``), so that a crash leaves the previous
checkpoint or the new one, never a mix of the two. Loading checks the format, the version,
the metadata's schema and every tensor's name and shape before any tensor is used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from singan_augment import __version__
from singan_augment.engine.channels import ChannelSpec
from singan_augment.engine.config import GrowingConfig, ModelConfig, TrainConfig
from singan_augment.engine.growing_fit import GrowingModel
from singan_augment.errors import InputError, PyramidFileError

from .atomic import atomic_write

FORMAT = "singan-augment-growing"
VERSION = 1
FILE_NAME = "growing.safetensors"
META_KEY = "singan_augment"
MAX_BYTES = 2 << 30


def _layer_names(prefix: str, keys: tuple[str, ...]) -> list[str]:
    return [f"{prefix}/{k}" for k in keys]


def expected_shapes(meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every tensor a file with metadata ``meta`` holds, and its shape."""
    g = GrowingConfig.from_dict(meta["growing_config"])
    m = ModelConfig.from_dict(meta["model_config"])
    shapes = [tuple(s) for s in meta["shapes"]]
    c, f, n = len(meta["channels"]["names"]), g.width, int(meta["num_trained"])
    out: dict[str, tuple[int, ...]] = {"z_opt": (1, *shapes[0], c)}
    for k, s in enumerate(shapes):
        out[f"reals/{k}"] = (1, *s, c)
    if n == 0:
        return out
    out.update({"g/head/w": (3, 3, c, f), "g/head/b": (f,), "g/tail/w": (3, 3, f, c)})
    out["g/tail/b"] = (c,)
    for k in range(n):
        for j in range(g.stage_layers):
            out[f"g/stages/{k}/{j}/w"], out[f"g/stages/{k}/{j}/b"] = (3, 3, f, f), (f,)
    width = m.nfc(n - 1)
    chans = [c] + [width] * (m.num_layers - 1) + [1]
    for i in range(m.num_layers):
        out[f"critic/layers/{i}/w"] = (3, 3, chans[i], chans[i + 1])
        out[f"critic/layers/{i}/b"] = (chans[i + 1],)
        if i < m.num_layers - 1:
            out[f"critic/layers/{i}/gamma"] = out[f"critic/layers/{i}/beta"] = (chans[i + 1],)
    return out


def save_growing(model: GrowingModel, directory: str | os.PathLike) -> Path:
    """Write ``model`` to ``directory/growing.safetensors`` atomically; returns the path."""
    from safetensors.numpy import save

    tensors = {"z_opt": np.asarray(model.z_opt)}
    tensors.update({f"reals/{k}": np.asarray(r) for k, r in enumerate(model.reals)})
    if model.num_trained:
        p = model.params
        for name in ("head", "tail"):
            tensors.update({f"g/{name}/{k}": np.asarray(v) for k, v in p[name].items()})
        for k, stage in enumerate(p["stages"]):
            for j, layer in enumerate(stage):
                tensors.update({f"g/stages/{k}/{j}/{n}": np.asarray(v) for n, v in layer.items()})
        for i, layer in enumerate(model.critic["layers"]):
            tensors.update({f"critic/layers/{i}/{n}": np.asarray(v) for n, v in layer.items()})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "package_version": __version__,
        "shapes": [list(s) for s in model.shapes],
        "num_trained": model.num_trained,
        "amps": [float(a) for a in model.amps],
        "seed": model.seed,
        "channels": model.spec.to_dict(),
        "growing_config": model.growing_config.to_dict(),
        "model_config": model.model_config.to_dict(),
        "train_config": model.train_config.to_dict(),
    }
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / FILE_NAME
    atomic_write(path, save(tensors, metadata={META_KEY: json.dumps(meta, sort_keys=True)}))
    return path


def load_growing(directory: str | os.PathLike) -> GrowingModel:
    """Load and check ``directory/growing.safetensors``.

    Raises:
        PyramidFileError: a missing, oversized or unreadable file, another format or version,
            malformed metadata, or tensors missing, extra or of the wrong shape.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(directory) / FILE_NAME
    if not path.is_file():
        raise PyramidFileError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise PyramidFileError(f"{path}: over the {MAX_BYTES}-byte limit")
    try:
        with safe_open(str(path), framework="np") as f:
            header = (f.metadata() or {}).get(META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise PyramidFileError(f"{path}: not a readable safetensors file ({e})") from e
    try:
        meta = json.loads(header) if header is not None else None
    except json.JSONDecodeError as e:
        raise PyramidFileError(f"{path}: its metadata is not JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PyramidFileError(f"{path}: not a {FORMAT} file")
    if meta.get("version") != VERSION:
        raise PyramidFileError(
            f"{path}: unsupported version {meta.get('version')!r} (this build reads {VERSION})"
        )
    try:
        want = expected_shapes(meta)
        spec = ChannelSpec.from_dict(meta["channels"])
        configs = (
            GrowingConfig.from_dict(meta["growing_config"]),
            ModelConfig.from_dict(meta["model_config"]),
            TrainConfig.from_dict(meta["train_config"]),
        )
        amps = tuple(float(a) for a in meta["amps"])
        shapes = tuple(tuple(int(v) for v in s) for s in meta["shapes"])
        seed = int(meta["seed"])
    except (KeyError, TypeError, ValueError, InputError) as e:
        raise PyramidFileError(f"{path}: malformed metadata ({e})") from e
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != want or len(amps) != int(meta["num_trained"]):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        raise PyramidFileError(
            f"{path}: tensors do not match the metadata (missing {missing[:5]}, extra "
            f"{extra[:5]}, misshapen {wrong[:5]}, {len(amps)} amplitudes)"
        )
    t = {k: jax.device_put(v) for k, v in tensors.items()}
    n, gcfg = int(meta["num_trained"]), configs[0]
    params = critic = None
    if n:

        def layer(prefix: str, keys=("w", "b")) -> dict[str, jax.Array]:
            return {k: t[f"{prefix}/{k}"] for k in keys}

        params = {
            "head": layer("g/head"),
            "stages": tuple(
                tuple(layer(f"g/stages/{k}/{j}") for j in range(gcfg.stage_layers))
                for k in range(n)
            ),
            "tail": layer("g/tail"),
        }
        nl = configs[1].num_layers
        critic = {
            "layers": [
                layer(
                    f"critic/layers/{i}", ("w", "b", "gamma", "beta") if i < nl - 1 else ("w", "b")
                )
                for i in range(nl)
            ]
        }
    reals = tuple(t[f"reals/{k}"] for k in range(len(shapes)))
    return GrowingModel(params, amps, t["z_opt"], shapes, reals, spec, *configs, seed, critic)
