"""Transactions on an inventory: lock, read, change, then publish every change at once.

    with transaction(store) as txn:          # the command's KeyStore: its directory is the inventory
        txn.mesh = ...                       # the members, as read under the lock
        txn.keys.put_member_key(name, key)   # staged in the KeyStore
        txn.write(path, text, mode)          # e.g. a roaming peer's config

The lock is taken before anything is read, so two commands never both decide from the same
old mesh.yaml (the same free address, a lost member). Leaving the block without an exception
commits:

  1. every changed file (key files or keys.sealed, mesh.yaml, peer configs) is written under
     a temp name (`.NAME.mbtxn`) and fsynced;
  2. the journal DIR/.meshbeam-txn, naming the renames and removals, is written: the commit point;
  3. the renames (keys first, then mesh.yaml) and removals are done, then the journal removed.

A crash before 2 leaves the old inventory plus temp files, which the next command sweeps.
After 2, the next command finishes the journal first (`recover`): the result is the new
inventory. Replaying is idempotent: a rename whose temp file is gone was done already.
A key file of no member (a removal interrupted by an older meshbeam, or a stray copy) is
removed at the next commit, with a note, rather than refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import inventory, meshfile
from .errors import InputError
from .fsutil import fsync_dir, locked, write_temp
from .inventory import Mesh
from .keyfiles import KEY_DIR, TEMP_SUFFIX
from .keys import KeyStore

JOURNAL = ".meshbeam-txn"
PEER_DIR = "peers"


@dataclass
class Transaction:
    directory: Path
    keys: KeyStore
    mesh: Mesh | None  # None only while `init` builds a new inventory
    before: Mesh | None = None
    notes: list[str] = field(default_factory=list)  # for the command to print
    _writes: dict[Path, tuple[bytes, int]] = field(default_factory=dict)
    _removes: list[Path] = field(default_factory=list)

    def write(self, path: Path, data: bytes | str, mode: int) -> None:
        """Publish `path` (inside the inventory directory) with the commit."""
        self._writes[_inside(self.directory, path)] = (data.encode() if isinstance(data, str) else data, mode)

    def remove(self, path: Path) -> None:
        """Remove a file or a directory tree (inside the inventory directory) with the commit."""
        self._removes.append(_inside(self.directory, path))

    def commit(self) -> None:
        assert self.mesh is not None
        members = {m.name for m in self.mesh.members}
        for name in sorted(self.keys.key_owners() - members):
            self.keys.drop_member_key(name)
            self.notes.append(f"removed the private key of {name!r}, which is no member: a change was interrupted")
        mesh_changed = self.mesh != self.before
        if not (mesh_changed or self.keys.changed or self._writes or self._removes):
            return
        renames, deletes = self.keys.stage()
        if mesh_changed:  # each command has checked what it changed: no second pass over every member
            tmp = self.directory / f".{inventory.MESH_FILE}{TEMP_SUFFIX}"
            write_temp(tmp, meshfile.dump(self.mesh), 0o644)
            renames.append((tmp, inventory.mesh_path(self.directory)))
        for path, (data, mode) in self._writes.items():
            tmp = path.with_name(f".{path.name}{TEMP_SUFFIX}")
            write_temp(tmp, data, mode)
            renames.append((tmp, path))
        for parent in {src.parent for src, _ in renames}:
            fsync_dir(parent)
        journal = {
            "rename": [[self._rel(src), self._rel(dst)] for src, dst in renames],
            "remove": [self._rel(p) for p in deletes + self._removes],
        }
        tmp = self.directory / f"{JOURNAL}{TEMP_SUFFIX}"
        write_temp(tmp, json.dumps(journal, indent=1) + "\n", 0o600)
        os.replace(tmp, self.directory / JOURNAL)
        fsync_dir(self.directory)  # the commit point
        _replay(self.directory, journal)
        self.keys.committed()

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.directory))


def inside(directory: Path, path: Path) -> Path | None:
    """`path` as DIR/REL when it lies under the inventory directory, else None."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(directory))
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return directory / rel


def _inside(directory: Path, path: Path) -> Path:
    """Only paths under the inventory go into the journal: it is replayed without questions."""
    found = inside(directory, path)
    if found is None:
        raise ValueError(f"{path} is outside the inventory {directory}")
    return found


@contextmanager
def transaction(store: KeyStore, *, new: bool = False) -> Iterator[Transaction]:
    """Lock the store's inventory DIR, finish any interrupted change, read mesh.yaml; commit the
    command's changes (staged in `store`) when the block ends without an exception.

    `new`: `init` builds a new inventory (DIR is created; there is no mesh.yaml to read).
    An inventory whose keystore predates derived preshared keys is migrated by its first
    transaction.
    """
    directory = store.inventory
    if new:
        directory.mkdir(parents=True, exist_ok=True)
    elif not directory.is_dir():
        inventory.load(directory)  # raises its "no inventory" error
    with locked(directory):
        recover(directory)
        mesh = None if new else meshfile.load(directory)
        txn = Transaction(directory, store, mesh, mesh)
        if not new and txn.keys.needs_psk_migration():
            # Rotated at once (see keys.py): from here on the command reads derived keys.
            txn.keys.new_psk_secret()
            txn.notes.append("preshared keys are now derived from keys/psk-secret: every pair gets a new one, "
                             "which the next `meshbeam up` rolls out")
        yield txn
        txn.commit()


def recover(directory: Path) -> None:
    """Under the lock: finish a commit that was interrupted after its journal was written, and
    remove the temp files of one interrupted before."""
    path = directory / JOURNAL
    if path.exists():
        _replay(directory, _read_journal(path))
    for folder in (directory, directory / KEY_DIR):
        _sweep(folder)
    for root, _, _ in os.walk(directory / PEER_DIR):  # never follows symlinks
        _sweep(Path(root))


def settle(directory: Path) -> None:
    """For commands that only read: if a change was interrupted, finish it first."""
    if (directory / JOURNAL).exists():
        with locked(directory):
            recover(directory)


def _sweep(folder: Path) -> None:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for e in entries:
        if e.name.endswith(TEMP_SUFFIX) and e.is_file(follow_symlinks=False):
            os.unlink(e.path)


def _read_journal(path: Path) -> dict[str, list]:
    """The journal is ours, but the directory may come from elsewhere (a git checkout): every
    entry must be a plain relative path inside it, and every rename must take a temp file."""
    damaged = InputError(f"{path} is damaged; if no meshbeam command is running, remove it and check the inventory")
    try:
        journal = json.loads(path.read_text())
        renames, removes = journal["rename"], journal["remove"]
        paths = [p for pair in renames for p in pair] + removes
        ok = all(len(pair) == 2 and pair[0].endswith(TEMP_SUFFIX) for pair in renames)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise damaged from None
    if not ok or not all(isinstance(p, str) and _plain_relative(p) for p in paths):
        raise damaged
    return journal


def _plain_relative(text: str) -> bool:
    p = PurePosixPath(text)
    return bool(p.parts) and not p.is_absolute() and ".." not in p.parts and "\0" not in text


def _replay(directory: Path, journal: dict[str, list]) -> None:
    touched = set()
    for src, dst in journal["rename"]:
        try:
            os.replace(directory / src, directory / dst)
        except FileNotFoundError:
            pass  # renamed before an interruption
        touched.add((directory / dst).parent)
    for rel in journal["remove"]:
        path = directory / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        touched.add(path.parent)
    for folder in touched:
        if folder.is_dir():
            fsync_dir(folder)
    (directory / JOURNAL).unlink()
