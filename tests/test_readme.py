"""Every example in the README runs: the Python API and transform blocks, and each
``singan-augment`` command line, so the documentation cannot drift from the code.

Examples that would train for hours with the published defaults run on tiny inputs: the test
swaps in small configs by exact text substitution, and each substitution must match, so an
edited README fails here instead of silently running something else. Each example runs in a
fresh interpreter, as a reader would run it, with the test's checks appended to it.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from singan_augment.testing import (
    TINY_MODEL_FLAGS,
    TINY_VOLUME_MODEL_FLAGS,
    tiny_image,
    tiny_image_with_mask,
    tiny_volume,
)
from singan_augment.testing.subprocesses import subprocess_env

README = Path(__file__).resolve().parents[1] / "README.md"
TINY_FLAGS = [
    "--iters",
    "4",
    "--max-size",
    "36",
    "--min-size",
    "25",
    *TINY_MODEL_FLAGS,
    # one stage at a time: the `fast` lines' concurrent training is tested elsewhere
    # (tests/engine, tests/cli), and its larger steps would compile here once more
    "--concurrent-stages",
    "1",
]
# Only runs/brain needs three scales (`sample --start-scale 1`, `harmonize --scale 2`); the
# other 2-D trainings take two, one compiled training step fewer each.
TWO_SCALES = ["--max-size", "32"]
# The volume lines (the 3-D training and the 2-D training on one slice) take two scales:
# (12, 13, 13) and (14, 15, 15) of the (14, 16, 15) volume; (12, 12) and (15, 15) of a slice.
VOLUME_FLAGS = ["--iters", "2", "--min-size", "12", "--max-size", "15", *TINY_VOLUME_MODEL_FLAGS,
                "--concurrent-stages", "1"]  # fmt: skip


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def substitute(code: str, old: str, new: str) -> str:
    assert code.count(old) == 1, f"README example changed: expected exactly one {old!r}"
    return code.replace(old, new)


def python_block(marker: str) -> str:
    found = [b for b in blocks("python") if marker in b]
    assert len(found) == 1, f"expected one README python block containing {marker!r}"
    return found[0]


def run_fresh(code: str, cwd: Path) -> None:
    """Run ``code`` as a script in a new interpreter; fail with its output if it fails."""
    script = cwd / "example.py"
    script.write_text(code)
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env=subprocess_env(),
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]


def test_python_api_example_runs(tmp_path):
    code = python_block("fit(image, seed=0")
    code = substitute(
        code,
        'fit(image, seed=0, channel_names=["t1", "t2", "flair"])',
        'fit(image, seed=0, channel_names=["t1", "t2", "flair"], model_config=TINY_MODEL, '
        "train_config=TINY_TRAIN, pyramid_config=TINY_PYRAMID, progress=False)",
    )
    checks = """
from pathlib import Path
assert Path("runs/brain/pyramid.json").is_file()
assert s.images.shape == (16, 3, *pyr.shapes[-1])
assert variations.shape == (4, *image.shape)
assert out.shape == image.shape and np.isfinite(out).all()
assert kept.shape == image.shape and set(np.unique(label)) <= {0, 1, 2, 3} and paste_mask.any()
far = np.zeros(image.shape[1:], bool)
far[:40, :] = True  # the blend leaves pixels far from the paste untouched
np.testing.assert_allclose(out[:, far & ~paste_mask], image[:, far & ~paste_mask], atol=1e-5)
"""
    tiny = "from singan_augment.testing import TINY_MODEL, TINY_PYRAMID, TINY_TRAIN\n"
    run_fresh(tiny + code + checks, tmp_path)


def test_volume_example_runs(tmp_path):
    code = python_block("brain_volume()")
    code = substitute(
        code,
        'model_config=ModelConfig(nfc_init=8, nfc_max=8),\n    schedule="fast",\n)',
        "model_config=TINY_VOLUME_MODEL, train_config=TINY_TRAIN, "
        "pyramid_config=TWO_SCALE_VOLUME, progress=False)",
    )
    checks = """
assert pyr3d.spatial_dims == 3 and vols.shape == (4, *volume.shape) and pyr3d.num_scales == 2
assert np.isfinite([coherence.axial, coherence.coronal, coherence.sagittal]).all()
assert spread > 0
"""
    tiny = (
        "import numpy as np\n"
        "from singan_augment import PyramidConfig\n"
        "from singan_augment.testing import TINY_TRAIN, TINY_VOLUME_MODEL\n"
        # two scales of the shipped volume, (12, 14, 12) and (13, 15, 13): enough for the
        # example's start_scale=1, one compiled 3-D training step fewer than three
        "TWO_SCALE_VOLUME = PyramidConfig(min_size=12, max_size=15)\n"
    )
    run_fresh(tiny + code + checks, tmp_path)


def test_transforms_example_runs(tmp_path):
    code = python_block("RandSinGANSampled")
    checks = """
h, w = image.shape[1:]
for key in ("t1", "t2", "flair", "label"):
    assert tuple(batch[key].shape) == (4, 1, h, w), key
assert set(batch["label"].unique().tolist()) <= {0.0, 1.0}  # nearest: labels stay discrete
"""
    # the DataLoader's spawn workers re-import the script: it needs a main guard
    body = "def main():\n" + "".join(f"    {line}\n" for line in (code + checks).splitlines())
    run_fresh(body + "\n\nif __name__ == '__main__':\n    main()\n", tmp_path)


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
def test_cli_examples_run_in_order(tmp_path, monkeypatch):
    """The CLI block top to bottom, each train on tiny inputs (tiny flags appended)."""
    import nibabel as nib

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

    vol = tiny_volume(channels=3)  # (3, 14, 16, 15): the volume lines train on it
    for name, channel in zip(("brain_t1", "brain_t2", "brain_flair"), vol):
        nib.save(nib.Nifti1Image(channel, np.diag([2.0, 1.0, 1.0, 1.0])), f"{name}.nii.gz")

    runs = []
    for argv in cli_lines():
        args = argv[1:]
        if args[0] == "train" and "brain_t1.nii.gz" in args:
            args += VOLUME_FLAGS
        elif args[0] in ("train", "fit-dataset"):
            args += TINY_FLAGS + ([] if "runs/brain" in args else TWO_SCALES)
        if args[0] in ("train", "sample", "fit-dataset", "expand"):
            args.append("--quiet")
        runs.append(args)
    run_fresh(
        "import json, sys\nfrom singan_augment.cli import main\n"
        f"for args in json.loads({json.dumps(json.dumps(runs))}):\n"
        "    assert main(args) == 0, args\n",
        tmp_path,
    )
    assert np.load("h.npy").shape == img.shape
    assert len(list(Path("samples").glob("*.npy"))) >= 16
    assert (tmp_path / "synthetic/datalist.json").is_file()
    assert (tmp_path / "report.html").stat().st_size > 1000
    from singan_augment.files.pyramid_files import read_metadata

    assert read_metadata("runs/brain3d")["spatial_dims"] == 3
    assert read_metadata("runs/brain3d")["shapes"] == [[12, 13, 13], [14, 15, 15]]
    assert read_metadata("runs/slice7")["spatial_dims"] == 2
    assert read_metadata("runs/slice7")["shapes"] == [[12, 12], [15, 15]]
