"""Shared fixtures: tiny pyramids trained once per test session (3 scales, a few iterations).

They are trained for speed, not quality: tests on them check shapes, ranges, determinism,
round trips and errors. Quality-direction tests train their own small runs.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from singan_augment.testing import (
    TINY_MODEL,
    TINY_PYRAMID,
    TINY_TRAIN,
    TINY_VOLUME_MODEL,
    TINY_VOLUME_PYRAMID,
    tiny_image,
    tiny_image_with_mask,
    tiny_volume,
)


def _shared_dir(tmp_path_factory, request) -> Path:
    """A folder shared by all pytest-xdist workers of this run (this run's own temp folder
    without xdist), so that the tiny pyramids are trained once per run, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(request.config, "workerinput") else base


def _train_once(tmp_path_factory, request, name: str, train) -> Path:
    """``train()``'s pyramid saved under ``name`` in the shared folder: the first worker to
    get here trains it (the others wait on the lock), the rest load it."""
    from singan_augment.files.pyramid_files import JSON_NAME, save_pyramid

    root = _shared_dir(tmp_path_factory, request)
    out = root / "shared-pyramids" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(root / f"shared-pyramids-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / JSON_NAME).is_file():
            save_pyramid(train(), out)
    return out


@pytest.fixture(scope="session")
def tiny_pyramid_dir(tmp_path_factory, request):
    """A saved 3-channel pyramid ("t1", "t2", "flair"), 3 scales, trained a few iterations."""
    from singan_augment.engine.fit import fit

    return _train_once(
        tmp_path_factory,
        request,
        "tiny3",
        lambda: fit(
            tiny_image(),
            seed=0,
            channel_names=["t1", "t2", "flair"],
            model_config=TINY_MODEL,
            train_config=TINY_TRAIN,
            pyramid_config=TINY_PYRAMID,
            progress=False,
        ),
    )


@pytest.fixture(scope="session")
def tiny_label_pyramid_dir(tmp_path_factory, request):
    """A saved image+mask pyramid (channels "image" and label "label"), 3 scales."""
    from singan_augment.engine.fit import fit

    return _train_once(
        tmp_path_factory,
        request,
        "tiny_label",
        lambda: fit(
            tiny_image_with_mask(),
            seed=1,
            channel_names=["image", "label"],
            label_channels=["label"],
            model_config=TINY_MODEL,
            train_config=TINY_TRAIN,
            pyramid_config=TINY_PYRAMID,
            progress=False,
        ),
    )


@pytest.fixture(scope="session")
def tiny_volume_pyramid_dir(tmp_path_factory, request):
    """A saved volume pyramid: channels "t1" and label "lesion" (two balls), 3 scales of
    12..14 x 14..16 x 13..15 voxels, spacing (2, 1, 1) mm."""
    from singan_augment.engine.fit import fit

    return _train_once(
        tmp_path_factory,
        request,
        "tiny_volume",
        lambda: fit(
            tiny_volume(mask=True),
            seed=2,
            channel_names=["t1", "lesion"],
            label_channels=["lesion"],
            model_config=TINY_VOLUME_MODEL,
            train_config=TINY_TRAIN,
            pyramid_config=TINY_VOLUME_PYRAMID,
            spacing=(2.0, 1.0, 1.0),
            progress=False,
        ),
    )


@pytest.fixture(scope="session")
def tiny_volume_pyramid(tiny_volume_pyramid_dir):
    from singan_augment.files.pyramid_files import load_pyramid

    return load_pyramid(tiny_volume_pyramid_dir)


@pytest.fixture(scope="session")
def tiny_pyramid(tiny_pyramid_dir):
    from singan_augment.files.pyramid_files import load_pyramid

    return load_pyramid(tiny_pyramid_dir)


@pytest.fixture(scope="session")
def tiny_label_pyramid(tiny_label_pyramid_dir):
    from singan_augment.files.pyramid_files import load_pyramid

    return load_pyramid(tiny_label_pyramid_dir)


@pytest.fixture(scope="session")
def ledger():
    """The fuzz suites' ledger of bad inputs tried and handled cleanly (see fuzzing.py)."""
    from fuzzing import LEDGER

    return LEDGER


def pytest_sessionfinish(session):
    """In a pytest-xdist worker: hand this worker's fuzz ledger to the controller."""
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        from fuzzing import LEDGER

        out["fuzz_ledger"] = LEDGER.to_dict()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """In the pytest-xdist controller: add each finished worker's ledger to the total."""
    data = getattr(node, "workeroutput", {}).get("fuzz_ledger")
    if data:
        from fuzzing import LEDGER

        LEDGER.merge(data)


def pytest_terminal_summary(terminalreporter):
    from fuzzing import LEDGER

    for line in LEDGER.report():
        terminalreporter.write_line(line)
