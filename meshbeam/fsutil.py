"""Local file writes that never leave a half-written file behind."""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockedError


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644, *, durable: bool = True) -> None:
    """Write to a temp file in the same directory, fsync, then rename over `path`.

    The temp file is created 0600 by mkstemp and then given `mode`, so a secret is never
    readable by others, not even briefly. `durable=False` skips the fsync for bulk output
    that can be regenerated (the rename alone keeps readers from seeing half a file).
    """
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_temp(path: Path, data: bytes | str, mode: int) -> None:
    """Write `path` durably (fsync) but do not publish it: a transaction renames it later."""
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, mode)
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# How long a command waits for another one to release the inventory before giving up. Waiting
# (rather than refusing at once) lets a shell loop or two CI jobs run add-host side by side;
# the bound keeps a command from hanging forever behind a stuck `up`.
LOCK_WAIT_ENV = "MESHBEAM_LOCK_WAIT"
LOCK_WAIT = 30.0


def _lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get(LOCK_WAIT_ENV, LOCK_WAIT)))
    except ValueError:
        return LOCK_WAIT


@contextmanager
def locked(directory: Path, wait: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the inventory for one command, waiting up to `wait` seconds
    (default LOCK_WAIT, or $MESHBEAM_LOCK_WAIT) for another command to release it.

    The lock is taken on the directory itself, so taking it writes nothing. The kernel drops
    it when the process dies, so a killed command never leaves the inventory locked.
    """
    wait = _lock_wait() if wait is None else wait
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline, pause = time.monotonic() + wait, 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another meshbeam command is using the inventory {directory} "
                        f"(waited {wait:g} s); wait for it to finish"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        yield
    finally:
        os.close(fd)
