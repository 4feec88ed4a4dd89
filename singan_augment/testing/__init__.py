"""Helpers shared by the test suite and the benchmarks.

``tiny``: small synthetic images and the configs of a 3-scale pyramid that trains in seconds.
``torch_reference``: an independent PyTorch SinGAN with the engine's math, the oracle of the
equivalence tests and the baseline of the speed benchmarks (imports torch; import it
explicitly).
"""

from .tiny import TINY_MODEL, TINY_PYRAMID, TINY_TRAIN, tiny_image, tiny_image_with_mask

__all__ = ["TINY_MODEL", "TINY_PYRAMID", "TINY_TRAIN", "tiny_image", "tiny_image_with_mask"]
