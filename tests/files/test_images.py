"""Image readers refuse every array that is not real numbers, by name, instead of casting it."""

from __future__ import annotations

import numpy as np
import pytest

from singan_augment.cli import main
from singan_augment.errors import InputError
from singan_augment.files.images import check_real_dtype, read_image, read_stack
from singan_augment.testing import tiny_image

BAD_ARRAYS = {
    "complex": (tiny_image(1) + 1j * tiny_image(1)).astype(np.complex64),
    "complex128": tiny_image(1).astype(np.complex128),
    "datetime": np.zeros((1, 30, 30), "datetime64[s]"),
    "timedelta": np.zeros((1, 30, 30), "timedelta64[ms]"),
    "text": np.full((1, 30, 30), "a"),
    "bytes": np.full((1, 30, 30), b"a"),
    "structured": np.zeros((1, 30, 30), [("a", "f4"), ("b", "f4")]),
}
MESSAGES = {
    "complex": "complex values",
    "complex128": "complex values",
    "datetime": "dates",
    "timedelta": "time spans",
    "text": "text",
    "bytes": "bytes",
    "structured": "structured",
}


@pytest.mark.parametrize("kind", sorted(BAD_ARRAYS))
def test_npy_of_a_non_real_dtype_is_refused_by_name(tmp_path, kind, ledger):
    path = tmp_path / f"{kind}.npy"
    np.save(path, BAD_ARRAYS[kind])
    err = ledger.bad("files.read_image", read_image, path, error=InputError, match=MESSAGES[kind])
    assert str(path) in str(err)


def test_object_npy_is_refused_without_unpickling(tmp_path, ledger):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([[[object()]]], dtype=object), allow_pickle=True)
    ledger.bad(
        "files.read_image",
        read_image,
        path,
        error=InputError,
        match="object arrays cannot be loaded",
    )


def test_complex_nifti_is_refused(tmp_path, ledger):
    import nibabel as nib

    path = tmp_path / "kspace.nii.gz"
    data = (tiny_image(1)[0] + 1j).astype(np.complex64)[:, :, None]
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    ledger.bad("files.read_image", read_stack, [path], error=InputError, match="complex values")


@pytest.mark.parametrize(
    "dtype", ["uint8", "int16", "int64", "float16", "float32", "float64", "bool"]
)
def test_real_dtypes_are_read_as_float32(tmp_path, dtype):
    path = tmp_path / "ok.npy"
    np.save(
        path, (tiny_image(2) > 50).astype(dtype) if dtype == "bool" else tiny_image(2).astype(dtype)
    )
    out = read_image(path)
    assert out.dtype == np.float32 and out.shape == (2, 32, 36)
    check_real_dtype(np.dtype(dtype), "x")  # accepted


def test_train_refuses_complex_input_before_training(tmp_path, capsys):
    """The defect: a complex .npy trained without complaint, dropping the imaginary part."""
    path = tmp_path / "k.npy"
    np.save(path, BAD_ARRAYS["complex"])
    code = main(["train", str(path), "--out", str(tmp_path / "run"), "--iters", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "complex values" in err and "np.abs" in err
    assert not (tmp_path / "run" / "pyramid.json").exists()


def _nifti(path, zooms, shape=(30, 34, 1)):
    import nibabel as nib

    img = nib.Nifti1Image(np.ones(shape, np.float32), np.diag([*zooms, 1.0]))
    nib.save(img, path)
    return path


def test_nifti_spacing_is_read_from_the_header_of_its_in_plane_axes(tmp_path):
    from singan_augment.files.images import read_spacing, read_stack_spacing

    a = _nifti(tmp_path / "a.nii.gz", (0.8, 0.9, 3.0))
    assert read_spacing(a) == pytest.approx((0.8, 0.9))
    # a slice stored along the first axis: the two kept axes are the in-plane ones
    b = _nifti(tmp_path / "b.nii", (5.0, 0.8, 0.9), shape=(1, 30, 34))
    assert read_spacing(b) == pytest.approx((0.8, 0.9))
    assert read_image(b).shape == (1, 30, 34)
    np.save(tmp_path / "c.npy", tiny_image(1))
    assert read_spacing(tmp_path / "c.npy") is None  # formats without a physical grid
    assert read_stack_spacing([tmp_path / "c.npy", a]) == pytest.approx((0.8, 0.9))
    d = _nifti(tmp_path / "d.nii.gz", (1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="differ in pixel spacing"):
        read_stack_spacing([a, d])
