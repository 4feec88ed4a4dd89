import subprocess
import sys

import numpy as np
import pytest

from singan_augment.cli import main
from singan_augment.testing import TINY_MODEL_FLAGS, TINY_VOLUME_MODEL_FLAGS, tiny_image


def test_help_is_fast_and_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "singan_augment.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    for cmd in ("train", "sample", "harmonize", "info"):
        assert cmd in out.stdout


def test_train_sample_harmonize_info(tmp_path, capsys):
    img = tmp_path / "img.npy"
    np.save(img, tiny_image(channels=2))
    out = tmp_path / "pyr"
    rc = main(
        [
            "train",
            str(img),
            "--out",
            str(out),
            "--schedule",
            "fast",
            "--iters",
            "3",
            "--concurrent-stages",
            "1",
            "--max-size",
            "36",
            "--num-scales",
            "2",
            "--channels",
            "t1,t2",
            *TINY_MODEL_FLAGS,
            "--seed",
            "1",
            "--spacing",
            "0.5,0.5",
            "--quiet",
        ]
    )
    assert rc == 0
    assert "rec RMSE" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "t1 (image)" in info and "clamp to [-1, 1]: yes" in info
    assert "finest-scale pixel spacing: 0.5 x 0.5" in info
    assert "2/2 scales trained (a fixed count, --num-scales 2)" in info
    # --schedule fast with --iters 3: the fast schedule's decay, the count overridden
    assert "schedule: custom" in info and "iters 3" in info
    assert "trained concurrently" not in info  # --concurrent-stages 1 overrides fast's 3
    assert "frozen if its own diversity > 0.39: measured" in info  # fast's per-image rule
    from singan_augment.files.pyramid_files import read_metadata

    tc = read_metadata(out)["train_config"]
    assert tc["iters"] == 3 and tc["iters_decay"] == 1.05 and tc["iters_min"] == 100
    assert tc["concurrent_stages"] == 1  # the flag overrides the schedule's 3
    assert read_metadata(out)["pyramid_config"]["num_scales"] == 2
    assert len(read_metadata(out)["shapes"]) == 2  # SinGAN's count is 3 here
    rc = main(
        [
            "sample",
            str(out),
            "--n",
            "3",
            "--start-scale",
            "1",
            "--out",
            str(tmp_path / "s"),
            "--seed",
            "2",
            "--quiet",
        ]
    )
    assert rc == 0
    arrs = [np.load(tmp_path / "s" / f"sample_{i:04d}.npy") for i in range(3)]
    assert all(a.shape == (2, 32, 36) for a in arrs)
    assert (tmp_path / "s" / "sample_0000.png").stat().st_size > 100
    mask = np.zeros((1, 32, 36), np.float32)
    mask[0, 10:16, 10:18] = 1
    comp = tiny_image(channels=2)
    comp[:, mask[0] > 0] = 90
    np.save(tmp_path / "comp.npy", comp)
    np.save(tmp_path / "mask.npy", mask)
    rc = main(
        [
            "harmonize",
            str(out),
            "--composite",
            str(tmp_path / "comp.npy"),
            "--mask",
            str(tmp_path / "mask.npy"),
            "--scale",
            "1",
            "--out",
            str(tmp_path / "h.npy"),
            "--spacing",
            "1",  # twice as coarse as the pyramid: it runs on a 64 x 72 copy, written back at 32 x 36
        ]
    )
    assert rc == 0 and np.load(tmp_path / "h.npy").shape == (2, 32, 36)
    # An existing pyramid is never overwritten without --resume.
    assert main(["train", str(img), "--out", str(out), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    # --resume on a complete pyramid is a no-op.
    assert main(["train", str(img), "--out", str(out), "--resume", "--quiet"]) == 0


@pytest.mark.parametrize(
    "make,args,match",
    [
        (
            lambda p: np.save(p / "x.npy", np.full((1, 30, 30), np.nan, np.float32)),
            ["train", "{p}/x.npy", "--out", "{p}/o"],
            "non-finite",
        ),
        (
            lambda p: np.save(p / "x.npy", np.zeros((1, 10, 10), np.float32)),
            ["train", "{p}/x.npy", "--out", "{p}/o"],
            "min_size",
        ),
        (
            lambda p: (p / "x.txt").write_text("hi"),
            ["train", "{p}/x.txt", "--out", "{p}/o"],
            "unsupported file type",
        ),
        (lambda p: None, ["train", "{p}/missing.png", "--out", "{p}/o"], "no such file"),
        (lambda p: None, ["sample", "{p}/nopyr", "--out", "{p}/o"], "no such pyramid"),
        (lambda p: None, ["info", "{p}"], "missing pyramid.json"),
        (
            lambda p: np.save(p / "x.npy", np.zeros((1, 30, 30), np.float32)),
            ["train", "{p}/x.npy", "--out", "{p}/o", "--num-scales", "1"],
            "num_scales must be 0 (from scale_factor) or >= 2, got 1",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make, args, match):
    make(tmp_path)
    rc = main([a.format(p=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # a refused train leaves no empty --out behind


def test_out_of_range_scale_on_cli(tiny_pyramid_dir, tmp_path, capsys):
    assert (
        main(
            [
                "sample",
                str(tiny_pyramid_dir),
                "--start-scale",
                "5",
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "out of range" in capsys.readouterr().err


def test_train_a_volume_pyramid_from_nifti_and_a_slice_of_it(tmp_path, capsys):
    """A 3D NIfTI per contrast trains a volume pyramid (spacing and affine from the header),
    info describes it, sample writes volumes (npy, or NIfTI in the source's space with a label
    volume); a bad --slice is refused."""
    import nibabel as nib

    from singan_augment.files.pyramid_files import read_metadata
    from singan_augment.testing import tiny_volume

    vol = tiny_volume(channels=2, mask=True)  # t1 + a ball mask
    affine = np.array([[0, 0, -1.0, 40], [2.0, 0, 0, -12], [0, 1.0, 0, 7], [0, 0, 0, 1]])
    paths = []
    for c, name in enumerate(("t1", "mask")):
        p = tmp_path / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(vol[c], affine), str(p))
        paths.append(str(p))
    common = ["--iters", "2", "--min-size", "12", "--max-size", "16", *TINY_VOLUME_MODEL_FLAGS,
              "--quiet"]  # fmt: skip
    v = tmp_path / "v"
    assert main(["train", *paths, "--out", str(v), "--channels", "t1,mask", "--label-channels",
                 "mask", "--concurrent-stages", "2", *common]) == 0  # fmt: skip
    meta = read_metadata(v)
    assert meta["train_config"]["concurrent_stages"] == 2  # volumes train concurrently too
    assert meta["spatial_dims"] == 3 and meta["shapes"][-1] == [14, 16, 15]
    assert meta["spacing"] == [2.0, 1.0, 1.0]
    assert meta["provenance"]["affine"] == affine.tolist()
    capsys.readouterr()
    assert main(["info", str(v)]) == 0
    info = capsys.readouterr().out
    assert "spatial dims: 3 (volume)" in info and "2 x 1 x 1 (slice x row x col" in info
    assert "2 stages trained concurrently (lr x0.1 per stage back)" in info
    assert main(["sample", str(v), "--n", "1", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    assert np.load(tmp_path / "s" / "sample_0000.npy").shape == (2, 14, 16, 15)
    assert (tmp_path / "s" / "sample_0000.png").stat().st_size > 100
    assert main(["sample", str(v), "--n", "1", "--out", str(tmp_path / "n"), "--format", "nii.gz",
                 "--quiet"]) == 0  # fmt: skip
    written = nib.load(str(tmp_path / "n" / "sample_0000.nii.gz"))
    assert written.shape == (14, 16, 15, 2)  # (X, Y, Z, C): t1 and the decoded mask
    np.testing.assert_allclose(written.affine, affine, atol=1e-6)  # the source's space
    label = nib.load(str(tmp_path / "n" / "sample_0000_label.nii.gz"))
    assert label.shape == (14, 16, 15) and set(np.unique(label.get_fdata())) <= {0, 1}
    # --slice: what it reads is tested in tests/files/test_images.py, a training on a slice
    # runs in the README's CLI example (tests/test_readme.py); here only its argument errors
    with pytest.raises(SystemExit):
        main(["train", *paths, "--out", str(tmp_path / "q"), "--slice", "3:0"])
    capsys.readouterr()
    assert main(["train", *paths, "--out", str(tmp_path / "q"), "--slice", "0:99", *common]) == 2
    assert "outside the volume" in capsys.readouterr().err


def test_coarsest_reaches_the_train_config_and_a_refused_one_leaves_nothing(
    tmp_path, capsys, monkeypatch
):
    from singan_augment.engine.schedules import schedule, with_coarsest

    img = tmp_path / "x.npy"
    np.save(img, tiny_image())
    out = tmp_path / "o"
    # the published schedule trains one scale at a time: nothing to choose
    assert main(["train", str(img), "--out", str(out), "--coarsest", "freeze"]) == 2
    assert "concurrent_stages=1" in capsys.readouterr().err and not out.exists()

    class Stop(Exception):
        pass

    seen = {}

    def fake(*args, **kwargs):  # record the configs the command built, train nothing
        seen["config"] = kwargs["train_config"]
        raise Stop

    import importlib

    monkeypatch.setattr("singan_augment.engine.fit.fit", fake)
    # the package re-exports a function of the module's name, so patch the module itself
    dataset_module = importlib.import_module("singan_augment.expansion.fit_dataset")
    monkeypatch.setattr(dataset_module, "fit_dataset", fake)
    for cmd in (
        ["train", str(img), "--schedule", "fast"],
        ["fit-dataset", str(tmp_path)],  # fast is fit-dataset's default
    ):
        for choice in ("freeze", "train"):
            with pytest.raises(Stop):
                main([*cmd, "--out", str(out), "--coarsest", choice, "--quiet"])
            assert seen.pop("config") == with_coarsest(schedule("fast"), choice)
    assert not out.exists()
