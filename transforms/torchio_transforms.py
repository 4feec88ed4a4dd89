"""TorchIO (v1 API, ``torchio<2``) transforms: SinGAN sampling/injection and tumour insertion.

Each random transform draws its parameters from torch's RNG (which torch seeds per DataLoader
worker) and calls a deterministic twin with them - TorchIO's ``RandomNoise`` -> ``Noise``
pattern - so the twin, with its exact parameters, is what enters the subject's history and
``subject.get_composed_history()`` replays the output bit for bit.

TorchIO tensors are (C, W, H, D). A 2D pyramid sees planes: 2D images (D = 1) are handled
automatically; real volumes need ``spatial_axis`` (0 = W, 1 = H, 2 = D) and ``slices``. Planes
are transposed to (H, W) before the pyramid by default (``transpose_plane=True``), because
TorchIO stores a 2D image as (W, H) while pyramids are trained on (H, W) arrays.

``ScalarImage`` s are the image inputs (``include``/``exclude`` select them, as usual). A
``LabelMap`` is the label input when the pyramid has label channels (``label_name``, default
the subject's only label map). In ``mode="sample"`` the geometry changes, so any other label
map in scope raises an error instead of silently going stale; in ``mode="inject"`` other label
maps are left as they are (the structure is preserved).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torchio as tio
from torchio.transforms import Transform
from torchio.transforms.augmentation import RandomTransform

from singan_augment.engine.config import BlendConfig
from singan_augment.errors import InputError

from .checks import check_mode, check_slices, check_spatial_axis, parse_scale_range
from .generation import apply_named
from .pyramids import PyramidCache, resolve_pyramid
from .spacing import affine_spacing
from .tumour_insertion import TumourParams, tumour_named

_CACHE = PyramidCache(8)  # per process; the twins are created per call


def set_cache_size(n: int) -> None:
    """Resize the per-process pyramid cache used by the TorchIO transforms."""
    global _CACHE
    _CACHE = PyramidCache(n)


def _select(
    subject: tio.Subject,
    include: Any,
    exclude: Any,
    pyramid: Any,
    label_name: str | None,
    mode: str,
) -> tuple[dict[str, torch.Tensor], str | None]:
    images = subject.get_images_dict(intensity_only=False, include=include, exclude=exclude)
    labels = [n for n, im in images.items() if isinstance(im, tio.LabelMap)]
    has_label_channels = bool(pyramid.channels.label_indices)
    if label_name is None and has_label_channels:
        if len(labels) != 1:
            raise InputError(
                f"the pyramid has label channels; the subject has label maps {labels}: "
                "set label_name to the one that holds the pyramid's labels"
            )
        label_name = labels[0]
    if label_name is not None and label_name not in images:
        raise InputError(f"label_name {label_name!r} is not among the images {list(images)}")
    others = [n for n in labels if n != label_name]
    if others and mode == "sample":
        raise InputError(
            f"label maps {others} would no longer match the sampled images (mode='sample' "
            "changes the geometry): exclude them, map them to the pyramid's label channel "
            "with label_name, or use mode='inject'"
        )
    named = {n: im.data for n, im in images.items() if n not in others}
    return named, label_name


def _subject_spacing(subject: tio.Subject, names: Any) -> tuple[float, ...] | None:
    """The voxel spacing of the first named image (None when its affine is the identity
    TorchIO gives tensors created without one): the pyramid then runs at its own spacing."""
    first = next(iter(names))
    return affine_spacing(subject[first].affine, 3)


class SinGAN(Transform):
    """Deterministic SinGAN sample/injection with fixed ``seed``, ``scale`` and ``slice_u``.

    Usually created by :class:`RandomSinGAN`; it is what the subject's history records.
    """

    def __init__(
        self,
        pyramid: Any,
        seed: int,
        scale: int,
        mode: str = "sample",
        slice_u: float = 0.0,
        label_name: str | None = None,
        channel_map: Mapping[str, Sequence[str]] | None = None,
        spatial_axis: int | None = None,
        slices: Any = "all",
        transpose_plane: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pyramid = pyramid
        self.seed = int(seed)
        self.scale = int(scale)
        self.mode = check_mode(mode)
        self.slice_u = float(slice_u)
        self.label_name = label_name
        self.channel_map = channel_map
        self.spatial_axis = check_spatial_axis(spatial_axis)
        self.slices = check_slices(slices)
        self.transpose_plane = bool(transpose_plane)
        self.args_names = [
            "pyramid",
            "seed",
            "scale",
            "mode",
            "slice_u",
            "label_name",
            "channel_map",
            "spatial_axis",
            "slices",
            "transpose_plane",
        ]

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        pyr = resolve_pyramid(self.pyramid, _CACHE)
        named, label_name = _select(
            subject, self.include, self.exclude, pyr, self.label_name, self.mode
        )
        if not named:
            return subject
        out = apply_named(
            pyr,
            named,
            label_name=label_name,
            channel_map=self.channel_map,
            mode=self.mode,
            scale=self.scale,
            seed=self.seed,
            spatial_axis=self.spatial_axis,
            slices=self.slices,
            slice_u=self.slice_u,
            transpose=self.transpose_plane,
            spacing=_subject_spacing(subject, named),
        )
        for name, t in out.items():
            subject[name].set_data(t)
        return subject


class RandomSinGAN(RandomTransform):
    """Replace images by a SinGAN sample (``mode="sample"``) or a structure-preserving
    variation (``mode="inject"``) of themselves.

    Args:
        pyramid: a ``Pyramid`` or a pyramid directory (loaded lazily, cached per process).
        start_scale: int or inclusive (lo, hi) range; the start scale (sample) or injection
            scale (inject, >= 1).
        label_name: the ``LabelMap`` that holds the pyramid's label channel(s).
        channel_map: image name -> pyramid channel names (default: by name, then in order).
        spatial_axis, slices, transpose_plane: see the module docstring.
        **kwargs: TorchIO's ``p``, ``include``, ``exclude``, ``copy``...
    """

    def __init__(
        self,
        pyramid: Any,
        start_scale: int | Sequence[int] = 1,
        mode: str = "sample",
        label_name: str | None = None,
        channel_map: Mapping[str, Sequence[str]] | None = None,
        spatial_axis: int | None = None,
        slices: Any = "all",
        transpose_plane: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pyramid = pyramid
        self.scale_range = parse_scale_range(start_scale)
        self.mode = check_mode(mode)
        self.label_name = label_name
        self.channel_map = channel_map
        self.spatial_axis = check_spatial_axis(spatial_axis)
        self.slices = check_slices(slices)
        self.transpose_plane = bool(transpose_plane)
        self.args_names = ["pyramid", "scale_range", "mode", "label_name", "spatial_axis"]

    def get_params(self) -> tuple[int, int, float]:
        lo, hi = self.scale_range
        scale = int(torch.randint(lo, hi + 1, (1,)).item())
        return self._get_random_seed(), scale, float(torch.rand(1).item())

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        seed, scale, slice_u = self.get_params()
        twin = SinGAN(
            pyramid=self.pyramid,
            seed=seed,
            scale=scale,
            mode=self.mode,
            slice_u=slice_u,
            label_name=self.label_name,
            channel_map=self.channel_map,
            spatial_axis=self.spatial_axis,
            slices=self.slices,
            transpose_plane=self.transpose_plane,
            **self._get_base_args(),
        )
        return twin(subject)


class SinGANTumour(Transform):
    """Deterministic tumour insertion + harmonization with fixed parameters (the twin of
    :class:`RandomSinGANTumour`; see it and ``SinGANTumourHarmonize`` for the arguments)."""

    def __init__(
        self,
        pyramid: Any,
        seed: int,
        patch_seed: int,
        loc_u: float,
        slice_u: float,
        zoom: float,
        angle: float,
        patch_size: int,
        injection_scale: int = 2,
        label_name: str | None = None,
        brain_mask_name: str | None = None,
        location: tuple[int, int] | None = None,
        label_map: Mapping[int, int] | None = None,
        threshold: float | None = None,
        tumour_label: int = 1,
        tumour_bank: Sequence[Any] | None = None,
        channel_map: Mapping[str, Sequence[str]] | None = None,
        spatial_axis: int | None = None,
        slices: Any = "center",
        transpose_plane: bool = True,
        lesion: str = "keep_core",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pyramid = pyramid
        self.seed, self.patch_seed = int(seed), int(patch_seed)
        self.loc_u, self.slice_u = float(loc_u), float(slice_u)
        self.zoom, self.angle, self.patch_size = float(zoom), float(angle), int(patch_size)
        self.injection_scale = int(injection_scale)
        self.label_name = label_name
        self.brain_mask_name = brain_mask_name
        self.location = location
        self.label_map = label_map
        self.threshold = threshold
        self.tumour_label = int(tumour_label)
        self.tumour_bank = tumour_bank
        self.channel_map = channel_map
        self.spatial_axis = check_spatial_axis(spatial_axis)
        self.slices = check_slices(slices)
        self.transpose_plane = bool(transpose_plane)
        self.lesion = BlendConfig.tumour(lesion).lesion
        self.args_names = [
            "pyramid",
            "seed",
            "patch_seed",
            "loc_u",
            "slice_u",
            "zoom",
            "angle",
            "patch_size",
            "injection_scale",
            "label_name",
            "brain_mask_name",
            "location",
            "label_map",
            "threshold",
            "tumour_label",
            "tumour_bank",
            "channel_map",
            "spatial_axis",
            "slices",
            "transpose_plane",
            "lesion",
        ]

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        pyr = resolve_pyramid(self.pyramid, _CACHE)
        scalars = subject.get_images_dict(
            intensity_only=True, include=self.include, exclude=self.exclude
        )
        scalars.pop(self.brain_mask_name, None)
        label_name = self.label_name
        if label_name is None:
            maps = [
                n
                for n, im in subject.get_images_dict(intensity_only=False).items()
                if isinstance(im, tio.LabelMap) and n != self.brain_mask_name
            ]
            if len(maps) > 1:
                raise InputError(f"the subject has label maps {maps}: set label_name")
            label_name = maps[0] if maps else None
        if not scalars:
            return subject
        label = subject[label_name].data if label_name is not None else None
        if self.brain_mask_name is not None and self.brain_mask_name not in subject:
            raise InputError(f"brain_mask_name {self.brain_mask_name!r} is not in the subject")
        brain = subject[self.brain_mask_name].data if self.brain_mask_name is not None else None
        params = TumourParams(
            self.seed, self.patch_seed, self.loc_u, self.slice_u, self.zoom, self.angle,
            self.patch_size,
        )  # fmt: skip
        res, lab = tumour_named(
            pyr,
            {n: im.data for n, im in scalars.items()},
            label,
            brain,
            params,
            channel_map=self.channel_map,
            spatial_axis=self.spatial_axis,
            slices=self.slices,
            transpose=self.transpose_plane,
            injection_scale=self.injection_scale,
            bank=self.tumour_bank,
            location=None if self.location is None else tuple(self.location),
            label_map=dict(self.label_map) if self.label_map else {1: 1, 2: 2, 3: 3},
            threshold=self.threshold,
            tumour_label=self.tumour_label,
            lesion=self.lesion,
            spacing=_subject_spacing(subject, scalars),
        )
        for name, t in res.items():
            subject[name].set_data(t)
        if lab is not None:
            subject[label_name].set_data(lab)
        return subject


class RandomSinGANTumour(RandomTransform):
    """Paste a random tumour patch into the brain and harmonize it with the pyramid.

    Args as in :class:`~singan_augment.transforms.SinGANTumourHarmonize` (``patch_size`` and
    ``zoom_range`` as (lo, hi) ranges, ``rotate``), plus ``label_name`` (the label map to
    update; default the subject's only ``LabelMap`` other than the brain mask) and
    ``brain_mask_name``. ``location`` is (row, col) in the (H, W) plane the pyramid sees.
    ``lesion``: ``"keep_core"`` (default) keeps the lesion's core from the paste so it stays
    visible; ``"regenerate"`` is the published blend (see ``docs/lesion_fidelity.md``).
    """

    def __init__(
        self,
        pyramid: Any,
        injection_scale: int = 2,
        patch_size: int | Sequence[int] = (12, 20),
        zoom_range: float | Sequence[float] = (0.8, 1.25),
        rotate: bool = True,
        tumour_bank: Sequence[Any] | None = None,
        label_name: str | None = None,
        brain_mask_name: str | None = None,
        location: tuple[int, int] | None = None,
        label_map: Mapping[int, int] | None = None,
        threshold: float | None = None,
        tumour_label: int = 1,
        channel_map: Mapping[str, Sequence[str]] | None = None,
        spatial_axis: int | None = None,
        slices: Any = "center",
        transpose_plane: bool = True,
        lesion: str = "keep_core",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pyramid = pyramid
        self.injection_scale = int(injection_scale)
        ps = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
        zr = (zoom_range, zoom_range) if isinstance(zoom_range, int | float) else zoom_range
        self.patch_size, self.zoom_range = (int(ps[0]), int(ps[1])), tuple(map(float, zr))
        self.rotate = bool(rotate)
        self.twin_kwargs = {
            "injection_scale": self.injection_scale,
            "label_name": label_name,
            "brain_mask_name": brain_mask_name,
            "location": location,
            "label_map": label_map,
            "threshold": threshold,
            "tumour_label": tumour_label,
            "tumour_bank": tumour_bank,
            "channel_map": channel_map,
            "spatial_axis": spatial_axis,
            "slices": check_slices(slices),
            "transpose_plane": transpose_plane,
            "lesion": BlendConfig.tumour(lesion).lesion,
        }
        self.args_names = ["pyramid", "injection_scale", "patch_size", "zoom_range", "rotate"]

    def get_params(self) -> dict:
        return {
            "seed": self._get_random_seed(),
            "patch_seed": self._get_random_seed(),
            "loc_u": float(torch.rand(1).item()),
            "slice_u": float(torch.rand(1).item()),
            "zoom": self.sample_uniform(*self.zoom_range),
            "angle": self.sample_uniform(0.0, 360.0) if self.rotate else 0.0,
            "patch_size": int(torch.randint(self.patch_size[0], self.patch_size[1] + 1, (1,))),
        }

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        twin = SinGANTumour(
            pyramid=self.pyramid,
            **self.get_params(),
            **self.twin_kwargs,
            **self._get_base_args(),
        )
        return twin(subject)


__all__ = ["RandomSinGAN", "RandomSinGANTumour", "SinGAN", "SinGANTumour", "set_cache_size"]
