"""singan-augment: per-image SinGAN pyramids in JAX as MONAI/TorchIO augmentation."""

__version__ = "0.1.0"
