"""Pretrained pyramids shipped with the package."""
