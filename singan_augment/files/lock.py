"""One writer per output folder: an advisory lock that a second writer fails on at once.

``train``, ``fit-dataset`` and ``expand`` hold ``FolderLock(out)`` while they write. The lock is
an exclusive ``flock`` on ``<folder>/.singan-augment.lock``: the kernel releases it when its
process ends, however it ends (SIGKILL included), so a crashed writer never leaves the folder
stuck - the next writer simply takes the lock over. A clean release deletes the file while still
holding the lock, and a taker checks that the file it locked is still the one at the path (else
it retries), so deleting never lets two writers in. The file holds the owner's pid, host and
start time, only to make the refusal's message useful.

``flock`` locks are per open file description: two ``FolderLock`` objects on the same folder
exclude each other even inside one process, which is what a Ray retry or a second thread
needs.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from singan_augment.errors import FolderLockedError

LOCK_NAME = ".singan-augment.lock"


class FolderLock:
    """Exclusive writer lock on a folder (created if missing), as a context manager.

    Args:
        folder: the output folder to own.
        what: the command taking it, for the other writer's error message (e.g. ``"train"``).

    Raises (on ``__enter__`` / ``acquire``):
        FolderLockedError: another live writer holds the folder; the message names its pid,
            host, command and start time.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "singan-augment") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        if self._fd is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise FolderLockedError(
                    f"{self.folder} is being written by another process ({owner}); wait for it "
                    f"to finish or stop it - a killed writer releases the folder by itself"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder deleted it on release: lock the new file instead
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.what,
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink(missing_ok=True)  # still locked: nobody else holds this file
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __getstate__(self) -> dict:  # a lock never travels to another process
        raise TypeError("FolderLock cannot be pickled: it belongs to the process that took it")


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read_owner(fd: int) -> str:
    """The holder's record, as words; tolerant of an empty or foreign file."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {int(data['pid'])} on {data['host']}, {data['command']} since {data['since']}"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "owner unknown"
