"""MONAI transforms: SinGAN sampling / injection and tumour insertion + harmonization.

Follows MONAI's ``RandGaussianNoise``/``RandGaussianNoised`` structure: the dictionary
transforms wrap an array transform built with ``prob=1.0``, forward ``set_random_state`` to it
and randomize it once per call. All randomness comes from ``self.R`` (the transform's own
``numpy.random.RandomState``); JAX keys are derived from integers drawn from it, so MONAI's
DataLoader worker seeding gives every worker its own stream and ``set_random_state``
reproduces a run.

Every call records the operation in the output's ``applied_operations`` (``push_transform``,
with ``do_transforms`` False when ``prob`` skipped it). ``inverse`` pops that record and leaves
the data as it is: a generated image cannot be un-generated, but the geometry is unchanged, so
``Invertd`` over a pipeline containing these transforms still inverts the spatial ones.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.meta_obj import get_track_meta
from monai.transforms import InvertibleTransform, MapTransform, RandomizableTransform
from monai.utils import TransformBackends, convert_to_tensor

from singan_augment.engine.config import BlendConfig
from singan_augment.errors import InputError, MissingKeyError

from .bridge import plain_tensor, rewrap_like
from .checks import (
    check_input,
    check_mode,
    check_slices,
    check_spatial_axis,
    checked_counts,
    parse_scale_range,
)
from .generation import apply_layout, apply_named
from .pyramids import PyramidCache, is_pyramid, resolve_pyramid
from .spacing import tensor_spacing
from .tumour_insertion import TumourParams, tumour_named

_SEED_MAX = 2**31 - 1


def _source_name(source: Any) -> str:
    return "<in-memory pyramid>" if is_pyramid(source) else str(source)


class RandSinGANSample(RandomizableTransform, InvertibleTransform):
    """Replace a channel-first image by a SinGAN sample (or a structure-preserving variation).

    Args:
        pyramid: a ``Pyramid`` or a pyramid directory (loaded lazily, cached per process).
        prob: probability of transforming.
        start_scale: int or inclusive (lo, hi) range drawn per call. ``mode="sample"``: the
            scale fresh noise starts at (below it the training image's layout is kept).
            ``mode="inject"``: the injection scale (>= 1): the input's own structure enters
            there, so existing labels stay valid.
        mode: ``"sample"`` or ``"inject"``.
        spatial_axis, slices: how a 3D (C, X, Y, Z) input is cut into 2D planes (see
            ``singan_augment.transforms.planes``; a singleton axis is used automatically, a
            real volume needs the axis).
        transpose_plane: treat the in-plane axes as (W, H) (transpose before the pyramid).
        cache_size: LRU size of the per-process pyramid cache.

    Input: (C, H, W) or (C, H, W, D) with C = the pyramid's channels in its order, image
    channels in the training range, label channels one-hot in [0, 1]. Output: same shape, same
    metadata (MetaTensor in, MetaTensor out), label channels as decoded 0/1 one-hot masks.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        pyramid: Any = None,
        prob: float = 0.1,
        start_scale: int | Sequence[int] = 1,
        mode: str = "sample",
        spatial_axis: int | None = None,
        slices: Any = "all",
        transpose_plane: bool = False,
        cache_size: int = 4,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.pyramid = pyramid
        self.scale_range = parse_scale_range(start_scale)
        self.mode = check_mode(mode)
        self.spatial_axis = check_spatial_axis(spatial_axis)
        self.slices = check_slices(slices)
        self.transpose_plane = bool(transpose_plane)
        self.cache = PyramidCache(cache_size)
        self._seed = 0
        self._scale = self.scale_range[0]
        self._slice_u = 0.0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        lo, hi = self.scale_range
        self._scale = int(self.R.randint(lo, hi + 1))
        self._seed = int(self.R.randint(0, _SEED_MAX))
        self._slice_u = float(self.R.uniform())

    def _info(self, source: Any) -> dict:
        return {
            "mode": self.mode,
            "scale": self._scale,
            "seed": self._seed,
            "slice_u": self._slice_u,
            "pyramid": _source_name(source),
        }

    def apply(
        self, x: torch.Tensor, pyramid: Any = None, spacing: tuple[float, ...] | None = None
    ) -> torch.Tensor:
        """Apply with the current random parameters to a plain (C, *spatial) tensor whose
        spatial pixel spacing is ``spacing`` (None: unknown)."""
        pyr = resolve_pyramid(pyramid if pyramid is not None else self.pyramid, self.cache)
        return apply_layout(
            pyr,
            plain_tensor(check_input(x)).to(torch.float32),
            mode=self.mode,
            scale=self._scale,
            seed=self._seed,
            spatial_axis=self.spatial_axis,
            slices=self.slices,
            slice_u=self._slice_u,
            transpose=self.transpose_plane,
            spacing=spacing,
        )

    def __call__(self, img: Any, randomize: bool = True, pyramid: Any = None) -> torch.Tensor:
        img = convert_to_tensor(check_input(img), track_meta=get_track_meta())
        if randomize:
            self.randomize(img)
        if not self._do_transform:
            out = img
        else:
            out = rewrap_like(self.apply(img, pyramid, tensor_spacing(img)), img)
        return self.push_transform(out, extra_info=self._info(pyramid or self.pyramid))

    def inverse(self, data: Any) -> Any:
        self.pop_transform(data)
        return data


class RandSinGANSampled(RandomizableTransform, MapTransform, InvertibleTransform):
    """Dictionary version of :class:`RandSinGANSample`: keys map to the pyramid's channels.

    Keys are matched to pyramid channels by ``channel_map`` (key -> channel names), else by
    name (key "t1" -> channel "t1"), else in order (e.g. one 3-channel key "image" for a
    t1/t2/flair pyramid). ``label_key`` names the key holding a discrete label map for the
    pyramid's label channel(s) (default: the key named like the pyramid's single label
    channel); it comes back as a label map of the input's dtype, aligned with the images.

    The pyramid is fixed (``pyramid``: a Pyramid or directory) or per sample
    (``pyramid_key``: a key whose value is a pyramid directory); loaded pyramids are kept in an
    LRU cache of ``cache_size`` per process. Keys not listed are left untouched: in
    ``mode="sample"`` the geometry changes, so list every label key that must stay aligned.
    """

    backend = RandSinGANSample.backend

    def __init__(
        self,
        keys: KeysCollection,
        pyramid: Any = None,
        pyramid_key: Hashable | None = None,
        prob: float = 0.1,
        start_scale: int | Sequence[int] = 1,
        mode: str = "sample",
        label_key: Hashable | None = None,
        channel_map: Mapping[Hashable, Sequence[str]] | None = None,
        spatial_axis: int | None = None,
        slices: Any = "all",
        transpose_plane: bool = False,
        cache_size: int = 4,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if pyramid is None and pyramid_key is None:
            raise InputError("give pyramid= (a Pyramid or directory) or pyramid_key=")
        if label_key is not None and label_key not in self.keys:
            raise InputError(f"label_key {label_key!r} must be one of keys {list(self.keys)}")
        self.pyramid_key = pyramid_key
        self.label_key = label_key
        self.channel_map = dict(channel_map) if channel_map else None
        self.sampler = RandSinGANSample(
            pyramid=pyramid,
            prob=1.0,
            start_scale=start_scale,
            mode=mode,
            spatial_axis=spatial_axis,
            slices=slices,
            transpose_plane=transpose_plane,
            cache_size=cache_size,
        )

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandSinGANSampled:
        super().set_random_state(seed, state)
        self.sampler.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        keys = list(self.key_iterator(d))
        if not self._do_transform:  # applied inputs are checked by apply_named
            checked_counts({k: d[k] for k in keys})  # errors never depend on the dice
        for key in keys:
            d[key] = convert_to_tensor(d[key], track_meta=get_track_meta())
        source = self.sampler.pyramid
        if self.pyramid_key is not None and self.pyramid_key in d:
            source = d[self.pyramid_key]
        if self._do_transform and keys:
            self.sampler.randomize(None)
            pyr = resolve_pyramid(source, self.sampler.cache)
            named = {k: d[k] for k in keys}
            out = apply_named(
                pyr,
                named,
                label_name=self.label_key,
                channel_map=self.channel_map,
                mode=self.sampler.mode,
                scale=self.sampler._scale,
                seed=self.sampler._seed,
                spatial_axis=self.sampler.spatial_axis,
                slices=self.sampler.slices,
                slice_u=self.sampler._slice_u,
                transpose=self.sampler.transpose_plane,
                spacing=tensor_spacing(named[keys[0]]),
            )
            for k in keys:
                d[k] = rewrap_like(out[k], named[k])
        info = self.sampler._info(source)
        for k in keys:
            d[k] = self.push_transform(d[k], extra_info=info)
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.pop_transform(d[key])
        return d


RandSinGANSampleD = RandSinGANSampleDict = RandSinGANSampled


def _range(v: Any, what: str, cast: type = float) -> tuple:
    if isinstance(v, int | float | np.integer | np.floating):
        return cast(v), cast(v)
    lo, hi = (cast(x) for x in v)
    if lo > hi:
        raise InputError(f"{what} must have lo <= hi, got {v!r}")
    return lo, hi


class _TumourRandom(RandomizableTransform):
    """Shared randomization of the tumour transforms (all draws from ``self.R``)."""

    def _init_tumour(
        self,
        pyramid: Any,
        injection_scale: int,
        tumour_bank: Sequence[Any] | None,
        patch_size: int | Sequence[int],
        zoom_range: float | Sequence[float],
        rotate: bool,
        location: tuple[int, int] | None,
        label_map: Mapping[int, int] | None,
        tumour_label: int,
        threshold: float | None,
        spatial_axis: int | None,
        slices: Any,
        transpose_plane: bool,
        cache_size: int,
        lesion: str = "keep_core",
    ) -> None:
        self.pyramid = pyramid
        self.lesion = BlendConfig.tumour(lesion).lesion  # checked here, built per call
        self.injection_scale = int(injection_scale)
        self.tumour_bank = list(tumour_bank) if tumour_bank is not None else None
        self.patch_size = _range(patch_size, "patch_size", int)
        self.zoom_range = _range(zoom_range, "zoom_range")
        self.rotate = bool(rotate)
        self.location = None if location is None else tuple(int(v) for v in location)
        self.label_map = dict(label_map) if label_map else {1: 1, 2: 2, 3: 3}
        self.tumour_label = int(tumour_label)
        self.threshold = threshold
        self.spatial_axis = check_spatial_axis(spatial_axis)
        self.slices = check_slices(slices)
        self.transpose_plane = bool(transpose_plane)
        self.cache = PyramidCache(cache_size)
        self._params: TumourParams | None = None

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        self._params = TumourParams(
            seed=int(self.R.randint(0, _SEED_MAX)),
            patch_seed=int(self.R.randint(0, _SEED_MAX)),
            loc_u=float(self.R.uniform()),
            slice_u=float(self.R.uniform()),
            zoom=float(self.R.uniform(*self.zoom_range)),
            angle=float(self.R.uniform(0.0, 360.0)) if self.rotate else 0.0,
            patch_size=int(self.R.randint(self.patch_size[0], self.patch_size[1] + 1)),
        )

    def _run(
        self,
        images: dict,
        label: Any,
        brain: Any,
        pyramid: Any = None,
        channel_map: Mapping | None = None,
    ) -> tuple[dict, Any]:
        pyr = resolve_pyramid(pyramid if pyramid is not None else self.pyramid, self.cache)
        return tumour_named(
            pyr,
            images,
            label,
            brain,
            self._params,
            channel_map=channel_map,
            spatial_axis=self.spatial_axis,
            slices=self.slices,
            transpose=self.transpose_plane,
            injection_scale=self.injection_scale,
            bank=self.tumour_bank,
            location=self.location,
            label_map=self.label_map,
            threshold=self.threshold,
            tumour_label=self.tumour_label,
            lesion=self.lesion,
            spacing=tensor_spacing(next(iter(images.values()))),
        )

    def _info(self) -> dict:
        p = self._params
        info = {
            "injection_scale": self.injection_scale,
            "lesion": self.lesion,
            "pyramid": _source_name(self.pyramid),
        }
        if p is not None:
            info.update(
                seed=p.seed, patch_seed=p.patch_seed, zoom=p.zoom, angle=p.angle, size=p.patch_size
            )
        return info


_TUMOUR_DOC = """
    Args:
        pyramid: a ``Pyramid`` or directory whose *image* channels are the image's channels
            (a pyramid with label channels sees the new label map as those channels).
        injection_scale: harmonization scale (default 2; the medical study found 2-3 best).
        tumour_bank: optional sequence of ``(image (C, s, s) in [0, 1], mask or label (s, s))``
            patches (or objects with ``image``/``label``/``mask``); one is drawn per call.
            Without it, patches come from ``singan_augment.tumour.make_tumour`` (core 1,
            enhancing rim 2, oedema 3; channel names it does not know get random levels).
        patch_size: int or (lo, hi) side of generated patches, in pixels.
        zoom_range, rotate: random scale (uniform in the range) and rotation (0-360 degrees).
        location: fixed (row, col) centre in the plane; default: random inside the brain mask.
        label_map: patch label -> output label (default identity 1, 2, 3).
        tumour_label: the label given to a bank entry's binary mask.
        threshold: brain mask = first image channel > threshold when no mask is given
            (default: 10% of the channel's range above its minimum).
        spatial_axis, slices, transpose_plane: 2D planes of volumes (default ``slices`` is the
            centre slice; ``"all"`` inserts an independent tumour per slice). A 3D (volume)
            pyramid instead inserts one procedural 3D lesion (a ``patch_size``^3 patch of
            nested irregular balls) into the whole (C, X, Y, Z) volume and harmonizes it in
            3D; ``location`` is then an (x, y, z) voxel.
        lesion: ``"keep_core"`` (default) keeps the lesion's core from the paste so that it
            stays visible and the label stays true; ``"regenerate"`` is the published blend,
            which fades the lesion towards healthy tissue (``docs/lesion_fidelity.md``);
            ``"restore_contrast"`` regenerates and adds the lost low-frequency contrast back.

    Output: the harmonized image (pixels farther than the blend radius from the paste are
    unchanged) and the label map with the tumour classes set inside the pasted mask and
    everything outside kept.
"""


class SinGANTumourHarmonize(_TumourRandom, InvertibleTransform):
    __doc__ = (
        "Paste a tumour patch into a brain image and harmonize it with the pyramid.\n\n"
        "``__call__(img, label=None, brain_mask=None)`` returns the image, or ``(image, label)``"
        " when a (1, *spatial) label map is given.\n" + _TUMOUR_DOC
    )

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        pyramid: Any,
        prob: float = 1.0,
        injection_scale: int = 2,
        tumour_bank: Sequence[Any] | None = None,
        patch_size: int | Sequence[int] = (12, 20),
        zoom_range: float | Sequence[float] = (0.8, 1.25),
        rotate: bool = True,
        location: tuple[int, int] | None = None,
        label_map: Mapping[int, int] | None = None,
        tumour_label: int = 1,
        threshold: float | None = None,
        spatial_axis: int | None = None,
        slices: Any = "center",
        transpose_plane: bool = False,
        cache_size: int = 4,
        lesion: str = "keep_core",
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self._init_tumour(
            pyramid, injection_scale, tumour_bank, patch_size, zoom_range, rotate, location,
            label_map, tumour_label, threshold, spatial_axis, slices, transpose_plane, cache_size,
            lesion,
        )  # fmt: skip

    def __call__(
        self, img: Any, label: Any = None, brain_mask: Any = None, randomize: bool = True
    ) -> Any:
        img = convert_to_tensor(img, track_meta=get_track_meta())
        if label is not None:
            label = convert_to_tensor(label, track_meta=get_track_meta())
        if randomize:
            self.randomize(img)
        out_img, out_lab = img, label
        if self._do_transform:
            brain = None if brain_mask is None else convert_to_tensor(brain_mask)
            res, lab = self._run({"image": img}, label, brain)
            out_img = rewrap_like(res["image"], img)
            out_lab = None if label is None else rewrap_like(lab, label)
        out_img = self.push_transform(out_img, extra_info=self._info())
        if label is None:
            return out_img
        return out_img, self.push_transform(out_lab, extra_info=self._info())

    def inverse(self, data: Any) -> Any:
        self.pop_transform(data)
        return data


class SinGANTumourHarmonized(_TumourRandom, MapTransform, InvertibleTransform):
    __doc__ = (
        "Dictionary version of :class:`SinGANTumourHarmonize`.\n\n"
        "``keys``: the image keys (mapped to the pyramid's image channels like "
        "``RandSinGANSampled``); ``label_key``: the label map to update (optional); "
        "``brain_mask_key``: a brain mask (optional, else derived by threshold).\n" + _TUMOUR_DOC
    )

    backend = SinGANTumourHarmonize.backend

    def __init__(
        self,
        keys: KeysCollection,
        pyramid: Any,
        label_key: Hashable | None = None,
        brain_mask_key: Hashable | None = None,
        prob: float = 1.0,
        injection_scale: int = 2,
        tumour_bank: Sequence[Any] | None = None,
        patch_size: int | Sequence[int] = (12, 20),
        zoom_range: float | Sequence[float] = (0.8, 1.25),
        rotate: bool = True,
        location: tuple[int, int] | None = None,
        label_map: Mapping[int, int] | None = None,
        tumour_label: int = 1,
        threshold: float | None = None,
        channel_map: Mapping[Hashable, Sequence[str]] | None = None,
        spatial_axis: int | None = None,
        slices: Any = "center",
        transpose_plane: bool = False,
        cache_size: int = 4,
        allow_missing_keys: bool = False,
        lesion: str = "keep_core",
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self._init_tumour(
            pyramid, injection_scale, tumour_bank, patch_size, zoom_range, rotate, location,
            label_map, tumour_label, threshold, spatial_axis, slices, transpose_plane, cache_size,
            lesion,
        )  # fmt: skip
        if label_key is not None and label_key in self.keys:
            raise InputError(f"label_key {label_key!r} must not be one of the image keys")
        self.label_key = label_key
        self.brain_mask_key = brain_mask_key
        self.channel_map = dict(channel_map) if channel_map else None

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        keys = list(self.key_iterator(d))
        out_keys = keys + ([self.label_key] if self.label_key in d else [])
        for key in out_keys:
            d[key] = convert_to_tensor(d[key], track_meta=get_track_meta())
        if self._do_transform and keys:
            brain = d.get(self.brain_mask_key) if self.brain_mask_key is not None else None
            if self.brain_mask_key is not None and brain is None:
                raise MissingKeyError(f"brain_mask_key {self.brain_mask_key!r} is not in the data")
            label = d.get(self.label_key) if self.label_key is not None else None
            images = {k: d[k] for k in keys}
            res, lab = self._run(
                images,
                label,
                None if brain is None else convert_to_tensor(brain),
                channel_map=self.channel_map,
            )
            for k in keys:
                d[k] = rewrap_like(res[k], images[k])
            if label is not None:
                d[self.label_key] = rewrap_like(lab, label)
        info = self._info()
        for k in out_keys:
            d[k] = self.push_transform(d[k], extra_info=info)
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in [*self.key_iterator(d), self.label_key]:
            if key is not None and key in d:
                self.pop_transform(d[key])
        return d


SinGANTumourHarmonizeD = SinGANTumourHarmonizeDict = SinGANTumourHarmonized

__all__ = [
    "RandSinGANSample",
    "RandSinGANSampleD",
    "RandSinGANSampleDict",
    "RandSinGANSampled",
    "SinGANTumourHarmonize",
    "SinGANTumourHarmonizeD",
    "SinGANTumourHarmonizeDict",
    "SinGANTumourHarmonized",
]
