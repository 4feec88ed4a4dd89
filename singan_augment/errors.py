"""Exception classes. Every bad input ends in one of these, with a message naming the problem."""

from __future__ import annotations


class SinGANError(Exception):
    """Base class of every error raised on purpose by singan-augment."""


class InputError(SinGANError, ValueError):
    """An image, mask or argument is unusable (shape, dtype, channel count, NaN/Inf, size)."""


class ScaleError(InputError):
    """A scale index is outside the pyramid."""


class PyramidFileError(SinGANError, OSError):
    """A pyramid directory is missing, corrupt, tampered with or of an unknown format."""


class PyramidMismatchError(InputError):
    """An image does not match the pyramid (channel count, kinds)."""


class MissingKeyError(InputError, KeyError):
    """A key or name that a transform needs is missing from the data dictionary or subject."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class FolderLockedError(SinGANError, OSError):
    """An output folder is being written by another live process (see ``files.lock``)."""


class Interrupted(SinGANError):
    """SIGTERM or Ctrl-C stopped a long command at a safe point; the message says how to resume."""


class ResolutionWarning(UserWarning):
    """A pyramid is applied to an image of very different size and no pixel spacing tells how
    to match their resolutions (see ``engine.resolution``)."""
