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


def test_volumes_and_slices_of_them_are_read_with_their_spacing(tmp_path):
    """A 3-D NIfTI per contrast: a (C, X, Y, Z) volume with three zooms when volumes are
    allowed, refused by name when not; one slice of it with the two zooms left; a .npy volume
    is (C, D, H, W)."""
    import nibabel as nib

    from singan_augment.files.images import read_stack_spacing

    vol = np.random.default_rng(0).random((2, 6, 7, 5)).astype(np.float32)
    paths = []
    for c in range(2):
        p = tmp_path / f"c{c}.nii.gz"
        nib.save(nib.Nifti1Image(vol[c], np.diag([2.0, 1.5, 1.0, 1.0])), str(p))
        paths.append(p)
    both = read_stack(paths, volume=True)
    np.testing.assert_array_equal(both, vol)
    assert read_stack_spacing(paths, volume=True) == (2.0, 1.5, 1.0)
    with pytest.raises(InputError, match="needs --slice AXIS:INDEX"):
        read_stack(paths)
    sl = read_stack(paths, volume=True, slice_at=(1, 3))
    np.testing.assert_array_equal(sl, vol[:, :, 3])
    assert read_stack_spacing(paths, slice_at=(1, 3)) == (2.0, 1.0)
    with pytest.raises(InputError, match="outside the volume"):
        read_stack(paths, slice_at=(2, 5))
    np.save(tmp_path / "v.npy", vol)
    assert read_image(tmp_path / "v.npy", volume=True).shape == (2, 6, 7, 5)
    assert read_image(tmp_path / "v.npy", slice_at=(0, 2)).shape == (2, 7, 5)
    with pytest.raises(InputError, match=r"\(C, H, W\) array, got shape"):
        read_image(tmp_path / "v.npy")
    np.save(tmp_path / "i.npy", vol[:, 0])  # a (C, H, W) image beside a volume
    with pytest.raises(InputError, match="mix images and volumes"):
        read_stack([paths[0], tmp_path / "i.npy"], volume=True)


def test_nifti_affine_is_read_from_volumes_only_and_written_back(tmp_path):
    import nibabel as nib

    from singan_augment.files.images import read_affine, read_stack_affine, write_array

    affine = np.array([[0, 0, -1.5, 40], [2.0, 0, 0, -12], [0, 1.0, 0, 7], [0, 0, 0, 1]])
    vol = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    nib.save(nib.Nifti1Image(vol, affine), str(tmp_path / "v.nii.gz"))
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "w.nii.gz"))
    nib.save(nib.Nifti1Image(vol[:, :, :1], affine), str(tmp_path / "s.nii.gz"))  # 2-D
    np.save(tmp_path / "v.npy", vol[None])
    np.testing.assert_array_equal(read_affine(tmp_path / "v.nii.gz"), affine)
    assert read_affine(tmp_path / "s.nii.gz") is None
    assert read_affine(tmp_path / "v.npy") is None
    assert read_stack_affine([tmp_path / "v.npy"]) is None
    np.testing.assert_array_equal(
        read_stack_affine([tmp_path / "v.nii.gz", tmp_path / "v.nii.gz"]), affine
    )
    with pytest.raises(InputError, match="differ in their NIfTI affine"):
        read_stack_affine([tmp_path / "v.nii.gz", tmp_path / "w.nii.gz"])
    out = write_array(tmp_path / "o.nii.gz", np.stack([vol, -vol]), affine)
    img = nib.load(str(out))
    assert img.shape == (4, 5, 6, 2)
    np.testing.assert_allclose(img.affine, affine)
    np.testing.assert_array_equal(img.get_fdata()[..., 1], -vol)
    for bad in (np.zeros((4, 4)), np.eye(3), np.full((4, 4), np.nan)):
        with pytest.raises(InputError, match="affine"):
            write_array(tmp_path / "bad.nii.gz", vol[None], bad)
    assert not (tmp_path / "bad.nii.gz").exists()


@pytest.mark.parametrize(
    "source,shape",
    [((14, 16, 15), (14, 16, 15)), ((64, 60, 50), (32, 45, 50)), ((9, 9, 9), (27, 3, 10))],
)
def test_resampled_affine_covers_the_source_field_of_view(source, shape):
    from singan_augment.files.images import resampled_affine

    affine = np.array([[0, 0, -1.5, 40], [2.0, 0, 0, -12], [0, 1.0, 0, 7], [0, 0, 0, 1]])
    new = resampled_affine(affine, source, shape)
    if source == shape:
        np.testing.assert_allclose(new, affine)

    def world(a, ijk):
        return a[:3, :3] @ np.asarray(ijk, float) + a[:3, 3]

    # the outer voxel edges (index -0.5 and n - 0.5 on every axis) land on the same points
    np.testing.assert_allclose(world(new, [-0.5] * 3), world(affine, [-0.5] * 3), atol=1e-9)
    np.testing.assert_allclose(
        world(new, np.asarray(shape) - 0.5), world(affine, np.asarray(source) - 0.5), atol=1e-9
    )
