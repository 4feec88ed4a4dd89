"""Shared fixtures: tiny pyramids trained once per test session (3 scales, a few iterations).

They are trained for speed, not quality: tests on them check shapes, ranges, determinism,
round trips and errors. Quality-direction tests train their own small runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from singan_augment.config import ModelConfig, PyramidConfig, TrainConfig

TINY_MODEL = ModelConfig(nfc_init=8, nfc_max=8)
TINY_TRAIN = TrainConfig(iters=8)
TINY_PYRAMID = PyramidConfig(min_size=25, max_size=36)


def tiny_image(channels: int = 3, h: int = 32, w: int = 36, seed: int = 0) -> np.ndarray:
    """A smooth, textured (C, H, W) test image with values in [0, 100]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = [
        50 + 40 * np.sin(xx / (3 + c) + c) * np.cos(yy / (4 + c)) + 5 * rng.standard_normal((h, w))
        for c in range(channels)
    ]
    return np.clip(np.stack(chans), 0, 100).astype(np.float32)


def tiny_image_with_mask(h: int = 32, w: int = 36, seed: int = 0) -> np.ndarray:
    """(2, H, W): an image of dark blobs on a bright background, and the blobs' binary mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(6):
        cy, cx, r = rng.integers(4, h - 4), rng.integers(4, w - 4), rng.integers(2, 5)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    image = np.where(mask, 0.2, 0.8) + 0.03 * rng.standard_normal((h, w))
    return np.stack([image, mask.astype(np.float32)]).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_pyramid_dir(tmp_path_factory):
    """A saved 3-channel pyramid ("t1", "t2", "flair"), 3 scales, trained a few iterations."""
    from singan_augment.fit import fit
    from singan_augment.io import save_pyramid

    pyr = fit(
        tiny_image(),
        seed=0,
        channel_names=["t1", "t2", "flair"],
        model_config=TINY_MODEL,
        train_config=TINY_TRAIN,
        pyramid_config=TINY_PYRAMID,
        progress=False,
    )
    return save_pyramid(pyr, tmp_path_factory.mktemp("pyr") / "tiny3")


@pytest.fixture(scope="session")
def tiny_label_pyramid_dir(tmp_path_factory):
    """A saved image+mask pyramid (channels "image" and label "label"), 3 scales."""
    from singan_augment.fit import fit
    from singan_augment.io import save_pyramid

    pyr = fit(
        tiny_image_with_mask(),
        seed=1,
        channel_names=["image", "label"],
        label_channels=["label"],
        model_config=TINY_MODEL,
        train_config=TINY_TRAIN,
        pyramid_config=TINY_PYRAMID,
        progress=False,
    )
    return save_pyramid(pyr, tmp_path_factory.mktemp("pyr") / "tiny_label")


@pytest.fixture(scope="session")
def tiny_pyramid(tiny_pyramid_dir):
    from singan_augment.io import load_pyramid

    return load_pyramid(tiny_pyramid_dir)


@pytest.fixture(scope="session")
def tiny_label_pyramid(tiny_label_pyramid_dir):
    from singan_augment.io import load_pyramid

    return load_pyramid(tiny_label_pyramid_dir)


@pytest.fixture(scope="session")
def ledger():
    """The fuzz suites' ledger of bad inputs tried and handled cleanly (see fuzzing.py)."""
    from fuzzing import LEDGER

    return LEDGER


def pytest_terminal_summary(terminalreporter):
    from fuzzing import LEDGER

    for line in LEDGER.report():
        terminalreporter.write_line(line)
