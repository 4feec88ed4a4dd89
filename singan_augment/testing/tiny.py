"""Tiny inputs for tests and benchmarks: small synthetic images and the configs of a 3-scale
pyramid that trains in seconds. They are for checking shapes, ranges, determinism, round trips
and errors, not quality."""

from __future__ import annotations

import numpy as np

from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig

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
