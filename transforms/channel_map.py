"""Named inputs (dict keys, TorchIO image names) <-> the pyramid's channels.

A *layout tensor* is (C, *spatial) with C = the pyramid's channels in pyramid order, image
channels in their training range and label channels as one-hot masks in [0, 1] (exactly what
the pyramid was trained on). :func:`resolve_mapping` decides which layout channels each named
input holds (a :class:`ChannelMap`); :func:`build_layout` assembles the named tensors into a
layout tensor and :func:`split_layout` splits a result back into the inputs' shapes and dtypes.

Here ``channel_map`` arguments are the user's explicit overrides (input name -> pyramid
channel names); a :class:`ChannelMap` is the complete, resolved assignment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from singan_augment.errors import InputError, PyramidMismatchError

from .bridge import plain_tensor


@dataclass(frozen=True)
class ChannelMap:
    """Which layout channels each named input holds; ``label_name`` holds the label map."""

    channels: dict[str, tuple[int, ...]]
    label_name: str | None


def resolve_mapping(
    spec: Any,
    counts: Mapping[str, int],
    label_name: str | None = None,
    channel_map: Mapping[str, Sequence[str]] | None = None,
) -> ChannelMap:
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
    return ChannelMap(out, label_name)


def _spatial_shape(named: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    shapes = {k: tuple(v.shape[1:]) for k, v in named.items()}
    first = next(iter(shapes.values()))
    if any(s != first for s in shapes.values()):
        raise InputError(f"inputs must share one spatial shape, got {shapes}")
    return first


def build_layout(
    spec: Any, named: Mapping[str, torch.Tensor], mapping: ChannelMap, need_values: bool
) -> torch.Tensor:
    """Assemble named (c, *spatial) tensors into the (C, *spatial) float32 layout tensor.

    With ``need_values`` False (sample mode) only the shape matters and zeros are returned.
    """
    sp = _spatial_shape(named)
    for k, v in named.items():
        if v.ndim < 3:
            raise InputError(
                f"input {k!r} must be channel-first (C, H, W[, D]), got shape {tuple(v.shape)}"
            )
    x = torch.zeros((spec.num_channels, *sp), dtype=torch.float32)
    if not need_values:
        return x
    for key, idx in mapping.channels.items():
        v = plain_tensor(named[key]).detach()
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
    out: torch.Tensor, named: Mapping[str, torch.Tensor], mapping: ChannelMap
) -> dict[str, torch.Tensor]:
    """Split a (C, *spatial) result back into the named inputs' shapes and dtypes.

    Image inputs keep their float dtype (integer image inputs come back float32); the label
    input comes back as a label map (or one-hot, as given) in its own dtype.
    """
    res: dict[str, torch.Tensor] = {}
    for key, idx in mapping.channels.items():
        ref = plain_tensor(named[key])
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


__all__ = ["ChannelMap", "build_layout", "resolve_mapping", "split_layout"]
