"""Crash safety of ``singan-augment train``: SIGKILL at random points, then ``--resume``.

A real subprocess is killed several times at random moments (during imports, compilation,
training or a checkpoint write). After every kill the output folder must hold either nothing
that looks like a pyramid, or a pyramid that loads and verifies; temporary files never carry
the final names. ``--resume`` then finishes, and the result is identical to an uninterrupted
run with the same seed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from singan_augment.cli import main
from singan_augment.files.pyramid_files import (
    JSON_NAME,
    WEIGHTS_NAME,
    load_pyramid,
    pyramid_tensors,
)
from singan_augment.testing import tiny_image

ARGS = ["--iters", "12", "--max-size", "36", "--min-size", "25", "--nfc", "8", "--seed", "3"]
FINAL_NAMES = {JSON_NAME, WEIGHTS_NAME}
KILLS = 3


def _same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _check_folder(out) -> int:
    """Assert the folder is consistent; return the number of trained scales it holds."""
    if not out.exists():
        return 0
    names = {p.name for p in out.iterdir()}
    temporary = names - FINAL_NAMES
    assert all(n.endswith((".partial", ".tmp")) for n in temporary), names
    if JSON_NAME not in names and WEIGHTS_NAME not in names:
        return 0
    pyr = load_pyramid(out, require_complete=False)  # raises if anything is inconsistent
    return pyr.num_trained


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    img = tmp_path / "img.npy"
    np.save(img, tiny_image())
    t0 = time.perf_counter()
    assert main(["train", str(img), "--out", str(tmp_path / "ref"), *ARGS, "--quiet"]) == 0
    run_s = time.perf_counter() - t0  # compile + train; a subprocess adds its imports
    reference = pyramid_tensors(load_pyramid(tmp_path / "ref"))

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "singan_augment.cli", "train", str(img), "--out", str(out)]
    cmd += [*ARGS, "--quiet", "--resume"]
    rng = np.random.default_rng(int(os.environ.get("KILL_SEED", "7")))
    kills, progress, finished_early = 0, [], 0
    for _ in range(20):
        if kills >= KILLS:
            break
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # A random moment in the run's life: imports, compilation, training or a checkpoint.
        time.sleep(float(rng.uniform(1.0, run_s + 5.0)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            progress.append(_check_folder(out))
        else:  # it finished first: check it, then start over so that the kills keep coming
            assert proc.returncode == 0, proc.stderr.read().decode()
            _same(pyramid_tensors(load_pyramid(out)), reference)
            shutil.rmtree(out)
            finished_early += 1
    assert kills == KILLS, f"only {kills} runs were interrupted"
    final = subprocess.run(cmd, capture_output=True, timeout=900)
    assert final.returncode == 0, final.stderr.decode()
    resumed = load_pyramid(out)
    assert resumed.complete
    _same(pyramid_tensors(resumed), reference)
    with capsys.disabled():
        print(
            f"\nkill/resume cycles passed: {kills} SIGKILLs, then --resume gave a pyramid "
            f"identical to the uninterrupted run (scales on disk at each kill: {progress}; "
            f"runs that finished before their kill: {finished_early})"
        )
