"""The sandbox's state directory as root sees it: checked before every write or delete.

The sandbox runs as root and deletes its state at `down`. A state directory that another user
could create, replace by a symlink or fill would let that user steer root's writes and deletes
outside it, so every directory on the way must be root's own and closed to others.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from .errors import MeshbeamError

BASE = Path("/run/meshbeam-sandbox")  # root's own; each sandbox gets BASE/PREFIX


class SandboxError(MeshbeamError):
    """A sandbox step failed; one line, for people."""


class UnsafeStateError(SandboxError):
    """The state directory (or one above it) could be changed by a user other than root."""


def check(path: Path) -> Path:
    """Return `path` (absolute) if it and every directory above it are safe for root; else raise.

    Safe: a real directory (not a symlink) owned by root. Directories above may be writable by
    others only with the sticky bit (as /tmp), which keeps others from renaming root's entries;
    the state directory itself must not be writable by others at all. A missing state directory
    (or missing directories above it, /run/meshbeam-sandbox on a fresh boot) is fine.
    """
    path = Path(os.path.abspath(path))
    for i, p in enumerate([path, *path.parents]):
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue  # nothing below it exists either: nothing there to read or delete yet
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeStateError(f"sandbox state directory {path}: {p} is a symlink; refusing to follow it "
                                   "as root (remove it, or choose another directory)")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeStateError(f"sandbox state directory {path}: {p} is not a directory")
        if st.st_uid != 0:
            raise UnsafeStateError(f"sandbox state directory {path}: {p} is owned by uid {st.st_uid}, not root; "
                                   "refusing to use it")
        open_to_others = st.st_mode & 0o022
        if open_to_others and (i == 0 or not st.st_mode & stat.S_ISVTX):
            raise UnsafeStateError(f"sandbox state directory {path}: {p} is writable by users other than root; "
                                   "refusing to use it")
    return path


def make(path: Path) -> Path:
    """Create the state directory 0700 (and BASE, when it is under it) and check it."""
    path = Path(os.path.abspath(path))
    for d in ([BASE] if path.parent == BASE else []) + [path]:
        check(d)
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
    return check(path)


def write_new(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write a file in a checked directory without following a symlink planted at its name."""
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, mode)
        f.write(data)


def remove_tree(path: Path) -> None:
    """Delete a directory under a checked state directory; rmtree never follows symlinks inside it."""
    if not shutil.rmtree.avoids_symlink_attacks:  # Linux has the fd-based rmtree
        raise UnsafeStateError("this platform's rmtree can follow symlinks; refusing to delete sandbox state")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):  # a symlink or file planted in place of the directory: drop the name only
        os.unlink(path)
        return
    shutil.rmtree(path)
