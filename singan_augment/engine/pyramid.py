"""The trained pyramid: an immutable container of everything sampling needs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import jax

from singan_augment.errors import InputError, ScaleError

from .channels import ChannelSpec
from .config import ModelConfig, PyramidConfig, TrainConfig
from .generate import Stage
from .scales import format_shape


@dataclass(frozen=True)
class Pyramid:
    """A SinGAN pyramid for one N-channel image or volume.

    Attributes:
        shapes: (H, W) of every scale, coarsest first; (D, H, W) for a volume.
        stages: trained scales (fewer than ``shapes`` while training is unfinished).
        z_opt: (1, H0, W0, C) fixed reconstruction noise of the coarsest scale
            ((1, D0, H0, W0, C) for a volume).
        reals: (H, W, C) (or (D, H, W, C)) training image at every scale, normalised to [-1, 1].
        channels: names, kinds and normalisation of the channels.
        provenance: where the training image came from (sha256, size, source).
        discriminator: params of the last trained scale's D (to resume training only).
        spacing: (row, col) (volumes: (slice, row, col)) physical size of a finest-scale
            pixel (e.g. mm), or None when
            unknown; injection, harmonization and sampling use it to match an input's
            resolution (``engine.resolution``).
    """

    shapes: tuple[tuple[int, int], ...]
    stages: tuple[Stage, ...]
    z_opt: jax.Array
    reals: tuple[jax.Array, ...]
    channels: ChannelSpec
    model_config: ModelConfig = ModelConfig()
    train_config: TrainConfig = TrainConfig()
    pyramid_config: PyramidConfig = PyramidConfig()
    provenance: dict[str, Any] = field(default_factory=dict)
    discriminator: Any = None
    spacing: tuple[float, ...] | None = None

    def __repr__(self) -> str:
        ch = ", ".join(
            f"{n}" + (" (label)" if k == "label" else "")
            for n, k in zip(self.channels.names, self.channels.kinds)
        )
        first, last = format_shape(self.shapes[0]), format_shape(self.shapes[-1])
        return (
            f"Pyramid(channels=[{ch}], scales={self.num_scales} ({first} .. {last}), "
            f"trained={self.num_trained}, nfc={self.model_config.nfc(0)}..{self.model_config.nfc(self.num_scales - 1)})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython / hypothesis
        printer.text(repr(self))

    @property
    def spatial_dims(self) -> int:
        """2 for an image pyramid, 3 for a volume pyramid."""
        return len(self.shapes[0])

    @property
    def num_scales(self) -> int:
        return len(self.shapes)

    @property
    def num_trained(self) -> int:
        return len(self.stages)

    @property
    def complete(self) -> bool:
        return self.num_trained == self.num_scales

    @property
    def num_channels(self) -> int:
        return self.channels.num_channels

    def check_complete(self, what: str) -> None:
        """Sampling, injection and harmonization run up to the finest scale: refuse a pyramid
        whose training stopped early (a checkpoint), for every entry point alike.

        Raises:
            InputError: naming ``what`` and how far the pyramid is trained.
        """
        if not self.complete:
            raise InputError(
                f"{what} needs a complete pyramid, but this one is only trained to scale "
                f"{self.num_trained - 1} of {self.num_scales - 1}; finish it with --resume"
            )

    def check_scale(self, scale: int, what: str = "scale") -> int:
        """Return ``scale`` if it indexes a trained scale (negative counts from the end).

        Raises:
            ScaleError: if it is out of range or not an integer.
        """
        if isinstance(scale, bool) or not isinstance(scale, int | jax.numpy.integer):
            raise ScaleError(f"{what} must be an integer, got {scale!r}")
        n = self.num_trained
        s = int(scale) + n if scale < 0 else int(scale)
        if not 0 <= s < n:
            raise ScaleError(
                f"{what} {scale} is out of range: this pyramid has {n} trained scales (0..{n - 1})"
            )
        return s

    def with_stage(self, stage: Stage, discriminator: Any = None) -> Pyramid:
        return replace(self, stages=(*self.stages, stage), discriminator=discriminator)
