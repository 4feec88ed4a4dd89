"""Configuration: one frozen dataclass per concern, with the published SinGAN defaults.

Every config round-trips through plain JSON (``to_dict``/``from_dict``) so that it can be
stored beside the weights in ``pyramid.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .errors import InputError

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise InputError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)


@dataclass(frozen=True)
class PyramidConfig:
    """How the image pyramid is built.

    The factor is refitted so that the coarsest scale's short side is ``min_size``
    (SinGAN's ``adjust_scales2image``); the finest scale's long side is at most ``max_size``.
    """

    scale_factor: float = 0.75
    min_size: int = 25
    max_size: int = 250

    def __post_init__(self) -> None:
        if not 0.0 < self.scale_factor < 1.0:
            raise InputError(f"scale_factor must be in (0, 1), got {self.scale_factor}")
        if self.min_size < 11:
            raise InputError(f"min_size must be >= 11 (5 valid 3x3 convs), got {self.min_size}")
        if self.max_size < self.min_size:
            raise InputError(f"max_size {self.max_size} < min_size {self.min_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PyramidConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class ModelConfig:
    """Per-scale generator/discriminator architecture.

    5 conv layers, 3x3, stride 1, no padding; conv+BN+LeakyReLU(0.2) for the first 4.
    Width at scale n is ``min(nfc_init * 2**(n // 4), nfc_max)``. Inputs are zero-padded
    by ``num_layers * (kernel // 2)`` = 5 px outside the network.
    """

    num_layers: int = 5
    nfc_init: int = 32
    nfc_max: int = 128
    leaky_slope: float = 0.2
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    init_std: float = 0.02
    conv_impl: str = "auto"

    def __post_init__(self) -> None:
        if self.num_layers < 2:
            raise InputError(f"num_layers must be >= 2, got {self.num_layers}")

    @property
    def pad(self) -> int:
        return self.num_layers  # (kernel 3 // 2) per layer

    def nfc(self, scale: int) -> int:
        return min(self.nfc_init * 2 ** (scale // 4), self.nfc_max)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """Per-scale training schedule and losses (WGAN-GP + reconstruction).

    ``coarsest_noise``: ``"shared"`` draws one noise channel at the coarsest scale and repeats
    it over the C channels (the published choice); ``"independent"`` draws C channels.
    """

    iters: int = 2000
    d_steps: int = 3
    g_steps: int = 3
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_drop_at: float = 0.8  # fraction of iters: 1600 of 2000
    lr_drop_factor: float = 0.1
    gp_weight: float = 0.1
    rec_weight: float = 10.0
    noise_amp_init: float = 0.1
    coarsest_noise: Literal["shared", "independent"] = "shared"

    def __post_init__(self) -> None:
        if self.iters < 1:
            raise InputError(f"iters must be >= 1, got {self.iters}")
        if self.coarsest_noise not in ("shared", "independent"):
            raise InputError(
                f"coarsest_noise must be 'shared' or 'independent', got {self.coarsest_noise!r}"
            )

    @property
    def lr_drop_iter(self) -> int:
        return int(round(self.iters * self.lr_drop_at))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class BlendConfig:
    """Blend mask for harmonization (dilation radius 7) and editing (radius 20), Gaussian sigma 5."""

    dilation_radius: int = 7
    sigma: float = 5.0

    @classmethod
    def harmonization(cls) -> BlendConfig:
        return cls(dilation_radius=7, sigma=5.0)

    @classmethod
    def editing(cls) -> BlendConfig:
        return cls(dilation_radius=20, sigma=5.0)


@dataclass(frozen=True)
class LabelDecodeConfig:
    """How continuous label channels (in [0, 1]) are decoded to a discrete label map.

    Hysteresis: a pixel is foreground if its foreground probability exceeds ``low`` and it is
    connected to a pixel above ``high``; connected components smaller than ``min_size`` pixels
    are dropped and holes smaller than ``min_size`` are filled. Foreground pixels take the class
    of their largest one-hot channel.
    """

    high: float = 0.6
    low: float = 0.4
    min_size: int = 4

    def __post_init__(self) -> None:
        if not 0.0 < self.low <= self.high < 1.0:
            raise InputError(f"need 0 < low <= high < 1, got low={self.low}, high={self.high}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelDecodeConfig:
        return _from_dict(cls, data)
