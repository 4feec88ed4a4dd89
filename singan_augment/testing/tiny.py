"""Tiny inputs for tests and benchmarks: small synthetic images and the configs of a 3-scale
pyramid that trains in seconds. They are for checking shapes, ranges, determinism, round trips
and errors, not quality."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from singan_augment.engine.config import ModelConfig, PyramidConfig, TrainConfig
from singan_augment.engine.fit import init_pyramid
from singan_augment.engine.generate import Stage
from singan_augment.engine.networks import init_generator
from singan_augment.engine.pyramid import Pyramid

# XLA's own convolution: the smallest graph to trace and compile; every formulation is
# checked against it in tests/engine/test_conv.py and test_equivalence.py. Two layers per
# network (the fewest: one conv + batch norm + LeakyReLU block and the output conv, so every
# code path of the published five-layer nets runs) compile in about half the time of five.
TINY_MODEL = ModelConfig(num_layers=2, nfc_init=8, nfc_max=8, conv_impl="xla")
TINY_TRAIN = TrainConfig(iters=8)
TINY_PYRAMID = PyramidConfig(min_size=25, max_size=36)
# Volumes: 3 scales from 12 to 14 voxels a side (a 3-D training step compiles in ~10 s here).
TINY_VOLUME_MODEL = ModelConfig(num_layers=2, nfc_init=4, nfc_max=4, conv_impl="xla")
TINY_VOLUME_PYRAMID = PyramidConfig(min_size=12, max_size=16)


def model_flags(config: ModelConfig) -> list[str]:
    """The ``singan-augment train`` / ``fit-dataset`` flags that give ``config``'s networks."""
    return [
        "--nfc", str(config.nfc_init), "--nfc-max", str(config.nfc_max),
        "--num-layers", str(config.num_layers), "--conv-impl", config.conv_impl,
    ]  # fmt: skip


# The command-line twins of TINY_MODEL and TINY_VOLUME_MODEL, for tests that run the CLI: the
# same configs, so a worker reuses the training steps it has already compiled.
TINY_MODEL_FLAGS = tuple(model_flags(TINY_MODEL))
TINY_VOLUME_MODEL_FLAGS = tuple(model_flags(TINY_VOLUME_MODEL))


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


def tiny_volume(
    channels: int = 2, d: int = 14, h: int = 16, w: int = 15, seed: int = 0, mask: bool = False
) -> np.ndarray:
    """A smooth, textured (C, D, H, W) test volume with values in [0, 100]; with ``mask`` the
    last channel is replaced by the binary mask of two dark balls that the image channels show."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[0:d, 0:h, 0:w].astype(np.float32)
    chans = [
        50
        + 40 * np.sin(xx / (3 + c) + c) * np.cos(yy / (4 + c)) * np.cos(zz / (3 + c))
        + 5 * rng.standard_normal((d, h, w))
        for c in range(channels)
    ]
    vol = np.clip(np.stack(chans), 0, 100).astype(np.float32)
    if mask:
        balls = np.zeros((d, h, w), bool)
        for cz, cy, cx, r in ((d // 3, h // 3, w // 2, 3), (2 * d // 3, 2 * h // 3, w // 3, 2)):
            balls |= (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        vol[:-1] = np.where(balls, 0.3 * vol[:-1], vol[:-1])
        vol[-1] = balls
    return vol


def stage_leaves(pyr: Pyramid) -> list:
    """Every array a pyramid's trained stages hold (generator params, BN state, noise
    amplitude), in a fixed order: what two pyramids must share to be the same training."""
    return jax.tree.leaves([(s.params, s.stats, s.amp) for s in pyr.stages])


def with_generator_scaled(pyr: Pyramid, scale: int, factor: float = 1.5) -> Pyramid:
    """``pyr`` with scale ``scale``'s generator weights multiplied by ``factor`` (its BN state
    and noise amplitude kept): a generator changed after the scales above it trained."""
    stages = list(pyr.stages)
    stage = stages[scale]
    stages[scale] = stage._replace(params=jax.tree.map(lambda x: x * factor, stage.params))
    return dataclasses.replace(pyr, stages=tuple(stages))


def untrained_pyramid(
    image: np.ndarray,
    seed: int = 0,
    *,
    channel_names: Sequence[str] | None = None,
    label_channels: Sequence[str] = (),
    model_config: ModelConfig | None = None,
    pyramid_config: PyramidConfig | None = None,
) -> Pyramid:
    """A *complete* pyramid with freshly initialised (untrained) generators.

    For tests and throughput benchmarks only: it has the real architecture, shapes, channel
    spec and compute cost of a trained pyramid (noise amplitude 1 at scale 0, 0.1 above),
    but its samples are meaningless. Built in seconds instead of hours.

    Args:
        image: (C, H, W) training image (or a (C, D, H, W) volume); the channel spec and
            scales are derived from it.
        channel_names, label_channels, model_config, pyramid_config: as for ``fit``.
    """
    mcfg = model_config or ModelConfig()
    pyr = init_pyramid(
        image,
        seed,
        channel_names=channel_names,
        label_channels=label_channels,
        model_config=mcfg,
        pyramid_config=pyramid_config or PyramidConfig(),
    )
    key = jax.random.PRNGKey(seed + 1)
    for n in range(pyr.num_scales):
        params, stats = init_generator(
            jax.random.fold_in(key, n), pyr.num_channels, mcfg.nfc(n), mcfg, pyr.spatial_dims
        )
        amp = jax.numpy.float32(1.0 if n == 0 else 0.1)
        pyr = pyr.with_stage(Stage(params, stats, amp))
    return pyr
