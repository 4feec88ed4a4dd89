"""Crash safety of ``singan-augment train`` and ``fit-dataset``.

SIGKILL: a real subprocess is killed ten times, half at random moments (imports, compilation,
training) and half while a checkpoint is being written (a new temporary file exists). After every kill the output folder must
hold either nothing that looks like a pyramid, or a pyramid that loads and verifies; temporary
files never carry the final names. ``--resume`` then finishes, and the result is identical to
an uninterrupted run with the same seed.

SIGTERM and Ctrl-C stop at once through the same clean-up, with exit code 143 / 130, one line
saying what is saved, the command that continues, and no traceback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from singan_augment.files.lock import LOCK_NAME
from singan_augment.files.pyramid_files import (
    JSON_NAME,
    WEIGHTS_NAME,
    load_pyramid,
    pyramid_tensors,
)
from singan_augment.testing import TINY_MODEL_FLAGS, tiny_image
from singan_augment.testing.subprocesses import subprocess_env

# Tiny runs: XLA's convolution (the smallest graph to trace), 2 scales for the kills (each
# cycle is a fresh process that must trace and load its compiled steps), 3 for the stops.
TINY = ["--iters", "12", "--min-size", "25", *TINY_MODEL_FLAGS, "--seed", "3"]
ARGS = [*TINY, "--max-size", "30"]
ARGS3 = [*TINY, "--max-size", "36"]
FINAL_NAMES = {JSON_NAME, WEIGHTS_NAME}
KILLS = 10
CLI = [sys.executable, "-m", "singan_augment.cli"]
# The killed runs are fresh processes that share a persistent compilation cache.
ENV = subprocess_env()


def _same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _check_folder(out) -> int:
    """Assert the folder is consistent; return the number of trained scales it holds."""
    if not out.exists():
        return 0
    names = {p.name for p in out.iterdir()}
    temporary = names - FINAL_NAMES - {LOCK_NAME}  # a killed writer's lock is taken over
    assert all(n.endswith((".partial", ".tmp")) for n in temporary), names
    if JSON_NAME not in names and WEIGHTS_NAME not in names:
        return 0
    pyr = load_pyramid(out, require_complete=False)  # raises if anything is inconsistent
    return pyr.num_trained


def _temporary(out: Path) -> set[str]:
    try:
        return {p.name for p in out.iterdir() if p.name.endswith((".partial", ".tmp"))}
    except FileNotFoundError:
        return set()


def _wait_until(proc, cond, timeout: float) -> None:
    end = time.monotonic() + timeout
    while proc.poll() is None and not cond() and time.monotonic() < end:
        time.sleep(0.002)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run as a subprocess: its pyramid and its wall time."""
    tmp = tmp_path_factory.mktemp("crash")
    img = tmp / "img.npy"
    np.save(img, tiny_image())
    # The first run fills the subprocesses' compilation cache; the second, timed, is what a
    # killed run costs from then on (so the random kill moments span a run, not a cold
    # compile), and must give the same pyramid.
    runs = []
    for name in ("ref", "ref_warm"):
        t0 = time.perf_counter()
        run = subprocess.run(
            [*CLI, "train", str(img), "--out", str(tmp / name), *ARGS, "--quiet"],
            capture_output=True,
            timeout=900,
            env=ENV,
        )
        assert run.returncode == 0, run.stderr.decode()
        runs.append(time.perf_counter() - t0)
    pyr = load_pyramid(tmp / "ref")
    assert pyr.num_scales == 2
    _same(pyramid_tensors(load_pyramid(tmp / "ref_warm")), pyramid_tensors(pyr))
    return img, pyramid_tensors(pyr), runs[1]


@pytest.mark.slow
def test_sigkill_at_random_points_and_during_checkpoints_then_resume_is_identical(
    reference, tmp_path, ledger
):
    img, want, run_s = reference
    out = tmp_path / "killed"
    cmd = [*CLI, "train", str(img), "--out", str(out), *ARGS, "--quiet", "--resume"]
    rng = np.random.default_rng(int(os.environ.get("KILL_SEED", "7")))
    kills, progress, during_write, finished_early = 0, [], 0, 0
    for attempt in range(6 * KILLS):
        if kills >= KILLS:
            break
        stale = _temporary(out)  # left by earlier kills; a write in progress adds a new one
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        if attempt % 2:  # while a checkpoint is being written
            _wait_until(proc, lambda stale=stale: _temporary(out) - stale, timeout=run_s + 30)
        else:  # a random moment of the run's life
            time.sleep(float(rng.uniform(0.3, run_s)))
        if proc.poll() is None:
            during_write += bool(_temporary(out) - stale)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            progress.append(_check_folder(out))
        else:  # it finished first: check it, then start over so that the kills keep coming
            assert proc.returncode == 0, proc.stderr.read().decode()
            _same(pyramid_tensors(load_pyramid(out)), want)
            shutil.rmtree(out)
            finished_early += 1
    assert kills == KILLS, f"only {kills} runs were interrupted"
    assert during_write >= 1, "no kill landed during a checkpoint write"
    final = subprocess.run(cmd, capture_output=True, timeout=900, env=ENV)
    assert final.returncode == 0, final.stderr.decode()
    resumed = load_pyramid(out)
    assert resumed.complete
    _same(pyramid_tensors(resumed), want)
    ledger.note(  # printed in the run's summary (also from a pytest-xdist worker)
        f"kill/resume cycles passed: {kills} SIGKILLs ({during_write} during a checkpoint "
        f"write), then --resume gave a pyramid identical to the uninterrupted run (scales on "
        f"disk at each kill: {progress}; runs that finished before their kill: {finished_early})"
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_stop_cleanly_and_say_how_to_resume(reference, tmp_path, sig, code):
    img, _, run_s = reference
    out = tmp_path / "stopped"
    cmd = [*CLI, "train", str(img), "--out", str(out), *ARGS3, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    _wait_until(proc, lambda: (out / JSON_NAME).exists(), timeout=run_s + 60)  # scale 0 saved
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert f"stopped by {signal.Signals(sig).name}" in err
    saved = _check_folder(out)
    assert 1 <= saved < 3 and f"{saved} of 3 scales are saved" in err
    assert not any(p.name.endswith(".partial") for p in out.iterdir())  # cleaned up, not left
    assert not (out / LOCK_NAME).exists()  # released on the way out
    hint = err.split("to continue: ", 1)[1].strip()
    assert hint.endswith("--resume")
    resumed = subprocess.run(
        [*CLI, *shlex.split(hint)[1:]], capture_output=True, timeout=900, env=ENV
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    pyr = load_pyramid(out)
    assert pyr.complete and pyr.num_scales == 3
    assert pyr.provenance["seed"] == 3  # continued the stopped run, not a new one


@pytest.mark.slow
def test_sigterm_during_fit_dataset_exits_143_and_a_rerun_finishes(tmp_path):
    src = tmp_path / "images"
    src.mkdir()
    for i in range(2):
        np.save(src / f"case{i}.npy", tiny_image(1, seed=i))
    out = tmp_path / "pyramids"
    cmd = [*CLI, "fit-dataset", str(src), "--out", str(out), "--iters", "12", "--max-size", "36"]
    cmd += [*TINY_MODEL_FLAGS, "--concurrent-stages", "1", "--quiet"]  # stopping, not concurrency
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    _wait_until(proc, lambda: any(out.glob(f"*/{JSON_NAME}")), timeout=600)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert "stopped by SIGTERM" in err and "finished work is skipped" in err
    assert not (out / LOCK_NAME).exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=ENV)
    assert rerun.returncode == 0, rerun.stderr
    assert all(load_pyramid(d).complete for d in (out / "case0", out / "case1"))


def test_a_signal_that_lands_in_a_gc_callback_still_stops_the_command():
    """JAX runs a gc callback on every collection, and Python drops exceptions raised there:
    a SIGTERM delivered inside it was lost and the run went on to the end (seen once in a
    full test run). The handler now recognises the context and delivers the signal again."""
    import gc
    import threading

    from singan_augment.cli.main import in_swallowing_context, stop_on_sigterm

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed from the main thread")
    seen = []

    def callback(phase, info):
        if phase == "start" and not seen:
            seen.append(in_swallowing_context(sys._getframe()))
            os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode: in here
            for _ in range(1000):  # keep the interpreter inside the callback for a while
                pass

    assert not in_swallowing_context(sys._getframe())
    with stop_on_sigterm() as received:
        gc.callbacks.append(callback)
        try:
            with pytest.raises(KeyboardInterrupt):
                gc.collect()
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:  # the stop must arrive, not be swallowed
                    time.sleep(0.01)
        finally:
            gc.callbacks.remove(callback)
    assert seen == [True] and received == [signal.SIGTERM]
