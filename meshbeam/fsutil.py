"""Local file writes that never leave a half-written file behind."""

from __future__ import annotations

import fcntl
import os
import tempfile
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


def create_exclusive(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Create `path` only if it does not exist: a key is never overwritten by accident."""
    if isinstance(data, str):
        data = data.encode()
    if path.exists():
        raise FileExistsError(path)
    atomic_write_new = path.with_name(f".{path.name}.new")
    atomic_write(atomic_write_new, data, mode)
    try:
        os.link(atomic_write_new, path)  # link() fails if `path` appeared meanwhile
    finally:
        atomic_write_new.unlink(missing_ok=True)


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on the inventory for one command.

    The lock is taken on the directory itself, so taking it writes nothing.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"another meshbeam command is using the inventory {directory}; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)
