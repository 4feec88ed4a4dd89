"""fit-dataset / expand / report: folder and datalist inputs, skip and resume, traversal refusal,
expand determinism, exactly-once outputs on rerun, datalist content.

Pyramids here are tiny (25x27 images, 2 scales, width 8, a few iterations): the tests check the
bookkeeping, not the quality. XLA compilations are cached on disk (JAX's persistent cache) so
that the same tiny graphs are not compiled again in every run and subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from singan_augment.engine.config import PyramidConfig, TrainConfig
from singan_augment.files.lock import LOCK_NAME
from singan_augment.testing import (
    TINY_MODEL,
    TINY_MODEL_FLAGS,
    TINY_VOLUME_MODEL_FLAGS,
    tiny_image,
    tiny_image_with_mask,
)
from singan_augment.testing.subprocesses import subprocess_env

KW = dict(
    model_config=TINY_MODEL,
    train_config=TrainConfig(iters=4),
    pyramid_config=PyramidConfig(max_size=27),
    progress=False,
)
CLI_FLAGS = [
    "--iters",
    "4",
    "--max-size",
    "27",
    *TINY_MODEL_FLAGS,
]
CLI_FLAGS += ["--quiet"]


def _tree_digest(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("images")
    np.save(d / "case a.npy", tiny_image(1, 25, 27, seed=0))  # name with a space -> "case_a"
    np.save(d / "case_b.npy", tiny_image(1, 25, 27, seed=1))
    np.save(d / "notes.txt.npy", tiny_image(1, 25, 27, seed=2)[:, :, :26])  # another shape
    (d / "readme.txt").write_text("not an image")
    return d


@pytest.fixture(scope="module")
def fitted(folder, tmp_path_factory) -> tuple[Path, object]:
    from singan_augment.expansion.fit_dataset import fit_dataset

    out = tmp_path_factory.mktemp("pyrs")
    report = fit_dataset(folder, out, seed=3, **KW)
    return out, report


def test_folder_input_trains_one_pyramid_per_image(fitted):
    from singan_augment.expansion.sources import derive_seed
    from singan_augment.files.pyramid_files import load_pyramid

    out, report = fitted
    assert report.ok, report.table("fit")
    assert [r.name for r in report.rows] == ["case_a", "case_b", "notes.txt"]
    assert [r.status for r in report.rows] == ["done"] * 3
    for name in ("case_a", "case_b", "notes.txt"):
        pyr = load_pyramid(out / name)
        assert pyr.complete and pyr.num_scales == 2
        assert pyr.provenance["seed"] == derive_seed(3, name)
        assert pyr.channels.names == ("image",)
    assert load_pyramid(out / "notes.txt").shapes[-1] == (25, 26)
    assert "done 3, skipped 0, failed 0" in report.table("fit")


def test_rerun_skips_finished_pyramids_and_touches_nothing(fitted, folder, capsys):
    from singan_augment.cli import main

    out, _ = fitted
    before = _tree_digest(out)
    assert main(["fit-dataset", str(folder), "--out", str(out), "--seed", "3", *CLI_FLAGS]) == 0
    text = capsys.readouterr().out
    assert "done 0, skipped 3, failed 0" in text
    assert _tree_digest(out) == before


def test_killed_run_is_resumed_to_the_same_pyramid(fitted, folder, tmp_path):
    from singan_augment.expansion.expand import expand
    from singan_augment.expansion.fit_dataset import CRASH_ENV, fit_dataset
    from singan_augment.files.pyramid_files import load_pyramid, pyramid_tensors, read_metadata

    src = tmp_path / "in"
    src.mkdir()
    (src / "notes.txt.npy").write_bytes((folder / "notes.txt.npy").read_bytes())
    out = tmp_path / "pyrs"
    marker = tmp_path / "crashed"
    env = subprocess_env(**{CRASH_ENV: str(marker)})
    cmd = [sys.executable, "-m", "singan_augment.cli", "fit-dataset", str(src), "--out", str(out)]
    cmd += ["--schedule", "singan"]  # KW's schedule, for the in-process rerun below
    proc = subprocess.run(
        [*cmd, "--seed", "3", *CLI_FLAGS], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 75, proc.stderr[-2000:]  # the process died after scale 0
    assert marker.exists()
    meta = read_metadata(out / "notes.txt")
    assert meta["num_trained"] == 1 and meta["complete"] is False
    # a partial pyramid is never taken as finished
    rep = expand(out, tmp_path / "syn", 2, fmt="npy", progress=False)
    assert [r.status for r in rep.rows] == ["failed"] and "not complete" in rep.rows[0].detail

    report = fit_dataset(src, out, seed=3, **KW)
    assert [r.status for r in report.rows] == ["done"]
    resumed = load_pyramid(out / "notes.txt")
    assert resumed.complete
    assert set(read_metadata(out / "notes.txt")["extra"]["train_log"]) == {"1"}  # only scale 1 ran
    ref = pyramid_tensors(load_pyramid(fitted[0] / "notes.txt"))
    got = pyramid_tensors(resumed)
    assert ref.keys() == got.keys()
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_a_first_save_stopped_before_its_weights_starts_afresh(fitted, folder, tmp_path):
    """A stop (SIGTERM in a group's checkpoint) can leave a pyramid folder with only its
    pending ``pyramid.json.tmp``: nothing to resume, so the rerun trains it from scratch, to
    the pyramid an uninterrupted run gives, instead of failing the group on missing weights."""
    from singan_augment.expansion.fit_dataset import fit_dataset
    from singan_augment.files.pyramid_files import JSON_NAME, load_pyramid, pyramid_tensors

    src = tmp_path / "in"
    src.mkdir()
    (src / "notes.txt.npy").write_bytes((folder / "notes.txt.npy").read_bytes())
    stopped = tmp_path / "pyrs" / "notes.txt"
    stopped.mkdir(parents=True)
    (stopped / (JSON_NAME + ".tmp")).write_bytes((fitted[0] / "notes.txt" / JSON_NAME).read_bytes())
    report = fit_dataset(src, tmp_path / "pyrs", seed=3, **KW)
    assert [r.status for r in report.rows] == ["done"], report.table("fit")
    ref = pyramid_tensors(load_pyramid(fitted[0] / "notes.txt"))
    got = pyramid_tensors(load_pyramid(stopped))
    assert ref.keys() == got.keys()
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_pyramid_of_another_image_is_refused_not_overwritten(fitted, folder, tmp_path):
    from singan_augment.expansion.fit_dataset import fit_dataset
    from singan_augment.files.pyramid_files import metadata_sha256

    out = tmp_path / "pyrs"
    (out / "case_a").mkdir(parents=True)
    for f in (fitted[0] / "notes.txt").iterdir():  # a pyramid of another image under this name
        (out / "case_a" / f.name).write_bytes(f.read_bytes())
    src = tmp_path / "in"
    src.mkdir()
    (src / "case a.npy").write_bytes((folder / "case a.npy").read_bytes())
    # a complete pyramid on disk is skipped without retraining
    assert [r.status for r in fit_dataset(src, out, seed=3, **KW).rows] == ["skipped"]
    meta = json.loads((out / "case_a" / "pyramid.json").read_text())
    meta["complete"] = False  # now it looks unfinished, so it would be resumed: refused
    meta["metadata_sha256"] = metadata_sha256(meta)  # a consistent edit, not corruption
    (out / "case_a" / "pyramid.json").write_text(json.dumps(meta))
    before = _tree_digest(out)
    rows = fit_dataset(src, out, seed=3, **KW).rows
    assert [r.status for r in rows] == ["failed"] and "another image" in rows[0].detail
    assert _tree_digest(out) == before


def _write_datalist(root: Path, entries: list[dict]) -> Path:
    p = root / "dataset.json"
    p.write_text(json.dumps({"name": "tiny", "training": entries}))
    return p


def test_datalist_traversal_and_bad_entries_are_refused(tmp_path, capsys):
    from singan_augment.cli import main
    from singan_augment.errors import InputError
    from singan_augment.expansion.sources import discover

    base = tmp_path / "ds"
    (base / "img").mkdir(parents=True)
    np.save(base / "img" / "a.npy", tiny_image(1, 25, 27))
    np.save(tmp_path / "outside.npy", tiny_image(1, 25, 27))
    for bad in ("../outside.npy", "../../etc/x", "img/../../outside.npy", "/etc/passwd"):
        dl = _write_datalist(base, [{"image": "img/a.npy"}, {"image": bad}])
        with pytest.raises(InputError, match="escapes|absolute"):
            discover(dl)
    dl = _write_datalist(base, [{"image": "img/a.npy", "label": "../../etc/x"}])
    with pytest.raises(InputError, match="escapes"):
        discover(dl)
    out = tmp_path / "out"
    assert main(["fit-dataset", str(dl), "--out", str(out), *CLI_FLAGS]) == 2
    assert "path traversal" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    dl = _write_datalist(base, [{"image": "img/missing.npy"}])
    with pytest.raises(InputError, match="no such file"):
        discover(dl)
    with pytest.raises(InputError, match="no such folder"):
        discover(tmp_path / "nothing")
    # entry names are safe directory names, unique, inside the output folder
    (base / "img" / "sub").mkdir()
    np.save(base / "img" / "sub" / "a.npy", tiny_image(1, 25, 27))
    dl = _write_datalist(base, [{"image": "img/a.npy"}, {"image": "img/sub/a.npy"}])
    names = [e.name for e in discover(dl)]
    assert names == ["img__a", "img__sub__a"]


@pytest.fixture(scope="module")
def datalist_pyramids(tmp_path_factory) -> tuple[Path, Path]:
    """Two cases with t1/t2 contrasts as separate files and a 2-class label map."""
    from singan_augment.expansion.fit_dataset import fit_dataset

    base = tmp_path_factory.mktemp("decathlon")
    (base / "imagesTr").mkdir()
    (base / "labelsTr").mkdir()
    entries = []
    for i in range(2):
        im = tiny_image_with_mask(25, 27, seed=i)
        lab = im[1].astype(np.uint8)
        lab[:4, :5] = 2  # a second class
        # t1 as NIfTI with 0.7 x 0.8 mm pixels (the pyramid records them), t2 as .npy
        nib.save(
            nib.Nifti1Image(im[0].astype(np.float32), np.diag([0.7, 0.8, 1.0, 1.0])),
            base / "imagesTr" / f"case{i}_t1.nii.gz",
        )
        np.save(base / "imagesTr" / f"case{i}_t2.npy", 1.0 - im[0] ** 2)
        np.save(base / "labelsTr" / f"case{i}.npy", lab)
        entries.append(
            {
                "t1": f"imagesTr/case{i}_t1.nii.gz",
                "t2": f"imagesTr/case{i}_t2.npy",
                "label": f"labelsTr/case{i}.npy",
            }
        )
    dl = _write_datalist(base, entries)
    out = tmp_path_factory.mktemp("dlpyrs")
    report = fit_dataset(dl, out, image_keys=["t1", "t2"], seed=0, **KW)
    assert report.ok, report.table("fit")
    return dl, out


def test_datalist_input_stacks_contrasts_and_one_hot_labels(datalist_pyramids):
    from singan_augment.files.pyramid_files import load_pyramid

    dl, out = datalist_pyramids
    assert sorted(p.name for p in out.iterdir()) == ["imagesTr__case0_t1", "imagesTr__case1_t1"]
    pyr = load_pyramid(out / "imagesTr__case0_t1")
    assert pyr.channels.names == ("t1", "t2", "label_1", "label_2")
    assert pyr.channels.kinds == ("image", "image", "label", "label")
    real = np.moveaxis(np.asarray(pyr.reals[-1]), -1, 0)
    lab = np.load(dl.parent / "labelsTr" / "case0.npy")
    np.testing.assert_array_equal(real[2] > 0, lab == 1)
    np.testing.assert_array_equal(real[3] > 0, lab == 2)
    np.testing.assert_allclose(pyr.spacing, (0.7, 0.8), rtol=1e-6)  # from the NIfTI header


@pytest.fixture(scope="module")
def expanded(fitted, tmp_path_factory):
    from singan_augment.expansion.expand import expand

    out = tmp_path_factory.mktemp("syn")
    report = expand(fitted[0], out, 3, fmt="npy", seed=5, start_scale=0, progress=False)
    return out, report


def test_expand_writes_pairs_and_a_monai_datalist(expanded, fitted):
    from monai.data import load_decathlon_datalist

    out, report = expanded
    assert report.ok and [r.status for r in report.rows] == ["done"] * 3
    data = json.loads((out / "datalist.json").read_text())
    assert data["num_real"] == 3 and data["num_synthetic"] == 9 and data["seed"] == 5
    tr = data["training"]
    assert [e["source_pyramid"] for e in tr] == ["case_a"] * 4 + ["case_b"] * 4 + ["notes.txt"] * 4
    assert [e["synthetic"] for e in tr[:4]] == [False, True, True, True]
    for e in tr:
        img = np.load(out / e["image"])
        assert img.shape == ((1, 25, 26) if e["source_pyramid"] == "notes.txt" else (1, 25, 27))
        assert "label" not in e  # these pyramids have no label channels
    loaded = load_decathlon_datalist(str(out / "datalist.json"), data_list_key="training")
    assert len(loaded) == 12 and all(Path(e["image"]).is_file() for e in loaded)


def test_expand_is_deterministic_and_order_independent(expanded, fitted, tmp_path):
    from singan_augment.expansion.expand import expand

    out, _ = expanded
    other = tmp_path / "again"
    expand(fitted[0], other, 3, fmt="npy", seed=5, start_scale=0, progress=False)
    assert {k: v[1] for k, v in _tree_digest(other).items()} == {
        k: v[1] for k, v in _tree_digest(out).items()
    }
    # one pyramid alone gives the same files as within the whole set; more samples keep the first ones
    single = tmp_path / "single"
    expand(fitted[0] / "case_b", single, 4, fmt="npy", seed=5, progress=False)
    for i in range(3):
        a = np.load(single / "images" / f"case_b_syn{i:04d}.npy")
        np.testing.assert_array_equal(a, np.load(out / "images" / f"case_b_syn{i:04d}.npy"))
    diff = tmp_path / "seed6"
    expand(fitted[0] / "case_b", diff, 1, fmt="npy", seed=6, progress=False)
    assert not np.array_equal(
        np.load(diff / "images" / "case_b_syn0000.npy"),
        np.load(out / "images" / "case_b_syn0000.npy"),
    )


def test_expand_rerun_writes_each_output_exactly_once(fitted, tmp_path, capsys):
    from singan_augment.cli import main

    out = tmp_path / "syn"
    args = ["expand", str(fitted[0]), "--n", "3", "--out", str(out), "--format", "png"]
    assert main([*args, "--seed", "1", "--quiet"]) == 0
    first = _tree_digest(out)
    victim = out / "images" / "case_a_syn0001.png"
    victim.unlink()  # as if the run had been killed before writing it
    for f in out.rglob("*.partial"):
        f.unlink()
    assert main([*args, "--seed", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "1 written, 11 existed" in text.replace("  ", " ") or "1 written" in text
    again = _tree_digest(out)
    assert again.keys() == first.keys()
    for k in first:
        if k in ("images/case_a_syn0001.png", "datalist.json"):
            assert again[k][1] == first[k][1]  # rewritten, same content
        else:
            assert again[k] == first[k], k  # untouched: same mtime and bytes
    assert main([*args, "--seed", "1", "--quiet"]) == 0
    assert "done 0, skipped 3, failed 0" in capsys.readouterr().out


# Runs the real CLI and SIGKILLs it (a real kill: no cleanup handler runs) at the K-th rename of
# an atomic write, i.e. right after the temp file was written and fsynced and before it gets its
# final name - the worst moment for exactly-once. Only ``singan_augment.files.atomic`` sees the hook.
_KILL_AT_RENAME = r"""
import os, signal, sys, types
import singan_augment.files.atomic as sio
k, calls = int(os.environ["SINGAN_TEST_KILL_AT"]), [0]
def replace(src, dst):
    calls[0] += 1
    if calls[0] == k:
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace(src, dst)
sio.os = types.SimpleNamespace(**{**vars(os), "replace": replace})
from singan_augment.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (hidden ones too) -> (inode, mtime_ns)."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_expand_killed_then_rerun_writes_each_output_exactly_once(expanded, fitted, tmp_path):
    from singan_augment.cli import main

    ref, _ = expanded  # the same expand (n=3, npy, seed 5, scale 0), never interrupted
    out = tmp_path / "syn"
    args = ["expand", str(fitted[0]), "--n", "3", "--out", str(out), "--format", "npy"]
    args += ["--seed", "5", "--start-scale", "0", "--quiet"]
    # pyramids run in name order, 4 outputs each (real + 3): the 6th write is case_b_syn0000
    env = subprocess_env(SINGAN_TEST_KILL_AT="6")
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AT_RENAME, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]  # killed, not exited
    killed = _files(out)
    assert killed.pop(LOCK_NAME)  # the killed writer's lock file stays (and is taken over)
    done = [f"images/case_a_{s}.npy" for s in ("real", "syn0000", "syn0001", "syn0002")]
    done.append("images/case_b_real.npy")
    partial = [k for k in killed if Path(k).name.endswith(".partial")]
    assert sorted(k for k in killed if k not in partial) == sorted(done)
    # the interrupted write is a hidden temp file, never a file under an output's name
    assert len(partial) == 1 and Path(partial[0]).name.startswith(".case_b_syn0000.npy.")
    assert not (out / "datalist.json").exists()  # written last, atomically

    assert main(args) == 0
    after = _files(out)
    # exactly the outputs of the uninterrupted run: none missing, none extra, no temp files
    assert sorted(after) == sorted(_files(ref))
    for k in after:
        assert (out / k).read_bytes() == (ref / k).read_bytes(), k
    for k in done:  # complete before the kill: skipped, not rewritten
        assert after[k] == killed[k], k
    images = [e["image"] for e in json.loads((out / "datalist.json").read_text())["training"]]
    assert len(images) == len(set(images)) == 12
    assert set(images) == {k for k in after if k.startswith("images/")}


def test_expand_interrupted_between_label_and_image_completes_the_pair(
    datalist_pyramids, tmp_path, monkeypatch
):
    """A pair is complete only once its image exists (the label is written first): a label left
    alone by an interruption is written again with its image on the rerun."""
    import types

    import singan_augment.files.atomic as sio
    from singan_augment.expansion.expand import expand

    class Interrupted(BaseException):
        pass

    _, pyrs = datalist_pyramids
    out = tmp_path / "syn"
    kw = dict(fmt="nii.gz", inject_scale=1, seed=0, progress=False)
    calls = [0]

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == 4:  # real label, real image, syn0000 label, [syn0000 image]
            raise Interrupted
        os.replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(sio, "os", types.SimpleNamespace(**{**vars(os), "replace": replace}))
        with pytest.raises(Interrupted):
            expand(pyrs, out, 1, **kw)
    first = _files(out)
    name = "imagesTr__case0_t1"
    orphan = f"labels/{name}_syn0000.nii.gz"
    assert sorted(first) == sorted(
        [f"images/{name}_real.nii.gz", f"labels/{name}_real.nii.gz", orphan]
    )
    orphan_bytes = (out / orphan).read_bytes()
    rep = expand(pyrs, out, 1, **kw)
    assert rep.ok and [r.detail for r in rep.rows] == [
        "1 written, 1 existed",
        "2 written, 0 existed",
    ]
    after = _files(out)
    assert len(after) == 9 and not [k for k in after if ".partial" in k]
    for k in (f"images/{name}_real.nii.gz", f"labels/{name}_real.nii.gz"):
        assert after[k] == first[k], k
    assert (out / orphan).read_bytes() == orphan_bytes  # rewritten with the same content
    training = json.loads((out / "datalist.json").read_text())["training"]
    pairs = [(e["image"], e["label"]) for e in training]
    assert len(pairs) == len(set(pairs)) == 4


def test_expand_label_pyramids_nifti_and_inject(datalist_pyramids, tmp_path):
    from singan_augment.expansion.expand import expand, read_output

    dl, pyrs = datalist_pyramids
    out = tmp_path / "syn"
    rep = expand(pyrs, out, 2, fmt="nii.gz", inject_scale=1, seed=0, progress=False)
    assert rep.ok, rep.table("expand")
    data = json.loads((out / "datalist.json").read_text())
    assert data["inject_scale"] == 1 and data["num_synthetic"] == 4
    for e in data["training"]:
        img, lab = read_output(out / e["image"]), read_output(out / e["label"])
        assert img.shape == (2, 25, 27) and lab.shape == (25, 27)
        assert set(np.unique(lab).tolist()) <= {0, 1, 2}
    for real in (e for e in data["training"] if not e["synthetic"]):
        case = real["source_pyramid"].replace("imagesTr__", "").replace("_t1", "")
        np.testing.assert_array_equal(
            read_output(out / real["label"]), np.load(dl.parent / "labelsTr" / f"{case}.npy")
        )


def test_fit_dataset_of_nifti_volumes_and_expand_in_each_source_space(tmp_path, capsys):
    """--volumes trains one volume pyramid per datalist entry; expand writes (X, Y, Z) NIfTI
    volumes and label volumes with the affine of that entry's source, the real pair equal to
    its files; report reads them back; png is refused for volumes."""
    from singan_augment.cli import main
    from singan_augment.expansion import read_output
    from singan_augment.testing import tiny_volume

    root = tmp_path / "ds"
    root.mkdir()
    affines = {
        "a": np.diag([2.0, 1.0, 1.0, 1.0]),
        "b": np.array([[0, 0, -1.0, 40], [2.0, 0, 0, -12], [0, 1.0, 0, 7], [0, 0, 0, 1]]),
    }
    entries = []
    for i, (case, affine) in enumerate(affines.items()):
        vol = tiny_volume(channels=2, mask=True, seed=i)
        nib.save(nib.Nifti1Image(vol[0], affine), str(root / f"{case}_t1.nii.gz"))
        nib.save(nib.Nifti1Image(vol[1].astype(np.uint8), affine), str(root / f"{case}_seg.nii.gz"))
        entries.append({"image": f"{case}_t1.nii.gz", "label": f"{case}_seg.nii.gz"})
    dl = _write_datalist(root, entries)
    flags = [
        "--iters",
        "2",
        "--min-size",
        "12",
        "--max-size",
        "16",
        *TINY_VOLUME_MODEL_FLAGS,
        "--concurrent-stages",
        "1",
        "--quiet",
    ]  # fmt: skip (3-D concurrency: tests/cli)
    assert main(["fit-dataset", str(dl), "--out", str(tmp_path / "p"), "--volumes", *flags]) == 0
    assert main(["expand", str(tmp_path / "p"), "--n", "1", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 0  # fmt: skip
    data = json.loads((tmp_path / "x" / "datalist.json").read_text())
    assert data["num_real"] == 2 and data["num_synthetic"] == 2
    for e in data["training"]:
        case = e["source_pyramid"].split("_")[0]
        img, lab = (
            nib.load(str(tmp_path / "x" / e["image"])),
            nib.load(str(tmp_path / "x" / e["label"])),
        )
        assert img.shape == lab.shape == (14, 16, 15)
        np.testing.assert_allclose(img.affine, affines[case], atol=1e-6)
        np.testing.assert_allclose(lab.affine, affines[case], atol=1e-6)
        labels = read_output(tmp_path / "x" / e["label"])
        assert labels.shape == (14, 16, 15) and set(np.unique(labels)) <= {0, 1}
        assert read_output(tmp_path / "x" / e["image"]).shape == (1, 14, 16, 15)
        if not e["synthetic"]:
            np.testing.assert_array_equal(
                labels, np.asarray(nib.load(str(root / f"{case}_seg.nii.gz")).dataobj)
            )
    assert main(["report", str(tmp_path / "x"), "--out", str(tmp_path / "r.html")]) == 0
    assert "swd_real_vs_synthetic" in (tmp_path / "r.html").read_text()  # volume metrics
    capsys.readouterr()
    assert main(["expand", str(tmp_path / "p"), "--n", "1", "--out", str(tmp_path / "y"),
                 "--format", "png", "--quiet"]) == 1  # fmt: skip
    assert "png output cannot hold a volume" in capsys.readouterr().out


def test_report_html_and_png(expanded, datalist_pyramids, tmp_path):
    from singan_augment.cli import main

    out, _ = expanded
    assert main(["report", str(out), "--out", str(tmp_path / "r.html"), "--n", "3"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in html and "swd_real_vs_synthetic" in html
    assert main(["report", str(datalist_pyramids[1]), "--out", str(tmp_path / "r.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "r.png") as im:
        assert im.width > 200 and im.height > 200
    assert main(["report", str(out), "--out", str(tmp_path / "r.pdf")]) == 2


def test_warm_start_initialises_every_pyramid_from_the_sibling_and_is_recorded(
    fitted, folder, tmp_path, capsys, tiny_pyramid_dir
):
    import jax

    from singan_augment.cli import main
    from singan_augment.files.pyramid_files import load_pyramid

    cold_out, _ = fitted
    sibling = cold_out / "case_a"
    out = tmp_path / "warm"
    args = ["fit-dataset", str(folder), "--out", str(out), "--seed", "3", *CLI_FLAGS]
    assert main([*args, "--warm-start", str(sibling)]) == 0
    assert "done 3, skipped 0, failed 0" in capsys.readouterr().out
    sib = load_pyramid(sibling)

    def gap(p):  # distance of scale 0's generator from the sibling's
        a = jax.tree.leaves(p.stages[0].params)
        b = jax.tree.leaves(sib.stages[0].params)
        return sum(float(np.abs(np.asarray(x) - np.asarray(y)).sum()) for x, y in zip(a, b))

    warm_b, cold_b = load_pyramid(out / "case_b"), load_pyramid(cold_out / "case_b")
    assert warm_b.provenance["warm_start"]["sha256"] == sib.provenance["sha256"]
    assert gap(warm_b) < 0.5 * gap(cold_b)
    # with --warm-start the default schedule is finetune (fast's step, floor 20 not 100)
    assert warm_b.train_config.iters_min == 20 and warm_b.train_config.concurrent_stages == 3
    # finetune from scratch is refused before anything is written
    lone = tmp_path / "lone"
    assert main([*args[:3], str(lone), *args[4:], "--schedule", "finetune"]) == 2
    assert "'finetune' fine-tunes a warm start" in capsys.readouterr().err and not lone.exists()
    # a sibling that does not fit (3 channels, another model) fails each image, naming why
    bad = tmp_path / "bad"
    assert main([*args[:3], str(bad), *args[4:], "--warm-start", str(tiny_pyramid_dir)]) == 1
    text = capsys.readouterr().out
    assert "failed 3" in text and "warm start" in text
    assert main([*args[:3], str(tmp_path / "x"), *args[4:], "--warm-start", str(tmp_path)]) == 2
