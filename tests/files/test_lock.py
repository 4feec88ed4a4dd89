"""One writer per output folder (``files.lock.FolderLock``): a second writer fails at once with
a message naming the holder, a killed holder never leaves the folder stuck, and a clean release
leaves no file behind."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from singan_augment.errors import FolderLockedError, PyramidFileError
from singan_augment.files.lock import LOCK_NAME, FolderLock
from singan_augment.testing import TINY_MODEL_FLAGS, tiny_image
from singan_augment.testing.subprocesses import subprocess_env

HOLD = """
import sys, time
from singan_augment.files.lock import FolderLock
with FolderLock(sys.argv[1], "holder"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_second_writer_fails_at_once_and_names_the_holder(tmp_path):
    with FolderLock(tmp_path / "out", "train"):
        with pytest.raises(FolderLockedError, match=r"being written by another process \(pid \d+"):
            FolderLock(tmp_path / "out", "expand").acquire()
    with FolderLock(tmp_path / "out"):  # released: free again
        pass


def test_clean_release_leaves_no_file(tmp_path):
    lock = FolderLock(tmp_path / "a").acquire()
    assert (tmp_path / "a" / LOCK_NAME).is_file() and lock.held
    lock.release()
    assert not lock.held and list((tmp_path / "a").iterdir()) == []


def test_lock_error_is_a_file_error_for_callers_that_catch_oserror(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(OSError):
            FolderLock(tmp_path).acquire()
    assert not issubclass(FolderLockedError, PyramidFileError)


def test_a_lock_cannot_travel_to_another_process(tmp_path):
    with FolderLock(tmp_path) as lock, pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(lock)


def _start_holder(folder):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_held_by_another_live_process_is_refused_and_a_killed_one_taken_over(tmp_path):
    proc = _start_holder(tmp_path)
    try:
        with pytest.raises(FolderLockedError, match=f"pid {proc.pid} .*holder"):
            FolderLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the dead holder's file is still there ...
    with FolderLock(tmp_path, "next") as lock:  # ... but taken over at once
        assert lock.held


def test_two_concurrent_train_runs_into_one_folder(tmp_path):
    """The defect: both used to exit 0 and one run's work was silently lost."""
    img = tmp_path / "img.npy"
    np.save(img, tiny_image())
    out = tmp_path / "run"
    args = [
        "--out",
        str(out),
        "--iters",
        "4",
        "--max-size",
        "36",
        *TINY_MODEL_FLAGS,
    ]
    args.append("--quiet")
    cli = [sys.executable, "-m", "singan_augment.cli", "train", str(img), *args]
    env = subprocess_env()
    first = subprocess.Popen([*cli, "--seed", "1"], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not (out / LOCK_NAME).exists():  # the first run owns the folder
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.02)
    second = subprocess.run(
        [*cli, "--seed", "2"], capture_output=True, text=True, timeout=300, env=env
    )
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert second.returncode == 2
    assert "being written by another process" in second.stderr
    assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    from singan_augment import load_pyramid

    pyr = load_pyramid(out)
    assert pyr.provenance["seed"] == 1 and pyr.complete
    assert not (out / LOCK_NAME).exists()
