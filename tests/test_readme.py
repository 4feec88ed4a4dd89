"""Every example in the README runs: the Python API and transform blocks, and each
``singan-augment`` command line, so the documentation cannot drift from the code.

Examples that would train for hours with the published defaults run on tiny inputs: the test
swaps in small configs by exact text substitution, and each substitution must match, so an
edited README fails here instead of silently running something else.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from singan_augment.testing import (
    TINY_MODEL,
    TINY_PYRAMID,
    TINY_TRAIN,
    tiny_image,
    tiny_image_with_mask,
)

README = Path(__file__).resolve().parents[1] / "README.md"
TINY_FLAGS = ["--iters", "4", "--max-size", "36", "--min-size", "25", "--nfc", "8", "--nfc-max", "8"]
TINY_FLAGS += ["--conv-impl", "xla"]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def substitute(code: str, old: str, new: str) -> str:
    assert code.count(old) == 1, f"README example changed: expected exactly one {old!r}"
    return code.replace(old, new)


def python_block(marker: str) -> str:
    found = [b for b in blocks("python") if marker in b]
    assert len(found) == 1, f"expected one README python block containing {marker!r}"
    return found[0]


def test_python_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = python_block("from singan_augment import fit")
    code = substitute(
        code,
        'fit(image, seed=0, channel_names=["t1", "t2", "flair"])',
        'fit(image, seed=0, channel_names=["t1", "t2", "flair"], model_config=TINY_MODEL, '
        "train_config=TINY_TRAIN, pyramid_config=TINY_PYRAMID, progress=False)",
    )
    ns = {"TINY_MODEL": TINY_MODEL, "TINY_TRAIN": TINY_TRAIN, "TINY_PYRAMID": TINY_PYRAMID}
    exec(compile(code, "README.md", "exec"), ns)
    image, pyr = ns["image"], ns["pyr"]
    assert (tmp_path / "runs/brain/pyramid.json").is_file()
    assert ns["s"].images.shape == (16, 3, *pyr.shapes[-1])
    assert ns["variations"].shape == (4, *image.shape)
    out = ns["out"]
    assert out.shape == image.shape and np.isfinite(out).all()
    outside = ~ns["paste_mask"]  # the blend leaves pixels far from the paste untouched
    far = np.zeros_like(outside)
    far[:40, :] = True
    np.testing.assert_allclose(out[:, far & outside], image[:, far & outside], atol=1e-5)


def test_transforms_example_runs():
    code = python_block("RandSinGANSampled")
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    batch = ns["batch"]
    h, w = ns["image"].shape[1:]
    for key in ("t1", "t2", "flair", "label"):
        assert tuple(batch[key].shape) == (4, 1, h, w), key
    assert set(np.unique(batch["label"].numpy())) <= {0.0, 1.0}  # nearest: labels stay discrete


def cli_lines() -> list[list[str]]:
    lines = [
        line.split("#")[0].strip()
        for block in blocks("bash")
        for line in block.splitlines()
        if line.startswith("singan-augment ") and " demo" not in line
    ]
    assert len(lines) >= 8, "the README's CLI examples are gone"
    return [shlex.split(line) for line in lines]


@pytest.mark.slow
def test_cli_examples_run_in_order(tmp_path, monkeypatch, capsys):
    """The CLI block top to bottom, each train on tiny inputs (tiny flags appended)."""
    import nibabel as nib

    from singan_augment.cli import main

    monkeypatch.chdir(tmp_path)
    img = tiny_image()
    for name, channel in zip(("t1", "t2", "flair"), img):
        nib.save(nib.Nifti1Image(channel[:, :, None], np.eye(4)), f"{name}.nii.gz")
    he = np.concatenate([tiny_image(3, seed=2) / 100.0, tiny_image_with_mask()[1:]])
    np.save("he_and_mask.npy", he)
    mask = np.zeros(img.shape[1:], np.float32)
    mask[10:20, 12:22] = 1
    np.save("paste.npy", np.where(mask > 0, 90.0, img).astype(np.float32))
    np.save("mask.npy", mask)
    Path("images").mkdir()
    for i in range(2):
        np.save(f"images/case{i}.npy", tiny_image(1, seed=10 + i))

    for argv in cli_lines():
        args = argv[1:]
        if args[0] in ("train", "fit-dataset"):
            args += TINY_FLAGS
        if args[0] in ("train", "sample", "fit-dataset", "expand"):
            args.append("--quiet")
        assert main(args) == 0, (argv, capsys.readouterr().err)
    assert np.load("h.npy").shape == img.shape
    assert len(list(Path("samples").glob("*.npy"))) >= 16
    assert (tmp_path / "synthetic/datalist.json").is_file()
    assert (tmp_path / "report.html").stat().st_size > 1000
