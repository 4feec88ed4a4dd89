"""Configuration: one frozen dataclass per concern, with the published SinGAN defaults.

Every config round-trips through plain JSON (``to_dict``/``from_dict``) so that it can be
stored beside the weights in ``pyramid.json``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import numpy as np

from singan_augment.errors import InputError

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    if not isinstance(data, dict):
        raise InputError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise InputError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)


@cache
def _choices(cls: type) -> dict[str, tuple[Any, ...]]:
    """The allowed values of each ``Literal[...]``-annotated field of dataclass ``cls``."""
    hints = get_type_hints(cls)
    return {n: get_args(t) for n, t in hints.items() if get_origin(t) is Literal}


def _check_fields(obj: Any, **ranges: tuple[float | None, float | None]) -> None:
    """Type-check every field from its annotation (int, float, str; a ``Literal`` field
    against its values) and the given numeric (low, high) inclusive ranges. Raises
    InputError naming the field."""
    name = type(obj).__name__
    choices = _choices(type(obj))
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        kind = str(f.type)
        if f.name in choices:
            if not any(type(v) is type(c) and v == c for c in choices[f.name]):
                allowed = ", ".join(repr(c) for c in choices[f.name])
                raise InputError(f"{name}.{f.name} must be one of {allowed}, got {v!r}")
            continue
        if kind == "bool":
            ok = isinstance(v, bool)
        elif kind == "int":
            ok = isinstance(v, int | np.integer) and not isinstance(v, bool)
        elif kind.startswith("tuple[int"):
            ok = isinstance(v, tuple) and all(
                isinstance(x, int | np.integer) and not isinstance(x, bool) for x in v
            )
        elif kind == "float":
            ok = (
                isinstance(v, int | float | np.integer | np.floating)
                and not isinstance(v, bool)
                and math.isfinite(v)
            )
        else:
            ok = isinstance(v, str)
        if not ok:
            what = (
                "tuple of ints" if kind.startswith("tuple[int") else f"finite {kind.split('[')[0]}"
            )
            raise InputError(f"{name}.{f.name} must be a {what}, got {v!r}")
        lo, hi = ranges.get(f.name, (None, None))
        for x in v if isinstance(v, tuple) else (v,):
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                raise InputError(f"{name}.{f.name} must be in [{lo}, {hi}], got {v!r}")


@dataclass(frozen=True)
class PyramidConfig:
    """How the image pyramid is built.

    The factor is refitted so that the coarsest scale's short side is ``min_size``
    (SinGAN's ``adjust_scales2image``); the finest scale's long side is at most ``max_size``.

    ``num_scales``: 0 (the default) counts the scales as SinGAN does, from ``scale_factor``
    and the image's size, so that the count varies between images (6-8 at 128 px for the
    benchmark's images). A number >= 2 fixes the count instead, as ConSinGAN fixes its
    stages: the scales are spaced evenly in log size between ``min_size`` and the finest
    scale, and ``scale_factor`` is not used.
    """

    scale_factor: float = 0.75
    min_size: int = 25
    max_size: int = 250
    num_scales: int = 0

    def __post_init__(self) -> None:
        _check_fields(self, min_size=(1, 65536), max_size=(1, 65536), num_scales=(0, 64))
        if self.num_scales == 1:
            raise InputError("num_scales must be 0 (from scale_factor) or >= 2, got 1")
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

    ``clamp``: the training image at every scale and every upsampled previous image entering a
    generator are clamped to [-1, 1], as the reference code does (through its uint8 round
    trips). Without it, bicubic ringing puts values outside the range the generators' tanh
    residuals are meant for, and they learn halos. Pyramid files written before this field
    existed load with ``clamp=False``, so they sample exactly as they did.
    """

    num_layers: int = 5
    nfc_init: int = 32
    nfc_max: int = 128
    leaky_slope: float = 0.2
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    init_std: float = 0.02
    conv_impl: str = "auto"
    clamp: bool = True

    def __post_init__(self) -> None:
        from .conv import IMPLS

        _check_fields(
            self,
            num_layers=(2, 64),
            nfc_init=(1, 4096),
            nfc_max=(1, 4096),
            leaky_slope=(0.0, 1.0),
            bn_eps=(1e-12, 1.0),
            bn_momentum=(0.0, 1.0),
            init_std=(1e-12, 10.0),
        )
        if self.conv_impl not in ("auto", *IMPLS):
            raise InputError(
                f"ModelConfig.conv_impl must be one of {('auto', *IMPLS)}, got {self.conv_impl!r}"
            )

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


def area_ratio(scale: int, shapes: Sequence[Sequence[int]]) -> float:
    """Pixel (voxel) count of ``shapes[scale]`` over the coarsest scale's: what the per-scale
    iteration counts and reconstruction weights of ``TrainConfig`` scale with."""
    return math.prod(shapes[scale]) / float(math.prod(shapes[0]))


@dataclass(frozen=True)
class TrainConfig:
    """Per-scale training schedule and losses (WGAN-GP + reconstruction).

    ``coarsest_noise``: ``"shared"`` draws one noise channel at the coarsest scale and repeats
    it over the C channels (the published choice); ``"independent"`` draws C channels.

    ``iters`` is the iteration count of the coarsest scale. With ``iters_decay`` p > 0 the finer
    scales get fewer: ``max(iters_min, round(iters * (A_n / A_0) ** -p))`` for a scale of A_n
    pixels (a scale's cost grows with its area, so p = 1 gives every scale about the same
    wall time at equal width). p = 0 is the published schedule: ``iters`` at every scale. The
    learning rate drops at ``lr_drop_at`` of each scale's own count. ``iters_decay_from`` j > 0
    keeps the full ``iters`` at scales 0..j and lets the count fall from there:
    ``iters * (A_n / A_j) ** -p`` at the finer scales (the cheap middle scales keep the
    published count, and the fall starts at the first scale that is not cheap).
    ``iters_by_scale`` (n_0, n_1, ...) sets the counts of the first scales outright, in
    place of that rule; the scales past its end follow the rule. () (default) sets none.

    ``plateau_window`` > 0 stops a scale early once its reconstruction loss has plateaued: at
    the end of every window of that many iterations (before the lr drop), if the window's mean
    loss fell by less than ``plateau_tol`` (relative) from the previous window's, the lr drops
    at once and the scale runs ``(1 - lr_drop_at) / lr_drop_at`` times the iterations done so
    far (the published 80/20 split), then stops. 0 (published) runs every planned iteration.

    ``rec_weight_growth`` q > 0 raises the reconstruction weight at the finer scales:
    ``rec_weight * (A_n / A_0) ** q`` for a scale of A_n pixels (voxels). 0 (published) uses
    ``rec_weight`` at every scale. A schedule that gives the fine scales few adversarial
    iterations uses it to keep their generators close to the image (docs/time_to_quality.md).
    ``rec_weight_growth_scales`` k > 0 confines the growth to the finest k scales (the coarser
    ones keep ``rec_weight``); 0 grows it at every scale.

    ``concurrent_stages`` k > 1 trains the generators of the k finest scales so far together
    (ConSinGAN, Hinz et al. 2021): while scale n trains, the generators of scales n-k+1..n-1
    are trained with it through the chain, at learning rates scaled by
    ``concurrent_lr_scale`` per scale back (``lr_g``, ``lr_g * s``, ``lr_g * s**2``, ...);
    the discriminator stays per scale. 1 (published) trains one scale at a time.
    ``concurrent_frozen_scales`` m > 0 keeps the generators of the m coarsest scales out of
    that: each trains alone at its own scale and is frozen after it (the published rule), and
    the window of trained generators never reaches below scale m. Fine-tuning the coarsest
    generator through the finer scales' losses halves its output's diversity
    (docs/time_to_quality.md, "Where start-0 diversity goes").
    ``concurrent_freeze_diversity`` d* > 0 makes that choice per image: once the coarsest
    scale has trained, the diversity of its generator's own samples is measured
    (``engine.fit.coarsest_diversity``: SinGAN's diversity of 50 fresh-noise samples
    against the coarsest real, unitless, usually 0.1-0.6) and recorded in the provenance;
    above d* (a texture-like image, whose variety the coarsest scale carries) the coarsest
    generator is frozen as with ``concurrent_frozen_scales=1``; at or below it (an image
    with a layout, e.g. a head) it is fine-tuned with the finer scales. 0 (default) never
    measures.
    ``gp_every`` k >= 1 applies the gradient penalty lazily: on the first of every k
    discriminator steps of an iteration (steps 0, k, 2k, ... of its ``d_steps``), weighted by
    ``k * gp_weight`` so that its expected weight per step is unchanged (StyleGAN2's lazy
    regularisation, Karras et al. 2020, applied to WGAN-GP); the other steps skip its
    second-order gradient, which costs about as much as the rest of a D step. 1 (published)
    applies it on every step. ``d_steps`` must be a multiple of k. Measured with k = 3 on
    ``fast``'s counts: 7-10 % cheaper, quality kept on a brain slice and lost on an H&E +
    mask tile (start-0 patch SWD 1.58x the published), so no named schedule uses it
    (docs/time_to_quality.md, "A lazy gradient penalty").

    ``concurrent_diversity_weight`` w >= 0 adds a mode-seeking term to the concurrent window's
    generator loss (MSGAN's, Mao et al. 2019, in log form): ``-w * log(mean |y - y'|)``, where
    y and y' are the output of the window's coarser generators (all but the trained scale's)
    for two independent inputs of one iteration (the noise maps, and the image entering the
    window from the frozen scales below: that of the first and of the last D step). It
    opposes what the concurrent pull does to those generators, their loss of variety, and
    leaves the trained scale's own generator alone. Its gradient grows as the variety
    shrinks. 0 (default) is ConSinGAN's loss and the same program as before; it acts only
    where more than one generator trains.
    ``concurrent_diversity_floor`` f >= 0 turns that term into a floor: with f > 0 it is
    ``w * max(0, log(f * v0) - log(mean |y - y'|))``, v0 being the same variety at the
    window's start (the mean over ``VARIETY_REF_PAIRS`` random input pairs, drawn from the
    scale's key), so it resists the pull's loss of variety below f times where the window
    began and never rewards more than that. 0 (default) is the plain log term, which is
    unbounded: on a 128-px natural image at w = 1 and 10 it traded the reconstruction and
    the fidelity for variety (start-0 patch SWD 8x the published; docs/time_to_quality.md,
    "A mode-seeking term on the pulled generators"), so use it with a floor.

    ``crop`` c >= 0 trains every scale wider or taller than c pixels on random windows of
    ``min(c, side)`` pixels along each axis (``engine.windows``): each D step draws its own
    window, the G steps of an iteration share one, and the trained scale's generator, its
    critic and both loss terms see only the window, while the coarser generators of a
    concurrent window still run whole. The critic is a patch discriminator and the
    generators are fully convolutional, so a window costs about its share of the scale's
    pixels and changes only which patches an iteration sees and the trained generator's
    BatchNorm statistics (the window's in training mode). 0 (published) trains on the whole
    scale; c must exceed the critic's border, ``2 * ModelConfig.pad`` (checked where the
    pyramid is built). Measured at c = 64 on ``fast``'s counts at 128 px: 0.64-0.75x the
    published step's cost per iteration at the finest scales (the concurrent step without
    windows: 1.4x), and the windowed scales lost fidelity (start-0 patch SWD 1.10x and 1.17x
    the published on a brain slice and an H&E tile, where ``fast`` scores 0.68-1.04x;
    docs/time_to_quality.md, "Training windows at `fast`'s counts"); with 50-70 % more
    iterations at the windowed scales it lost more (1.22x), so no named schedule uses it.

    ``concurrent_rec_anchor`` b >= 0 keeps each coarser generator of a concurrent window a
    reconstruction of its own scale while finer scales pull on it: the window's generator
    loss gains ``b * alpha_j * MSE(rec_j, real_j)`` for each coarser scale j of the window,
    ``rec_j`` being the window's reconstruction path after scale j and ``alpha_j`` that
    scale's reconstruction weight (``scale_rec_weight``). ConSinGAN's loss (b = 0, default,
    the same program as before) has the reconstruction at the trained scale only, so the
    coarser scales' reconstructions drift from their images as they are trained on (on
    ``fast``'s 128-px pyramids the published amplitude rule, re-applied after training, reads
    1.1-3.6x the amplitudes the scales trained with; docs/time_to_quality.md, "Where
    histology's start-1 variety comes from"). It acts only where more than one generator
    trains, and needs ``concurrent_stages`` > 1. Measured at b = 1 on ``fast``'s counts: the
    coarser scales stay images of their own (re-applied amplitudes 0.76-1.00x) and the
    output loses its finish (start-0 patch SWD 1.35x and 1.58x the published on an H&E tile
    and a brain slice, where ``fast`` scores 1.04x and 0.68x; same doc, "Coarser generators
    anchored to their own scales"), so no named schedule uses it.

    Retired on 2026-12-06, after their registered runs missed and with no named schedule
    using them: a brake on the coarsest generators' learning rate in the window
    (``concurrent_coarsest_lr``, ``concurrent_coarsest_scales``), a learning rate raised as a
    scale's count falls (``lr_iters_power``), and a share of the adversarial gradient reaching
    the window's coarser generators (``concurrent_adversarial_pull``; docs/time_to_quality.md,
    "The concurrent pull through the reconstruction alone" and "A share of the adversarial
    pull"). ``from_dict`` still reads files that record them at the value that changed
    nothing (``RETIRED_TRAIN_FIELDS``).
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
    iters_decay: float = 0.0
    iters_min: int = 1
    iters_decay_from: int = 0
    iters_by_scale: tuple[int, ...] = ()
    plateau_window: int = 0
    plateau_tol: float = 0.01
    rec_weight_growth: float = 0.0
    rec_weight_growth_scales: int = 0
    concurrent_stages: int = 1
    concurrent_lr_scale: float = 0.1
    concurrent_frozen_scales: int = 0
    concurrent_freeze_diversity: float = 0.0
    gp_every: int = 1
    concurrent_diversity_weight: float = 0.0
    concurrent_diversity_floor: float = 0.0
    crop: int = 0
    concurrent_rec_anchor: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.iters, int) and not isinstance(self.iters, bool) and self.iters < 1:
            raise InputError(f"iters must be >= 1, got {self.iters}")
        _check_fields(
            self,
            iters=(1, 10**9),
            d_steps=(1, 1000),
            g_steps=(1, 1000),
            lr_g=(0.0, 10.0),
            lr_d=(0.0, 10.0),
            beta1=(0.0, 0.999999),
            beta2=(0.0, 0.999999),
            lr_drop_at=(0.0, 1.0),
            lr_drop_factor=(0.0, 1.0),
            gp_weight=(0.0, 1e6),
            rec_weight=(0.0, 1e6),
            noise_amp_init=(0.0, 1e3),
            iters_decay=(0.0, 4.0),
            iters_min=(1, 10**9),
            iters_decay_from=(0, 1000),
            iters_by_scale=(1, 10**9),
            plateau_window=(0, 10**6),
            plateau_tol=(0.0, 1.0),
            rec_weight_growth=(0.0, 4.0),
            rec_weight_growth_scales=(0, 1000),
            concurrent_stages=(1, 64),
            concurrent_lr_scale=(0.0, 1.0),
            concurrent_frozen_scales=(0, 1000),
            concurrent_freeze_diversity=(0.0, 100.0),
            gp_every=(1, 1000),
            concurrent_diversity_weight=(0.0, 1e6),
            concurrent_diversity_floor=(0.0, 1e3),
            crop=(0, 10**6),
            concurrent_rec_anchor=(0.0, 1e3),
        )
        if self.d_steps % self.gp_every:
            raise InputError(f"gp_every must divide d_steps ({self.d_steps}), got {self.gp_every}")
        if self.concurrent_rec_anchor > 0.0 and self.concurrent_stages < 2:
            raise InputError(
                f"concurrent_rec_anchor ({self.concurrent_rec_anchor}) needs concurrent_stages "
                f">= 2, got {self.concurrent_stages}"
            )

    @property
    def lr_drop_iter(self) -> int:
        """The lr-drop iteration of ``iters`` iterations (``scale_iters`` gives each scale's,
        ``iters_by_scale`` included)."""
        return int(round(self.iters * self.lr_drop_at))

    def scale_iters(self, scale: int, shapes: Sequence[Sequence[int]]) -> tuple[int, int]:
        """(iterations, lr-drop iteration) of ``scale`` in a pyramid of ``shapes``: its entry
        of ``iters_by_scale`` where it has one; else, with ``iters_decay``, the count falls
        with the ratio of pixel (voxel) counts to scale 0's (to scale ``iters_decay_from``'s,
        and not at all up to it)."""
        n = self.iters
        start = min(self.iters_decay_from, len(shapes) - 1)
        if scale < len(self.iters_by_scale):
            n = int(self.iters_by_scale[scale])
        elif self.iters_decay > 0.0 and scale > start:
            ratio = area_ratio(scale, shapes) / area_ratio(start, shapes)
            n = max(min(self.iters_min, self.iters), int(round(n * ratio**-self.iters_decay)))
        return n, int(round(n * self.lr_drop_at))

    def trainable_stages(self, scale: int) -> int:
        """How many generators train while ``scale`` trains, k: ``min(concurrent_stages, scale + 1
        - concurrent_frozen_scales)``, at least 1 (scales ``scale - k + 1 .. scale``)."""
        return max(1, min(self.concurrent_stages, scale + 1 - self.concurrent_frozen_scales))

    def concurrent_lr_factors(self, scale: int) -> tuple[float, ...]:
        """Learning-rate factors of the trainable generators, coarsest first: ``s ** (k - 1 -
        j)`` for ``s = concurrent_lr_scale`` (the last, the trained scale's own, is 1)."""
        k = self.trainable_stages(scale)
        return tuple(float(self.concurrent_lr_scale ** (k - 1 - j)) for j in range(k))

    def scale_rec_weight(self, scale: int, shapes: Sequence[Sequence[int]]) -> float:
        """The reconstruction weight (alpha) of ``scale`` in a pyramid of ``shapes``: ``rec_weight``,
        times the pixel-count ratio to the coarsest scale to the power ``rec_weight_growth``."""
        if self.rec_weight_growth == 0.0:
            return self.rec_weight
        k = self.rec_weight_growth_scales
        if k > 0 and scale < len(shapes) - k:
            return self.rec_weight
        return float(self.rec_weight * area_ratio(scale, shapes) ** self.rec_weight_growth)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config of a dict (a ``pyramid.json``'s, a job manifest's). A retired field
        (``RETIRED_TRAIN_FIELDS``) at its neutral value, as every file written before it went
        records it, is dropped; at any other value it is refused by name."""
        if isinstance(data, dict) and RETIRED_TRAIN_FIELDS.keys() & data.keys():
            bad = retired_train_fields(data)
            if bad:
                name, value = next(iter(bad.items()))
                neutral, last = RETIRED_TRAIN_FIELDS[name]
                raise InputError(
                    f"TrainConfig.{name} = {value!r}: a training option retired on "
                    f"2026-12-06 (its registered runs missed and no named schedule used "
                    f"it; docs/time_to_quality.md). Only {neutral!r}, which changed "
                    f"nothing, still loads; commit {last} has the option"
                )
            data = {k: v for k, v in data.items() if k not in RETIRED_TRAIN_FIELDS}
        return _from_dict(cls, data)


# Training options retired after their registered runs failed: the value that made each one a
# no-op (files written while it existed record it), and the last commit that has it.
RETIRED_TRAIN_FIELDS: dict[str, tuple[Any, str]] = {
    "concurrent_coarsest_lr": (1.0, "cab7f63"),  # the coarsest generator's brake (12-02)
    "concurrent_coarsest_scales": (1, "cab7f63"),  # the brake on the middle ones (12-02/03)
    "lr_iters_power": (0.0, "cab7f63"),  # lr raised as a scale's count falls (12-05)
    "concurrent_adversarial_pull": (1.0, "7bf2715"),  # the pull's share (12-03/04)
    "concurrent_pull": ("all", "7a3cd1f"),  # its first form, "all" or "reconstruction" (12-03)
}


def retired_train_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The retired training options that ``data`` (a train config's fields) sets to anything
    but their neutral value, by name."""
    return {
        name: data[name]
        for name, (neutral, _) in RETIRED_TRAIN_FIELDS.items()
        if name in data and data[name] != neutral
    }


LESION_MODES = ("regenerate", "keep_core", "restore_contrast")


@dataclass(frozen=True)
class BlendConfig:
    """How ``harmonize`` blends the generated image back into the composite.

    The blend mask is the paste mask dilated by a disk of ``dilation_radius`` px and blurred
    with a Gaussian of ``sigma`` px (published: radius 7 for harmonization, 20 for editing,
    sigma 5). ``lesion`` says what happens inside the pasted object (see
    ``docs/lesion_fidelity.md``):

    - ``"regenerate"`` (published): the object is regenerated like its surroundings.
    - ``"keep_core"``: the object's interior, eroded by ``core_erosion`` px and blurred by
      ``core_sigma`` px, is kept from the composite; only its rim and the seam are harmonized.
    - ``"restore_contrast"``: regenerated, then the low-frequency (Gaussian, ``contrast_sigma``
      px) difference between composite and generated image is added back inside the object,
      so it keeps its contrast against the surroundings and takes the generator's texture.
    """

    dilation_radius: int = 7
    sigma: float = 5.0
    lesion: str = "regenerate"
    core_erosion: int = 1
    core_sigma: float = 1.0
    contrast_sigma: float = 2.0

    def __post_init__(self) -> None:
        _check_fields(
            self,
            dilation_radius=(0, 1000),
            sigma=(1e-3, 1000.0),
            core_erosion=(0, 1000),
            core_sigma=(0.0, 1000.0),
            contrast_sigma=(1e-3, 1000.0),
        )
        if self.lesion not in LESION_MODES:
            raise InputError(
                f"BlendConfig.lesion must be one of {LESION_MODES}, got {self.lesion!r}"
            )

    @classmethod
    def harmonization(cls) -> BlendConfig:
        """Published harmonization blend: radius 7, sigma 5, the object regenerated."""
        return cls(dilation_radius=7, sigma=5.0)

    @classmethod
    def editing(cls) -> BlendConfig:
        """Published editing blend: radius 20, sigma 5."""
        return cls(dilation_radius=20, sigma=5.0)

    @classmethod
    def tumour(cls, lesion: str = "keep_core", spatial_dims: int = 2) -> BlendConfig:
        """Harmonization blend for an inserted lesion: radius 7, sigma 5, and the lesion's core
        (eroded 1 px, its edge ramped with a Gaussian of 3 px for images, 1 voxel for
        volumes) kept from the paste (``docs/lesion_fidelity.md``). For images both were
        chosen on validation seeds: on the test lesions in the shipped 187-px host at injection
        scale 2 it kept 0.81 / 0.79 / 0.77 of the lesion's contrast in T1 / T2w / FLAIR
        (published blend: 0.30 overall) at a seam ratio of 0.66 (a 1-px ramp: 0.87 / 0.88 /
        0.86 at 0.77). In the shipped volume pyramid a 3-voxel ramp erased T2w and FLAIR
        contrast on the validation lesions, so volumes keep the 1-voxel ramp.

        Raises:
            InputError: ``spatial_dims`` is not 2 or 3, or an unknown ``lesion`` mode.
        """
        if spatial_dims not in (2, 3):
            raise InputError(
                f"BlendConfig.tumour: spatial_dims must be 2 or 3, got {spatial_dims!r}"
            )
        ramp = 3.0 if spatial_dims == 2 else 1.0
        return cls(dilation_radius=7, sigma=5.0, lesion=lesion, core_erosion=1, core_sigma=ramp)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlendConfig:
        return _from_dict(cls, data)


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
        _check_fields(self, min_size=(0, 10**9))
        if not 0.0 < self.low <= self.high < 1.0:
            raise InputError(f"need 0 < low <= high < 1, got low={self.low}, high={self.high}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelDecodeConfig:
        return _from_dict(cls, data)
