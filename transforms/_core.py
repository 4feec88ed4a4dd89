"""Framework-free logic shared by the MONAI and TorchIO transforms.

Everything here works on plain torch tensors (channel-first, any number of spatial dims) and
the JAX engine, through the zero-copy bridge. The MONAI and TorchIO modules only add their
framework's conventions (randomness, metadata, history) on top.

Layout: a *layout tensor* is (C, *spatial) with C = the pyramid's channels in pyramid order,
image channels in their training range and label channels as one-hot masks in [0, 1] (exactly
what the pyramid was trained on). Named inputs (dict keys / TorchIO image names) are mapped to
layout channels by :func:`resolve_mapping`.

Volumes: a 2D pyramid works on planes. A (C, A, B) input is one plane. A (C, X, Y, Z) input
needs a slice axis: ``spatial_axis`` (0, 1 or 2, counted over the spatial dims) or, when it is
None, the single spatial axis of size 1 (a 2D image saved as a volume); otherwise
:class:`~singan_augment.errors.InputError` is raised - a plane is never guessed. ``slices``
chooses which planes along that axis are transformed: ``"all"`` (slice-wise, each slice an
independent draw), ``"center"``, ``"random"`` or an int index.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from singan_augment.errors import InputError, PyramidMismatchError

from . import bridge
from .bridge import check_jax_usable, jax_to_torch, numpy_to_torch, torch_to_jax

MODES = ("sample", "inject")
SLICE_CHOICES = ("all", "center", "random")


# ---------------------------------------------------------------------------------------------
# Pyramids: fixed, by path, per sample, with an LRU cache
# ---------------------------------------------------------------------------------------------


class PyramidCache:
    """A small per-process LRU cache of loaded pyramids, keyed by directory and mtime.

    It is emptied when pickled (e.g. sent to a spawned DataLoader worker): every process
    loads the pyramids it needs itself.
    """

    def __init__(self, maxsize: int = 4) -> None:
        if int(maxsize) < 1:
            raise InputError(f"cache_size must be >= 1, got {maxsize}")
        self.maxsize = int(maxsize)
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self.loads = 0

    def __getstate__(self) -> dict:
        return {"maxsize": self.maxsize, "_items": OrderedDict(), "loads": 0}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: str | os.PathLike) -> Any:
        from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid

        p = Path(path).expanduser().resolve()
        try:
            stamp = (p / JSON_NAME).stat().st_mtime_ns
        except OSError:
            stamp = None  # load_pyramid raises the proper PyramidFileError
        key = (str(p), stamp)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        check_jax_usable()  # loading creates JAX arrays: refuse in a tainted fork
        pyr = load_pyramid(p)
        self.loads += 1
        self._items[key] = pyr
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return pyr


def is_pyramid(obj: Any) -> bool:
    from singan_augment.engine.pyramid import Pyramid

    return isinstance(obj, Pyramid)


def resolve_pyramid(source: Any, cache: PyramidCache) -> Any:
    """A Pyramid from a Pyramid, a directory path (cached), or raise InputError."""
    if source is None:
        raise InputError("no pyramid given: pass pyramid= (a Pyramid or directory) or pyramid_key=")
    if is_pyramid(source):
        return source
    if isinstance(source, str | os.PathLike):
        return cache.get(source)
    raise InputError(f"pyramid must be a Pyramid or a directory path, got {type(source).__name__}")


def parse_scale_range(start_scale: int | Sequence[int]) -> tuple[int, int]:
    """An int or an inclusive (lo, hi) range of scales."""
    if isinstance(start_scale, bool):
        raise InputError(f"start_scale must be an int or (lo, hi), got {start_scale!r}")
    if isinstance(start_scale, int | np.integer):
        return int(start_scale), int(start_scale)
    try:
        lo, hi = (int(v) for v in start_scale)
    except (TypeError, ValueError):
        raise InputError(f"start_scale must be an int or (lo, hi), got {start_scale!r}") from None
    if lo > hi:
        raise InputError(f"start_scale range must have lo <= hi, got {start_scale!r}")
    return lo, hi


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def check_spatial_axis(axis: Any) -> int | None:
    """``None`` (2D inputs) or the volume axis 0, 1 or 2 that slices are taken along."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer) or axis not in (0, 1, 2):
        raise InputError(f"spatial_axis must be None, 0, 1 or 2, got {axis!r}")
    return int(axis)


def check_slices(slices: Any) -> Any:
    if isinstance(slices, bool) or not (
        slices in SLICE_CHOICES or isinstance(slices, int | np.integer)
    ):
        raise InputError(f"slices must be one of {SLICE_CHOICES} or an int, got {slices!r}")
    return slices


def resolve_scale(pyramid: Any, scale: int, mode: str) -> int:
    """Validate a (possibly negative) scale against the pyramid for the mode."""
    s = pyramid.check_scale(int(scale), "start_scale" if mode == "sample" else "injection scale")
    if mode == "inject" and s < 1:
        from singan_augment.errors import ScaleError

        raise ScaleError(
            f"mode='inject' needs a scale >= 1 (scale 0 is pure noise); this pyramid allows "
            f"1..{pyramid.num_trained - 1}"
        )
    return s


# ---------------------------------------------------------------------------------------------
# Named inputs <-> layout
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping_:
    """Which layout channels each named input holds; ``label_name`` holds the label map."""

    channels: dict[str, tuple[int, ...]]
    label_name: str | None


def resolve_mapping(
    spec: Any,
    counts: Mapping[str, int],
    label_name: str | None = None,
    channel_map: Mapping[str, Sequence[str]] | None = None,
) -> Mapping_:
    """Map named inputs (name -> number of channels) onto the pyramid's channels.

    Rules, in order: an explicit ``channel_map`` (name -> pyramid channel names); a name equal
    to a pyramid channel name takes that channel; ``label_name`` (or, if None, the name equal
    to the pyramid's only label channel) takes *all* label channels as one label map; the
    remaining names take the remaining image channels in order, each as many as it has.
    Every pyramid channel must be covered exactly once.

    Raises:
        PyramidMismatchError: with a message naming the uncovered channels or the bad counts.
    """
    names = list(spec.names)
    labels = [names[i] for i in spec.label_indices]
    out: dict[str, tuple[int, ...]] = {}
    if label_name is not None and label_name not in counts:
        raise PyramidMismatchError(
            f"label key {label_name!r} is not among the inputs {list(counts)}"
        )
    if label_name is not None and not labels:
        raise PyramidMismatchError(
            f"label key {label_name!r} given but the pyramid has no label channels ({names})"
        )
    if label_name is None and len(labels) == 1 and labels[0] in counts:
        label_name = labels[0]
    if channel_map:
        for key, chans in channel_map.items():
            if key not in counts:
                continue
            bad = [c for c in chans if c not in names]
            if bad:
                raise PyramidMismatchError(
                    f"channel_map[{key!r}] names unknown channels {bad}; the pyramid has {names}"
                )
            out[key] = tuple(names.index(c) for c in chans)
    if label_name is not None and label_name not in out:
        out[label_name] = tuple(spec.label_indices)
    for key in counts:
        if key not in out and key in names:
            if spec.kinds[names.index(key)] == "label" and key != label_name:
                continue
            out[key] = (names.index(key),)
    used = {i for v in out.values() for i in v}
    free = [i for i in spec.image_indices if i not in used]
    for key in counts:
        if key in out:
            continue
        n = int(counts[key])
        if n > len(free):
            raise PyramidMismatchError(
                f"input {key!r} has {n} channels but only {len(free)} pyramid image channels are "
                f"left ({[names[i] for i in free]}); the pyramid's channels are {names}"
            )
        out[key], free = tuple(free[:n]), free[n:]
    seen: dict[int, str] = {}
    for key, idx in out.items():
        for i in idx:
            if i in seen:
                raise PyramidMismatchError(
                    f"pyramid channel {names[i]!r} is given by both {seen[i]!r} and {key!r}"
                )
            seen[i] = key
    missing = [names[i] for i in range(len(names)) if i not in seen]
    if missing:
        hint = ""
        if any(names[i] in labels for i in range(len(names)) if i not in seen):
            hint = " (pass label_key= naming the input that holds the label map)"
        raise PyramidMismatchError(
            f"pyramid channels {missing} are not given by any input {list(counts)}{hint}"
        )
    for key, idx in out.items():
        if key == label_name:
            if counts[key] not in (1, len(idx)):
                raise PyramidMismatchError(
                    f"label input {key!r} has {counts[key]} channels; expected 1 (a label map) "
                    f"or {len(idx)} (one-hot)"
                )
        elif counts[key] != len(idx):
            raise PyramidMismatchError(
                f"input {key!r} has {counts[key]} channels but maps to {len(idx)} pyramid channels"
            )
    return Mapping_(out, label_name)


def check_input(x: Any, name: str = "input") -> torch.Tensor:
    """Validate one transform input: a real-valued (or boolean) tensor/array of shape
    (C, H, W) or (C, H, W, D) with no empty axis. Returns it as a tensor (no copy).

    Raises:
        InputError: naming the input and the problem (type, dtype, rank, empty axis).
    """
    if isinstance(x, np.ndarray):
        if not (
            x.dtype == bool
            or np.issubdtype(x.dtype, np.integer)
            or np.issubdtype(x.dtype, np.floating)
        ):
            raise InputError(f"{name} must be a real-valued array, got dtype {x.dtype}")
        x = torch.as_tensor(x)
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a tensor or array, got {type(x).__name__}")
    if x.is_complex():
        raise InputError(f"{name} must be real-valued, got dtype {x.dtype}")
    if x.ndim not in (3, 4):
        raise InputError(
            f"{name} must be channel-first (C, H, W) or (C, H, W, D), got shape {tuple(x.shape)}"
        )
    if 0 in x.shape:
        raise InputError(f"{name} is empty: shape {tuple(x.shape)}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or Inf values")
    return x


def checked_counts(named: Mapping[str, Any]) -> dict[str, int]:
    """``check_input`` every named input; return each one's channel count."""
    return {k: int(check_input(v, f"input {k!r}").shape[0]) for k, v in named.items()}


def _spatial(named: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    shapes = {k: tuple(v.shape[1:]) for k, v in named.items()}
    first = next(iter(shapes.values()))
    if any(s != first for s in shapes.values()):
        raise InputError(f"inputs must share one spatial shape, got {shapes}")
    return first


def build_layout(
    spec: Any, named: Mapping[str, torch.Tensor], mapping: Mapping_, need_values: bool
) -> torch.Tensor:
    """Assemble named (c, *spatial) tensors into the (C, *spatial) float32 layout tensor.

    With ``need_values`` False (sample mode) only the shape matters and zeros are returned.
    """
    sp = _spatial(named)
    for k, v in named.items():
        if v.ndim < 3:
            raise InputError(
                f"input {k!r} must be channel-first (C, H, W[, D]), got shape {tuple(v.shape)}"
            )
    x = torch.zeros((spec.num_channels, *sp), dtype=torch.float32)
    if not need_values:
        return x
    for key, idx in mapping.channels.items():
        v = bridge.plain_tensor(named[key]).detach()
        if key == mapping.label_name:
            k = len(idx)
            if v.shape[0] == 1:
                lab = torch.round(v[0].to(torch.float32))
                if lab.numel() and (lab.min() < 0 or lab.max() > k):
                    raise InputError(
                        f"label map {key!r} has values in [{lab.min().item():g}, {lab.max().item():g}]; "
                        f"the pyramid has {k} label channel(s), so labels must be in 0..{k}"
                    )
                for j, i in enumerate(idx):
                    x[i] = (lab == j + 1).to(torch.float32)
            else:
                x[list(idx)] = v.to(torch.float32).clamp(0, 1)
        else:
            x[list(idx)] = v.to(torch.float32)
    return x


def split_layout(
    out: torch.Tensor, named: Mapping[str, torch.Tensor], mapping: Mapping_
) -> dict[str, torch.Tensor]:
    """Split a (C, *spatial) result back into the named inputs' shapes and dtypes.

    Image inputs keep their float dtype (integer image inputs come back float32); the label
    input comes back as a label map (or one-hot, as given) in its own dtype.
    """
    res: dict[str, torch.Tensor] = {}
    for key, idx in mapping.channels.items():
        ref = bridge.plain_tensor(named[key])
        if key == mapping.label_name:
            onehot = out[list(idx)] > 0.5
            if ref.shape[0] == 1:
                lab = torch.zeros(out.shape[1:], dtype=torch.int64)
                for j in range(len(idx)):
                    lab[onehot[j]] = j + 1
                res[key] = lab[None].to(ref.dtype)
            else:
                res[key] = onehot.to(ref.dtype)
        else:
            dt = ref.dtype if ref.is_floating_point() else torch.float32
            res[key] = out[list(idx)].to(dt)
    return res


# ---------------------------------------------------------------------------------------------
# Planes of volumes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planes:
    """Where the 2D planes of an input live: slice axis (in tensor dims) and indices."""

    axis: int | None  # tensor dim of the slice axis; None for a 2D input
    indices: tuple[int, ...]
    transpose: bool


def plan_planes(
    shape: Sequence[int],
    spatial_axis: int | None,
    slices: Any,
    slice_u: float,
    transpose: bool,
) -> Planes:
    """Decide which planes of a (C, *spatial) input the 2D pyramid sees.

    ``slice_u`` in [0, 1) picks the slice for ``slices="random"`` (drawn by the caller's RNG).

    Raises:
        InputError: a volume with no slice axis given and none of size 1, a bad axis or index,
        or an input that is neither 2D nor 3D.
    """
    sp = list(shape[1:])
    if len(sp) == 2:
        return Planes(None, (0,), transpose)
    if len(sp) != 3:
        raise InputError(f"expected (C, H, W) or (C, H, W, D), got shape {tuple(shape)}")
    if spatial_axis is None:
        singles = [i for i, n in enumerate(sp) if n == 1]
        if len(singles) != 1:
            raise InputError(
                f"a 3D volume of spatial shape {tuple(sp)} was given to a 2D pyramid: set "
                "spatial_axis (0, 1 or 2; the axis the slices are taken along) and slices "
                "('all', 'center', 'random' or an index). The plane is never guessed."
            )
        ax = singles[0]
    else:
        ax = int(spatial_axis)
        if ax < 0:
            ax += 3
        if not 0 <= ax < 3:
            raise InputError(f"spatial_axis must be 0, 1 or 2 for a 3D volume, got {spatial_axis}")
    n = sp[ax]
    slices = check_slices(slices)
    if slices == "all":
        idx = tuple(range(n))
    elif slices == "center":
        idx = (n // 2,)
    elif slices == "random":
        idx = (min(int(slice_u * n), n - 1),)
    else:
        i = int(slices) + (n if slices < 0 else 0)
        if not 0 <= i < n:
            raise InputError(f"slice index {slices} out of range for {n} slices along axis {ax}")
        idx = (i,)
    return Planes(ax + 1, idx, transpose)


def take_planes(x: torch.Tensor, planes: Planes) -> torch.Tensor:
    """(C, *spatial) -> (S, C, A, B) planes (transposed to the pyramid's (H, W) if asked)."""
    if planes.axis is None:
        p = x[None]
    else:
        p = x.movedim(planes.axis, 0)[list(planes.indices)]
    return p.transpose(-1, -2) if planes.transpose else p


def put_planes(x: torch.Tensor, p: torch.Tensor, planes: Planes) -> torch.Tensor:
    """Inverse of ``take_planes``: a copy of ``x`` with the planes replaced by ``p``."""
    if planes.transpose:
        p = p.transpose(-1, -2)
    if planes.axis is None:
        return p[0].contiguous()
    out = x.clone()
    out.movedim(planes.axis, 0)[list(planes.indices)] = p.to(out.dtype)
    return out


# ---------------------------------------------------------------------------------------------
# The engine through the bridge
# ---------------------------------------------------------------------------------------------


def normalise_planes(spec: Any, p: torch.Tensor) -> torch.Tensor:
    """(S, C, A, B) training range -> (S, A, B, C) in [-1, 1], compact NHWC memory."""
    lo = torch.tensor(spec.low, dtype=torch.float32).view(1, -1, 1, 1)
    hi = torch.tensor(spec.high, dtype=torch.float32).view(1, -1, 1, 1)
    n = (p.to(torch.float32) - lo) / (hi - lo) * 2.0 - 1.0
    return n.permute(0, 2, 3, 1).contiguous()


def denormalise_planes(spec: Any, nhwc: torch.Tensor, decode: Any = None) -> torch.Tensor:
    """(S, A, B, C) engine output -> (S, C, A, B) training range; label channels decoded to
    one-hot 0/1 masks with the engine's hysteresis rule (``channels.decode_labels``)."""
    from singan_augment.engine.channels import decode_labels
    from singan_augment.engine.config import LabelDecodeConfig

    lo = torch.tensor(spec.low, dtype=torch.float32).view(1, -1, 1, 1)
    hi = torch.tensor(spec.high, dtype=torch.float32).view(1, -1, 1, 1)
    out = (nhwc.permute(0, 3, 1, 2) + 1.0) * 0.5 * (hi - lo) + lo
    li = spec.label_indices
    if li:
        probs = out[:, li].clamp(0.0, 1.0)
        cfg = decode or LabelDecodeConfig()
        for s in range(out.shape[0]):
            lab = numpy_to_torch(decode_labels(probs[s].numpy(), cfg))
            for j, i in enumerate(li):
                out[s, i] = (lab == j + 1).to(torch.float32)
    return out


def inject_normalised(pyramid: Any, nhwc: Any, scale: int, key: Any) -> Any:
    """One structure-preserving variation of a normalised (1, H, W, C) JAX image at ``scale``
    (the engine's ``harmonize.inject_normalised``); returns (1, H, W, C) in [-1, 1] units."""
    from singan_augment.engine.harmonize import inject_normalised as engine_inject

    return engine_inject(pyramid, nhwc, scale, key, 1)


def run_engine(
    pyramid: Any, planes: torch.Tensor, mode: str, scale: int, seed: int
) -> torch.Tensor:
    """Run the engine on (S, C, A, B) planes in the training range; returns the same shape,
    label channels as one-hot 0/1. ``sample`` uses only the shape; ``inject`` the values.
    Deterministic in ``seed``; the S planes get independent streams split from it."""
    import jax
    import jax.numpy as jnp

    from singan_augment.engine.sample import sample_normalised

    check_jax_usable()
    spec = pyramid.channels
    s, c, a, b = planes.shape
    if c != pyramid.num_channels:
        raise PyramidMismatchError(
            f"input has {c} channels but the pyramid has {pyramid.num_channels} ({', '.join(spec.names)})"
        )
    key = jax.random.PRNGKey(int(seed) % (2**32))
    if mode == "sample":
        out = sample_normalised(pyramid, key, s, start_scale=scale, size=(a, b))
    else:
        xj, _ = torch_to_jax(normalise_planes(spec, planes))
        keys = jax.random.split(key, s)
        outs = [inject_normalised(pyramid, xj[i : i + 1], scale, keys[i]) for i in range(s)]
        out = outs[0] if s == 1 else jnp.concatenate(outs, axis=0)
    return denormalise_planes(spec, jax_to_torch(out))


def apply_named(
    pyramid: Any,
    named: Mapping[str, torch.Tensor],
    *,
    label_name: str | None = None,
    channel_map: Mapping[str, Sequence[str]] | None = None,
    **kwargs: Any,
) -> dict[str, torch.Tensor]:
    """Map named (c, *spatial) tensors onto the pyramid, transform, and split them back.

    Raises:
        InputError (see ``check_input``), PyramidMismatchError: inputs that do not fit.
    """
    counts = checked_counts(named)
    mapping = resolve_mapping(pyramid.channels, counts, label_name, channel_map)
    # values are needed in sample mode too: planes that are not transformed are kept
    x = build_layout(pyramid.channels, named, mapping, need_values=True)
    return split_layout(apply_layout(pyramid, x, **kwargs), named, mapping)


def apply_layout(
    pyramid: Any,
    x: torch.Tensor,
    *,
    mode: str,
    scale: int,
    seed: int,
    spatial_axis: int | None = None,
    slices: Any = "all",
    slice_u: float = 0.0,
    transpose: bool = False,
) -> torch.Tensor:
    """Transform a (C, *spatial) layout tensor (float32) with the pyramid; same shape out."""
    mode = check_mode(mode)
    if x.shape[0] != pyramid.num_channels:
        raise PyramidMismatchError(
            f"input has {x.shape[0]} channels but the pyramid has {pyramid.num_channels} "
            f"({', '.join(pyramid.channels.names)})"
        )
    planes = plan_planes(x.shape, spatial_axis, slices, slice_u, transpose)
    scale = resolve_scale(pyramid, scale, mode)
    p = take_planes(x, planes)
    if min(p.shape[-2:]) < 4:
        raise InputError(f"planes of size {tuple(p.shape[-2:])} are too small for the pyramid")
    out = run_engine(pyramid, p, mode, scale, seed)
    return put_planes(x, out, planes)


# ---------------------------------------------------------------------------------------------
# Tumour insertion
# ---------------------------------------------------------------------------------------------

# Relative intensity of (necrotic core, enhancing rim, oedema) per contrast, in [0, 1] of the
# brain's intensity range. Plausible orders for 1.5 T (T2/FLAIR: oedema bright; FLAIR core
# darker; T1: oedema/core dark, rim bright as after contrast). Unknown contrasts draw at random.
_CONTRAST_TABLE = {
    "t1": (0.15, 0.75, 0.35),
    "t1c": (0.15, 0.9, 0.35),
    "t1ce": (0.15, 0.9, 0.35),
    "t2": (0.95, 0.6, 0.85),
    "flair": (0.45, 0.65, 0.9),
}


@dataclass(frozen=True)
class TumourPatchData:
    image: np.ndarray  # (C, s, s) in [0, 1]
    label: np.ndarray  # (s, s) uint8, 0 outside
    mask: np.ndarray  # (s, s) bool


def procedural_tumour(seed: int, size: int, contrasts: Sequence[str]) -> TumourPatchData:
    """A simple internal tumour: irregular necrotic core (1), enhancing rim (2) and oedema (3)
    (the label convention of ``singan_augment.tumour``) with smooth texture. Used when that
    module is missing or does not accept the size/contrasts (it needs t1/t2/flair names)."""
    from scipy import ndimage

    rng = np.random.default_rng(int(seed))
    s = int(size)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    c = (s - 1) / 2.0
    r = np.hypot(yy - c, xx - c)
    th = np.arctan2(yy - c, xx - c)
    wobble = 1.0 + sum(
        rng.uniform(0.03, 0.12) * np.sin(k * th + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)
    )
    rn = r / (0.48 * s * wobble)
    label = np.zeros((s, s), np.uint8)
    label[rn < 1.0] = 3
    rim = rng.uniform(0.45, 0.6)
    label[rn < rim] = 2
    label[rn < rim * rng.uniform(0.55, 0.75)] = 1
    tex = ndimage.gaussian_filter(rng.standard_normal((s, s)), max(s / 24, 0.8))
    tex = tex / (np.abs(tex).max() + 1e-8)
    imgs = []
    for name in contrasts:
        vals = _CONTRAST_TABLE.get(str(name).lower())
        if vals is None:
            vals = tuple(rng.uniform(0.1, 0.95, 3))
        ch = np.zeros((s, s))
        for cls, v in zip((1, 2, 3), vals):
            ch[label == cls] = v
        ch = ndimage.gaussian_filter(ch, 0.8) + 0.06 * tex
        imgs.append(np.clip(ch, 0, 1))
    return TumourPatchData(np.stack(imgs).astype(np.float32), label, label > 0)


def make_patch(seed: int, size: int, contrasts: Sequence[str]) -> TumourPatchData:
    """A tumour patch from ``singan_augment.tumour.make_tumour`` when that module exists,
    otherwise from :func:`procedural_tumour`."""
    try:
        from singan_augment.tumour import make_tumour
    except ImportError:
        return procedural_tumour(seed, size, contrasts)
    try:  # it needs size >= 16 and contrasts among t1/t2(w)/flair
        t = make_tumour(int(seed), max(int(size), 16), tuple(contrasts))
    except ValueError:
        return procedural_tumour(seed, size, contrasts)
    image = np.asarray(t.image, np.float32)
    label = np.asarray(t.label).astype(np.uint8)
    mask = np.asarray(getattr(t, "mask", label > 0)).astype(bool)
    return TumourPatchData(image, label, mask)


def bank_patch(entry: Any, channels: int, tumour_label: int) -> TumourPatchData:
    """Normalise one bank entry: ``(image (C,s,s) in [0,1], mask or label (s,s))`` or an object
    with ``image``/``label``/``mask`` attributes. A binary mask gets label ``tumour_label``."""
    if hasattr(entry, "image"):
        image, lab = entry.image, getattr(entry, "label", None)
        mask = getattr(entry, "mask", None)
        lab = mask if lab is None else lab
    else:
        image, lab = entry
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = np.repeat(image[None], channels, 0)
    lab = np.asarray(lab)
    if image.ndim != 3 or image.shape[0] != channels or lab.shape != image.shape[1:]:
        raise InputError(
            f"tumour bank entry has image {image.shape} and mask {lab.shape}; expected "
            f"({channels}, s, s) and (s, s)"
        )
    if lab.dtype == bool or lab.max() <= 1:
        lab = np.where(lab > 0.5, tumour_label, 0)
    lab = lab.astype(np.uint8)
    return TumourPatchData(np.clip(image, 0, 1), lab, lab > 0)


def transform_patch(p: TumourPatchData, zoom: float, angle: float) -> TumourPatchData:
    """Scale and rotate a patch (linear for the image, nearest for the label)."""
    from scipy import ndimage

    img, lab = p.image, p.label
    if abs(zoom - 1.0) > 1e-6:
        img = ndimage.zoom(img, (1, zoom, zoom), order=1)
        lab = ndimage.zoom(lab, zoom, order=0)
    if abs(angle) > 1e-6:
        img = ndimage.rotate(img, angle, axes=(1, 2), order=1, reshape=True)
        lab = ndimage.rotate(lab, angle, order=0, reshape=True)
    return TumourPatchData(np.clip(img, 0, 1).astype(np.float32), lab.astype(np.uint8), lab > 0)


@dataclass(frozen=True)
class TumourParams:
    """Everything random about one tumour insertion (so a call can be replayed)."""

    seed: int  # engine noise
    patch_seed: int  # procedural patch / bank index
    loc_u: float  # picks the centre among candidate pixels
    slice_u: float
    zoom: float
    angle: float
    patch_size: int


def brain_mask_from(image_planes: np.ndarray, threshold: float | None) -> np.ndarray:
    """(C, A, B) -> (A, B) bool: first channel above ``threshold`` (default: 10% of its range
    above its minimum)."""
    ch = image_planes[0]
    t = ch.min() + 0.1 * (ch.max() - ch.min()) if threshold is None else threshold
    return ch > t


def pick_centre(mask: np.ndarray, radius: float, u: float) -> tuple[int, int]:
    """A pixel of ``mask`` at least ``radius`` from its edge if any, chosen by ``u`` in [0, 1)."""
    from scipy import ndimage

    if not mask.any():
        raise InputError("the brain mask is empty: cannot choose a tumour location")
    dist = ndimage.distance_transform_edt(mask)
    cand = np.argwhere(dist >= radius)
    if len(cand) == 0:
        cand = np.argwhere(dist >= dist.max())
    y, x = cand[min(int(u * len(cand)), len(cand) - 1)]
    return int(y), int(x)


def paste(
    image: np.ndarray,
    label: np.ndarray,
    brain: np.ndarray,
    patch: TumourPatchData,
    centre: tuple[int, int],
    label_map: Mapping[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naive paste of ``patch`` centred at ``centre`` (cropped at the borders, kept inside the
    brain). Patch intensities [0, 1] map to each channel's 1st..99th brain percentile.

    Returns (composite (C, A, B), new label (A, B), paste mask (A, B) bool).
    """
    c, a, b = image.shape
    s0, s1 = patch.label.shape
    y0, x0 = centre[0] - s0 // 2, centre[1] - s1 // 2
    ya, yb = max(y0, 0), min(y0 + s0, a)
    xa, xb = max(x0, 0), min(x0 + s1, b)
    pm = np.zeros((a, b), bool)
    pl = np.zeros((a, b), np.uint8)
    pi = np.zeros((c, a, b), np.float32)
    pm[ya:yb, xa:xb] = patch.mask[ya - y0 : yb - y0, xa - x0 : xb - x0]
    pl[ya:yb, xa:xb] = patch.label[ya - y0 : yb - y0, xa - x0 : xb - x0]
    pi[:, ya:yb, xa:xb] = patch.image[:, ya - y0 : yb - y0, xa - x0 : xb - x0]
    pm &= brain
    if not pm.any():
        raise InputError("the tumour patch does not overlap the brain mask")
    comp = image.copy()
    region = brain if brain.sum() > 16 else np.ones_like(brain)
    for ch in range(c):
        lo, hi = np.percentile(image[ch][region], [1, 99])
        comp[ch][pm] = lo + pi[ch][pm] * (hi - lo)
    new_label = label.copy()
    mapped = pl.copy()  # labels not in label_map keep their value
    for src, dst in label_map.items():
        mapped[pl == src] = dst
    sel = pm & (pl > 0)
    new_label[sel] = mapped[sel]
    return comp, new_label, pm


def tumour_plane(
    pyramid: Any,
    image: np.ndarray,
    label: np.ndarray,
    brain: np.ndarray | None,
    params: TumourParams,
    *,
    injection_scale: int,
    bank: Sequence[Any] | None,
    location: tuple[int, int] | None,
    label_map: Mapping[int, int],
    threshold: float | None,
    tumour_label: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Insert and harmonize one tumour in one plane.

    Args:
        image: (C_img, A, B) image channels (the pyramid's image channels, in order).
        label: (A, B) integer label map (zeros if there is none).
    Returns:
        (image, label) of the same shapes: harmonized image; label with the tumour classes set
        inside the pasted mask and untouched outside.
    """
    from singan_augment.engine.harmonize import harmonize

    check_jax_usable()
    spec = pyramid.channels
    img_idx, lab_idx = spec.image_indices, spec.label_indices
    if image.shape[0] != len(img_idx):
        raise PyramidMismatchError(
            f"{image.shape[0]} image channels given; the pyramid has {len(img_idx)} "
            f"({[spec.names[i] for i in img_idx]})"
        )
    if bank:
        entry = bank[params.patch_seed % len(bank)]
        patch = bank_patch(entry, image.shape[0], tumour_label)
    else:
        patch = make_patch(params.patch_seed, params.patch_size, [spec.names[i] for i in img_idx])
    patch = transform_patch(patch, params.zoom, params.angle)
    if brain is None:
        brain = brain_mask_from(image, threshold)
    if brain.shape != image.shape[1:]:
        raise InputError(
            f"brain mask shape {brain.shape} differs from the image's {image.shape[1:]}"
        )
    radius = 0.3 * max(patch.label.shape)
    centre = location if location is not None else pick_centre(brain, radius, params.loc_u)
    if not (0 <= centre[0] < image.shape[1] and 0 <= centre[1] < image.shape[2]):
        raise InputError(f"tumour location {centre} is outside the plane {image.shape[1:]}")
    comp, new_label, pm = paste(image, label, brain.astype(bool), patch, centre, label_map)
    full = np.zeros((spec.num_channels, *image.shape[1:]), np.float32)
    full[img_idx] = comp
    for j, i in enumerate(lab_idx):  # pyramids with label channels see the new label map
        full[i] = (new_label == j + 1) if len(lab_idx) > 1 else (new_label > 0)
    s = resolve_scale(pyramid, injection_scale, "inject")
    out = harmonize(pyramid, full, pm, s, int(params.seed) % (2**32))
    return out[img_idx], new_label


def tumour_named(
    pyramid: Any,
    images: Mapping[str, torch.Tensor],
    label: torch.Tensor | None,
    brain: torch.Tensor | None,
    params: TumourParams,
    *,
    channel_map: Mapping[str, Sequence[str]] | None = None,
    spatial_axis: int | None = None,
    slices: Any = "center",
    transpose: bool = False,
    **plane_kwargs: Any,
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Tumour insertion on named image inputs (mapped to the pyramid's *image* channels), an
    optional (1, *spatial) label map and an optional (1, *spatial) brain mask.

    Returns the new images (same shapes; float dtype kept, integer images become float32) and
    the new label map (input dtype) or None.
    """
    from singan_augment.engine.channels import ChannelSpec

    spec = pyramid.channels
    ii = spec.image_indices
    img_spec = ChannelSpec(
        tuple(spec.names[i] for i in ii),
        ("image",) * len(ii),
        tuple(spec.low[i] for i in ii),
        tuple(spec.high[i] for i in ii),
    )
    counts = checked_counts(images)
    mapping = resolve_mapping(img_spec, counts, None, channel_map)
    x = build_layout(img_spec, images, mapping, need_values=True)
    sp = tuple(x.shape[1:])
    for what, t in (("label", label), ("brain mask", brain)):
        if t is not None and (t.shape[0] != 1 or tuple(t.shape[1:]) != sp):
            raise InputError(
                f"{what} must be (1, *spatial) with spatial shape {sp}, got {tuple(t.shape)}"
            )
    lab = (
        torch.zeros((1, *sp), dtype=torch.int64)
        if label is None
        else torch.round(bridge.plain_tensor(label).detach().to(torch.float32)).to(torch.int64)
    )
    planes = plan_planes(x.shape, spatial_axis, slices, params.slice_u, transpose)
    p_img = take_planes(x, planes)
    p_lab = take_planes(lab, planes)
    p_brain = None if brain is None else take_planes(bridge.plain_tensor(brain).detach() > 0, planes)
    out_img = p_img.clone()
    out_lab = p_lab.clone()
    for k in range(p_img.shape[0]):
        pk = (
            params
            if k == 0
            else replace(params, seed=params.seed + k, patch_seed=params.patch_seed + k)
        )
        im, lb = tumour_plane(
            pyramid,
            p_img[k].numpy(),
            p_lab[k, 0].numpy(),
            None if p_brain is None else p_brain[k, 0].numpy(),
            pk,
            **plane_kwargs,
        )
        out_img[k] = numpy_to_torch(np.ascontiguousarray(im))
        out_lab[k, 0] = numpy_to_torch(np.ascontiguousarray(lb.astype(np.int64)))
    new_x = put_planes(x, out_img, planes)
    new_lab = put_planes(lab, out_lab, planes)
    res = split_layout(new_x, images, mapping)
    out_label = None if label is None else new_lab.to(bridge.plain_tensor(label).dtype)
    return res, out_label


# ---------------------------------------------------------------------------------------------
# Test / benchmark helper
# ---------------------------------------------------------------------------------------------


def untrained_pyramid(
    image: np.ndarray,
    seed: int = 0,
    *,
    channel_names: Sequence[str] | None = None,
    label_channels: Sequence[str] = (),
    model_config: Any = None,
    pyramid_config: Any = None,
) -> Any:
    """A *complete* pyramid with freshly initialised (untrained) generators.

    For tests and throughput benchmarks only: it has the real architecture, shapes, channel
    spec and compute cost of a trained pyramid (noise amplitude 1 at scale 0, 0.1 above),
    but its samples are meaningless. Built in seconds instead of hours.
    """
    import jax

    from singan_augment.engine.config import ModelConfig, PyramidConfig
    from singan_augment.engine.fit import init_pyramid
    from singan_augment.engine.generate import Stage
    from singan_augment.engine.networks import init_generator

    mcfg = model_config or ModelConfig()
    pyr = init_pyramid(
        image,
        seed,
        channel_names=channel_names,
        label_channels=label_channels,
        model_config=mcfg,
        pyramid_config=pyramid_config or PyramidConfig(),
    )
    key = jax.random.PRNGKey(seed + 1)
    for n in range(pyr.num_scales):
        params, stats = init_generator(
            jax.random.fold_in(key, n), pyr.num_channels, mcfg.nfc(n), mcfg
        )
        amp = jax.numpy.float32(1.0 if n == 0 else 0.1)
        pyr = pyr.with_stage(Stage(params, stats, amp))
    return pyr


__all__ = [
    "Mapping_",
    "Planes",
    "PyramidCache",
    "TumourParams",
    "apply_layout",
    "build_layout",
    "make_patch",
    "plan_planes",
    "procedural_tumour",
    "put_planes",
    "resolve_mapping",
    "resolve_pyramid",
    "run_engine",
    "split_layout",
    "take_planes",
    "tumour_plane",
]
