"""Reading and writing image files for the CLI: PNG/JPEG/TIFF, NumPy .npy, NIfTI images and
volumes (with their voxel spacing and affine).

Every reader returns a channel-first float32 (C, H, W) array. Several files can be stacked
in order as channels (e.g. T1, T2, FLAIR as three files).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from singan_augment.errors import InputError

RGB_NAMES = (("r", "g", "b"), ("red", "green", "blue"))


def suffix(path: str | os.PathLike) -> str:
    """The lower-case file type of ``path``: ``.nii.gz`` counts as one suffix."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


SliceAt = tuple[int, int]
"""(axis, index): one slice of a volume, the axis counted over its three spatial axes."""


def _take_slice(arr: np.ndarray, where: SliceAt, p: Path, channel_axis: bool) -> np.ndarray:
    axis, index = where
    spatial = arr.shape[1:] if channel_axis else arr.shape
    if len(spatial) != 3:
        raise InputError(f"{p}: --slice needs a 3D volume, got data of shape {arr.shape}")
    if not 0 <= axis < 3 or not -spatial[axis] <= index < spatial[axis]:
        raise InputError(
            f"{p}: slice {axis}:{index} is outside the volume's spatial shape {tuple(spatial)}"
        )
    return np.take(arr, index, axis=axis + (1 if channel_axis else 0))


def read_image(
    path: str | os.PathLike, *, volume: bool = False, slice_at: SliceAt | None = None
) -> np.ndarray:
    """Read one file as (C, H, W) float32, or as a (C, D, H, W) volume with ``volume=True``.

    PNG/JPEG/TIFF: grayscale -> 1 channel, RGB -> 3 (alpha dropped). ``.npy``: (H, W) or
    (C, H, W) (volumes: (C, D, H, W)), loaded without pickle. NIfTI: a 2D image (X, Y) or
    (X, Y, 1) -> (1, X, Y); a 3D volume (X, Y, Z) -> (1, X, Y, Z) with ``volume=True``.
    ``slice_at=(axis, index)`` takes one slice of a volume (NIfTI or (C, D, H, W) ``.npy``).

    Raises:
        InputError: missing/unreadable file, unknown extension, a volume where an image is
        expected (or the reverse), a slice outside the volume.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    ext = suffix(p)
    try:
        if ext == ".npy":
            arr = np.load(p, allow_pickle=False)
            if slice_at is not None:
                arr = _take_slice(arr, slice_at, p, channel_axis=True)
        elif ext in (".nii", ".nii.gz"):
            import nibabel as nib

            arr = np.asarray(nib.load(str(p)).dataobj)
            if slice_at is not None:
                arr = _take_slice(
                    arr.reshape(arr.shape[:3]) if arr.ndim == 4 and arr.shape[3] == 1 else arr,
                    slice_at,
                    p,
                    channel_axis=False,
                )
            arr = np.squeeze(arr)
            if arr.ndim == 3 and volume:
                arr = arr[None]
            elif arr.ndim != 2:
                raise InputError(
                    f"{p}: NIfTI data has shape {arr.shape}; "
                    + (
                        "a volume pyramid takes a 3D volume (X, Y, Z)"
                        if volume
                        else "a 3D volume here needs --slice AXIS:INDEX (or train a volume "
                        "pyramid on it; the transforms handle volumes slice-wise with an "
                        "explicit spatial_axis)"
                    )
                )
        elif ext in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(p)
            if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
                arr = np.moveaxis(arr[..., :3], -1, 0)
        elif ext in (".png", ".jpg", ".jpeg", ".bmp"):
            from PIL import Image

            with Image.open(p) as im:
                if im.mode in ("RGBA", "P", "LA", "CMYK", "YCbCr"):
                    im = im.convert("RGB") if im.mode != "LA" else im.convert("L")
                arr = np.asarray(im)
            if arr.ndim == 3:
                arr = np.moveaxis(arr, -1, 0)
        else:
            raise InputError(
                f"{p}: unsupported file type {ext!r} (use .png, .jpg, .tif, .npy, .nii or .nii.gz)"
            )
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure (EOF, zlib, header, bomb) is bad input
        raise InputError(f"{p}: cannot read image ({type(e).__name__}: {e})") from None
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 and not (volume and arr.ndim == 4):
        raise InputError(
            f"{p}: expected a 2D image or (C, H, W) array"
            + (" or a (C, D, H, W) volume" if volume else "")
            + f", got shape {arr.shape}"
        )
    check_real_dtype(arr.dtype, str(p))
    return arr.astype(np.float32)


def check_real_dtype(dtype: np.dtype, what: str) -> None:
    """Refuse every dtype that is not a real number (bool counts as 0/1).

    Complex data (k-space, for instance) is refused rather than silently losing its imaginary
    part; object, string, datetime and structured arrays are refused by name.

    Raises:
        InputError: naming ``what`` and the dtype.
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        raise InputError(
            f"{what}: complex values ({dtype}, e.g. k-space) are not an image; take the magnitude "
            "(np.abs) or save the real and imaginary parts as two channels first"
        )
    if dtype.kind in "biuf":  # bool, signed, unsigned, float (timedelta is kind "m")
        return
    raise InputError(
        f"{what}: unsupported dtype {dtype} ({_KINDS.get(dtype.kind, 'not a real number')}); "
        "images must hold real numbers"
    )


_KINDS = {
    "O": "Python objects",
    "U": "text",
    "S": "bytes",
    "M": "dates",
    "m": "time spans",
    "V": "structured records",
}


def read_spacing(
    path: str | os.PathLike, *, volume: bool = False, slice_at: SliceAt | None = None
) -> tuple[float, ...] | None:
    """The (row, col) pixel spacing of an image file, in mm: a NIfTI header's zooms of its two
    in-plane axes (those ``read_image`` keeps); all three for a volume (``volume=True``), the
    two left by ``slice_at``. None for every other format (their DPI says nothing about
    anatomy).

    Raises:
        InputError: an unreadable NIfTI header, or non-positive zooms.
    """
    p = Path(path)
    if suffix(p) not in (".nii", ".nii.gz"):
        return None
    try:
        import nibabel as nib

        img = nib.load(str(p))
        shape, zooms = img.shape, img.header.get_zooms()
    except Exception as e:  # noqa: BLE001 - any header failure is bad input
        raise InputError(f"{p}: cannot read the NIfTI header ({type(e).__name__}: {e})") from None
    if slice_at is not None:
        kept = [float(z) for i, z in enumerate(zooms[:3]) if i != slice_at[0]]
    else:
        kept = [float(z) for n, z in zip(shape, zooms) if n != 1][: 3 if volume else 2]
    want = 3 if volume and slice_at is None else 2
    if len(kept) != want or not all(np.isfinite(kept)) or min(kept) <= 0:
        raise InputError(f"{p}: NIfTI voxel sizes {tuple(zooms)} give no valid spacing")
    return tuple(kept)


def read_stack_spacing(
    paths: Sequence[str | os.PathLike], **kwargs: Any
) -> tuple[float, ...] | None:
    """The common pixel spacing of files stacked as channels (see ``read_spacing``, which
    takes the keyword arguments); None if no file records one.

    Raises:
        InputError: two files record different spacings (more than 0.1 % apart).
    """
    known = [(str(p), s) for p in paths if (s := read_spacing(p, **kwargs)) is not None]
    for name, s in known[1:]:
        if not np.allclose(s, known[0][1], rtol=1e-3):
            raise InputError(
                f"channels differ in pixel spacing: {known[0][0]} has {known[0][1]}, {name} has {s}"
            )
    return known[0][1] if known else None


def read_affine(path: str | os.PathLike) -> np.ndarray | None:
    """The 4x4 voxel-to-world affine (mm) of a 3-D NIfTI volume, its voxel axes in the order
    ``read_image(volume=True)`` keeps; None for every other file (other formats, 2-D NIfTI).

    Raises:
        InputError: an unreadable NIfTI header, or an affine that is not finite and invertible.
    """
    p = Path(path)
    if suffix(p) not in (".nii", ".nii.gz"):
        return None
    try:
        import nibabel as nib

        img = nib.load(str(p))
        shape, affine = img.shape, np.asarray(img.affine, np.float64)
    except Exception as e:  # noqa: BLE001 - any header failure is bad input
        raise InputError(f"{p}: cannot read the NIfTI header ({type(e).__name__}: {e})") from None
    if len([n for n in shape if n != 1]) != 3:
        return None
    return check_affine(affine, str(p))


def check_affine(affine: Any, what: str) -> np.ndarray:
    """``affine`` as a float64 (4, 4) array, checked: finite, invertible, last row (0, 0, 0, 1).

    Raises:
        InputError: naming ``what`` and the problem.
    """
    try:
        a = np.asarray(affine, np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what}: the affine must be a 4x4 array of numbers") from None
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise InputError(f"{what}: the affine must be a finite 4x4 array, got shape {a.shape}")
    if not np.allclose(a[3], (0, 0, 0, 1)) or abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise InputError(f"{what}: the affine {a.tolist()} does not map voxels to space")
    return a


def read_stack_affine(paths: Sequence[str | os.PathLike]) -> np.ndarray | None:
    """The common affine of NIfTI volumes stacked as channels (see ``read_affine``); None if
    no file records one.

    Raises:
        InputError: two files place their voxels differently (more than 1e-3 mm apart).
    """
    known = [(str(p), a) for p in paths if (a := read_affine(p)) is not None]
    for name, a in known[1:]:
        if not np.allclose(a, known[0][1], atol=1e-3):
            raise InputError(
                f"channels differ in their NIfTI affine: {known[0][0]} has "
                f"{known[0][1].round(3).tolist()}, {name} has {a.round(3).tolist()}"
            )
    return known[0][1] if known else None


def resampled_affine(
    affine: np.ndarray, source_shape: Sequence[int], shape: Sequence[int]
) -> np.ndarray:
    """The affine of a volume of ``shape`` voxels that covers the same field of view as one of
    ``source_shape`` voxels with ``affine``: each voxel axis stretched by source/new size and
    shifted so that the volumes' outer edges coincide (voxel centres at index + 0.5)."""
    s = np.asarray(source_shape, np.float64) / np.asarray(shape, np.float64)
    step = np.eye(4)
    step[:3, :3] = np.diag(s)
    step[:3, 3] = (s - 1) / 2
    return np.asarray(affine, np.float64) @ step


def read_stack(paths: Sequence[str | os.PathLike], **kwargs: Any) -> np.ndarray:
    """Read files (``read_image``, which takes the keyword arguments) and stack their
    channels in order. All must share their spatial shape."""
    if not paths:
        raise InputError("no input image given")
    arrays = [read_image(p, **kwargs) for p in paths]
    if len({a.ndim for a in arrays}) > 1:
        raise InputError(f"inputs mix images and volumes: shapes {[a.shape for a in arrays]}")
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) > 1:
        raise InputError(f"input images differ in size: {[a.shape[1:] for a in arrays]}")
    return np.concatenate(arrays, axis=0)


def write_array(
    path: str | os.PathLike, array: np.ndarray, affine: np.ndarray | None = None
) -> Path:
    """Write an array atomically as .npy or NIfTI (.nii / .nii.gz), or PNG.

    NIfTI: a (C, H, W) image is written as (H, W, 1, C); a (C, X, Y, Z) volume in the NIfTI
    axis order (X, Y, Z[, C]) (a label volume: pass it as (1, X, Y, Z)). ``affine`` (4x4,
    voxel to world in mm) places it in space; the identity when None.
    """
    from .atomic import atomic_write

    p = Path(path)
    ext = suffix(p)
    if ext == ".npy":
        import io as _io

        buf = _io.BytesIO()
        np.save(buf, np.asarray(array), allow_pickle=False)
        atomic_write(p, buf.getvalue())
    elif ext in (".nii", ".nii.gz"):
        import nibabel as nib

        arr = np.asarray(array)
        if arr.ndim == 3:  # (C, H, W) -> (H, W, 1, C)
            data = np.moveaxis(arr, 0, -1)[:, :, None, :]
        elif arr.ndim == 4:  # a (C, X, Y, Z) volume -> (X, Y, Z), or (X, Y, Z, C)
            data = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
        else:
            data = arr
        img = nib.Nifti1Image(
            data, np.eye(4) if affine is None else check_affine(affine, f"{p}: affine")
        )
        atomic_write(p, img.to_bytes() if ext == ".nii" else _gz(img.to_bytes()))
    elif ext == ".png":
        atomic_write(p, png_bytes(np.asarray(array)))
    else:
        raise InputError(f"{p}: unsupported output type {ext!r} (use .npy, .nii, .nii.gz or .png)")
    return p


def _gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=6, mtime=0)


def png_bytes(array: np.ndarray) -> bytes:
    """PNG of an (H, W), (H, W, 3) uint8 image, or a float one scaled by its own min/max."""
    import io as _io

    from PIL import Image

    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        lo, hi = float(np.min(arr)), float(np.max(arr))
        arr = ((arr - lo) / (hi - lo + 1e-12) * 255).round().astype(np.uint8)
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


LABEL_COLOURS = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
    ],
    np.uint8,
)


def preview(
    image: np.ndarray,
    names: Sequence[str],
    kinds: Sequence[str],
    low: Sequence[float],
    high: Sequence[float],
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """An (H, W', 3) uint8 montage: RGB if the image channels are named r/g/b, else one gray
    panel per image channel, then the decoded label map in colour."""
    img_idx = [i for i, k in enumerate(kinds) if k == "image"]
    scaled = [
        np.clip((image[i] - low[i]) / (high[i] - low[i] + 1e-12), 0, 1) for i in range(len(names))
    ]
    panels = []
    if tuple(n.lower() for n in (names[i] for i in img_idx)) in RGB_NAMES:
        panels.append(np.stack([scaled[i] for i in img_idx], -1))
    else:
        panels += [np.repeat(scaled[i][..., None], 3, -1) for i in img_idx]
    panels = [(p * 255).round().astype(np.uint8) for p in panels]
    if labels is not None:
        panels.append(LABEL_COLOURS[np.asarray(labels) % len(LABEL_COLOURS)])
    gap = np.full((image.shape[1], 2, 3), 255, np.uint8)
    out = []
    for p in panels:
        out += [p, gap]
    return np.concatenate(out[:-1], axis=1)
