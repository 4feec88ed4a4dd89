"""Channel kinds, per-channel intensity normalisation, and label decoding.

A pyramid's channels are each ``"image"`` or ``"label"``. The label channels of a pyramid
together encode one label map: one label channel is a binary mask (class 1), K label channels
are one-hot masks of classes 1..K (background implicit). Label channels train as continuous
channels in [-1, 1] like every other channel; at sampling they are decoded back to a label map
(see ``decode_labels``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from singan_augment.errors import InputError

from .config import LabelDecodeConfig

KINDS = ("image", "label")


@dataclass(frozen=True)
class ChannelSpec:
    """Names, kinds and the intensity range ``[low, high]`` of each channel.

    ``normalise`` maps ``[low, high]`` to ``[-1, 1]`` per channel; ``denormalise`` inverts it.
    Label channels always have the range [0, 1].
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.names)
        if n == 0:
            raise InputError("a pyramid needs at least one channel")
        if not (len(self.kinds) == len(self.low) == len(self.high) == n):
            raise InputError("channel names, kinds, low and high must have the same length")
        if len(set(self.names)) != n:
            raise InputError(f"channel names must be unique, got {self.names}")
        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise InputError(f"channel kinds must be 'image' or 'label', got {bad}")
        for name, lo, hi in zip(self.names, self.low, self.high):
            if not (np.isfinite(lo) and np.isfinite(hi) and np.float32(hi) > np.float32(lo)):
                raise InputError(
                    f"channel {name!r} needs a finite range low < high, got [{lo}, {hi}]"
                )

    @property
    def num_channels(self) -> int:
        return len(self.names)

    @property
    def label_indices(self) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == "label"]

    @property
    def image_indices(self) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == "image"]

    @classmethod
    def from_image(
        cls,
        image: np.ndarray,
        names: list[str] | None = None,
        label_names: list[str] | tuple[str, ...] = (),
    ) -> ChannelSpec:
        """Fit the normalisation to a (C, H, W) training image (or a (C, D, H, W) volume).

        Raises:
            InputError: on name/channel count mismatch, or a label channel with values outside [0, 1].
        """
        image = check_image(image, spatial_dims=(2, 3))
        c = image.shape[0]
        names = list(names) if names else [f"ch{i}" for i in range(c)]
        if len(names) != c:
            raise InputError(f"{len(names)} channel names given for an image with {c} channels")
        unknown = set(label_names) - set(names)
        if unknown:
            raise InputError(f"label channels {sorted(unknown)} are not among the channels {names}")
        kinds, low, high = [], [], []
        for i, name in enumerate(names):
            ch = image[i]
            if name in label_names:
                if ch.min() < 0 or ch.max() > 1:
                    raise InputError(
                        f"label channel {name!r} has values in [{ch.min()}, {ch.max()}]; label channels must be "
                        "binary or one-hot in [0, 1] (use channels.one_hot for a multi-class label map)"
                    )
                kinds.append("label")
                low.append(0.0)
                high.append(1.0)
            else:
                lo, hi = float(ch.min()), float(ch.max())
                if np.float32(hi) - np.float32(lo) <= 8 * np.finfo(np.float32).eps * max(
                    1.0, abs(lo)
                ):
                    hi = lo + max(1.0, abs(lo))  # a constant channel: any non-degenerate range
                kinds.append("image")
                low.append(lo)
                high.append(hi)
        return cls(tuple(names), tuple(kinds), tuple(low), tuple(high))

    def _ab(self, ndim: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
        shape = [1] * ndim
        shape[axis] = self.num_channels
        lo = np.asarray(self.low, np.float32).reshape(shape)
        hi = np.asarray(self.high, np.float32).reshape(shape)
        return lo, hi

    def normalise(self, image: np.ndarray, axis: int = 0) -> np.ndarray:
        """Map channel ranges to [-1, 1] (channel ``axis``); values outside the range extrapolate."""
        lo, hi = self._ab(image.ndim, axis)
        return ((np.asarray(image, np.float32) - lo) / (hi - lo) * 2.0 - 1.0).astype(np.float32)

    def denormalise(self, image: np.ndarray, axis: int = 0) -> np.ndarray:
        """Inverse of ``normalise``."""
        lo, hi = self._ab(image.ndim, axis)
        return ((np.asarray(image, np.float32) + 1.0) * 0.5 * (hi - lo) + lo).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelSpec:
        def seq(key: str, ok) -> tuple:
            v = data[key]
            if not isinstance(v, list | tuple) or not all(ok(x) for x in v):
                raise InputError(f"channels.{key} has the wrong type: {v!r}")
            return tuple(v)

        def is_num(x) -> bool:
            return isinstance(x, int | float) and not isinstance(x, bool)

        if not isinstance(data, dict):
            raise InputError(f"channels must be a JSON object, got {type(data).__name__}")
        return cls(
            seq("names", lambda x: isinstance(x, str) and x != ""),
            seq("kinds", lambda x: isinstance(x, str)),
            tuple(float(x) for x in seq("low", is_num)),
            tuple(float(x) for x in seq("high", is_num)),
        )


_LAYOUTS = {2: "(C, H, W)", 3: "(C, D, H, W)"}


def check_image(
    image: Any,
    channels: int | None = None,
    what: str = "image",
    spatial_dims: int | tuple[int, ...] = 2,
) -> np.ndarray:
    """Validate a (C, H, W) real-valued array (with ``spatial_dims=3``: a (C, D, H, W) volume;
    ``(2, 3)``: either) and return it as float32.

    Raises:
        InputError: wrong rank, wrong channel count, non-numeric dtype, or NaN/Inf values.
    """
    allowed = (spatial_dims,) if isinstance(spatial_dims, int) else tuple(spatial_dims)
    arr = np.asarray(image)
    if np.iscomplexobj(arr):
        raise InputError(f"{what} must be real-valued, got dtype {arr.dtype}")
    if arr.dtype.kind not in "iuf":  # not bool, complex, timedelta, datetime, text, objects
        raise InputError(f"{what} must be a real-valued numeric array, got dtype {arr.dtype}")
    if arr.ndim - 1 not in allowed:
        layouts = " or ".join(_LAYOUTS[d] for d in allowed)
        raise InputError(f"{what} must be channel-first {layouts}, got shape {arr.shape}")
    if min(arr.shape) < 1:
        raise InputError(f"{what} is empty: shape {arr.shape}")
    if channels is not None and arr.shape[0] != channels:
        raise InputError(f"{what} has {arr.shape[0]} channels but the pyramid has {channels}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{what} contains {bad} non-finite values (NaN or Inf)")
    if arr.dtype.itemsize > 4 and np.issubdtype(arr.dtype, np.floating):
        big = int(np.count_nonzero(np.abs(arr) > np.finfo(np.float32).max))
        if big:
            raise InputError(f"{what} has {big} values outside the float32 range")
    return arr.astype(np.float32, copy=False)


def one_hot(label_map: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) (or (D, H, W)) integer labels 0..num_classes -> (num_classes, H, W) (or
    (num_classes, D, H, W)) float32 one-hot of classes 1..K."""
    label_map = np.asarray(label_map)
    if label_map.ndim not in (2, 3):
        raise InputError(f"label map must be (H, W) or (D, H, W), got shape {label_map.shape}")
    if label_map.min() < 0 or label_map.max() > num_classes:
        raise InputError(
            f"label values must be in 0..{num_classes}, got [{label_map.min()}, {label_map.max()}]"
        )
    return np.stack([(label_map == k).astype(np.float32) for k in range(1, num_classes + 1)])


def decode_labels(probs: np.ndarray, config: LabelDecodeConfig = LabelDecodeConfig()) -> np.ndarray:
    """Decode continuous label channels to a discrete label map.

    Args:
        probs: (K, H, W) label channels in the training range [0, 1] (values are clipped);
            (K, D, H, W) for a volume (components are then 3-D, face-connected).
    Returns:
        (H, W) (or (D, H, W)) uint8 map with 0 = background and k = class k (1..K).

    Rule: foreground probability is the max over the K channels. Hysteresis keeps pixels above
    ``low`` that are connected to a pixel above ``high`` (so objects keep their soft rims but
    isolated faint speckle is dropped, which a plain 0.5 threshold keeps); components and holes
    smaller than ``min_size`` are removed/filled; each foreground pixel takes the class of its
    largest channel.
    """
    probs = np.clip(np.asarray(probs, np.float32), 0.0, 1.0)
    if probs.ndim not in (3, 4):
        raise InputError(
            f"label channels must be (K, H, W) or (K, D, H, W), got shape {probs.shape}"
        )
    fg = probs.max(axis=0)
    strong = fg > config.high
    weak = fg > config.low
    lab, n = ndimage.label(weak)
    if n:
        keep = np.zeros(n + 1, bool)
        keep[np.unique(lab[strong])] = True
        keep[0] = False
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        keep &= sizes >= config.min_size
        mask = keep[lab]
    else:
        mask = np.zeros_like(weak)
    if config.min_size > 1:
        holes, nh = ndimage.label(~mask)
        if nh:
            hsizes = np.bincount(holes.ravel(), minlength=nh + 1)
            small = hsizes < config.min_size
            small[0] = False
            mask |= small[holes]
    cls = probs.argmax(axis=0).astype(np.uint8) + 1
    return np.where(mask, cls, 0).astype(np.uint8)
