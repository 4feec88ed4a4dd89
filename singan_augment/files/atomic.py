"""Crash-safe file writes: a file is either the old one or the whole new one, never half."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one.

    The bytes go to a hidden ``.<name>.<random>.partial`` beside ``path``, are fsynced, then
    renamed over ``path``; on any error the temporary file is removed. Permissions follow the
    umask, as for a plain ``open``.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fsync_dir(path: Path) -> None:
    """fsync a directory so that renames inside it survive a power cut (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(folder: Path, final_name: re.Pattern) -> int:
    """Delete temp files that an interrupted earlier run left behind in ``folder``.

    ``atomic_write`` writes ``.<final name>.<random>.partial`` and renames it; a process
    killed in between leaves that hidden file behind. Only temps whose final name matches
    ``final_name`` are removed, so concurrent tasks for other pyramids are not disturbed.
    """
    temp = re.compile(r"^\.(?P<final>.+)\.[A-Za-z0-9_]+\.partial$")
    removed = 0
    if not folder.is_dir():
        return 0
    for f in folder.iterdir():
        m = temp.match(f.name)
        if m and final_name.fullmatch(m.group("final")) and f.is_file():
            f.unlink(missing_ok=True)
            removed += 1
    return removed
