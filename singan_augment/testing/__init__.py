"""Helpers shared by the test suite and the benchmarks.

``tiny``: small synthetic images, the configs of a 3-scale pyramid that trains in seconds, and
``untrained_pyramid`` (real architecture and cost, untrained weights) for transform tests and
throughput benchmarks.
``scripts``: ``load_script``, the repository's scripts (benchmarks, examples) imported by path.
``torch_reference``: an independent PyTorch SinGAN with the engine's math, the oracle of the
equivalence tests and the baseline of the speed benchmarks (imports torch; import it
explicitly).
"""

from .scripts import load_script
from .tiny import (
    TINY_MODEL,
    TINY_MODEL_FLAGS,
    TINY_PYRAMID,
    TINY_TRAIN,
    TINY_VOLUME_MODEL,
    TINY_VOLUME_MODEL_FLAGS,
    TINY_VOLUME_PYRAMID,
    model_flags,
    stage_leaves,
    tiny_image,
    tiny_image_with_mask,
    tiny_volume,
    untrained_pyramid,
    with_generator_scaled,
)

__all__ = [
    "TINY_MODEL",
    "TINY_MODEL_FLAGS",
    "TINY_PYRAMID",
    "TINY_TRAIN",
    "TINY_VOLUME_MODEL",
    "TINY_VOLUME_MODEL_FLAGS",
    "TINY_VOLUME_PYRAMID",
    "load_script",
    "model_flags",
    "stage_leaves",
    "tiny_image",
    "tiny_image_with_mask",
    "tiny_volume",
    "untrained_pyramid",
    "with_generator_scaled",
]
