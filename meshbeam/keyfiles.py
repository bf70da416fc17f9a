"""Where an inventory's secrets are stored: files under `DIR/keys/` (0700, files 0600), or one
encrypted `DIR/keys.sealed` (0600, see sealed.py) holding the same files.

Both present means a `seal` or `unseal` was interrupted: refused until that command is run again.

Each file holds one secret in one of two encodings (the same bytes inside keys.sealed):
a text line (`encode_text`: a member's private key, the cookie) or 32 random bytes in base64
(`encode_secret`: psk-secret).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import InputError
from .fsutil import atomic_write, write_temp

if TYPE_CHECKING:
    from .sealed import SealKey

KEY_DIR = "keys"
SEALED_FILE = "keys.sealed"
TEMP_SUFFIX = ".mbtxn"  # files a transaction has written but not yet published
SECRET_BYTES = 32

Ask = Callable[[Path], str]  # the passphrase of a sealed file: the CLI's to obtain, asked at most once


# -- the encodings of the files --------------------------------------------------------------


def encode_text(text: str) -> bytes:
    return (text + "\n").encode()


def decode_text(data: bytes) -> str:
    return data.decode().strip()


def raw_key(text: str) -> bytes | None:
    """32 bytes from their base64 (a WireGuard key, the preshared-key secret), else None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SECRET_BYTES else None


def encode_secret(raw: bytes) -> bytes:
    return base64.b64encode(raw) + b"\n"


def decode_secret(data: bytes) -> bytes | None:
    """The 32 bytes, or None for a damaged file."""
    return raw_key(data.decode(errors="replace").strip())


# -- the two storages ------------------------------------------------------------------------


class Files(Protocol):
    where: Path  # named in messages

    def load(self) -> None: ...
    def read(self, rel: str) -> bytes | None: ...
    def exists(self, rel: str) -> bool: ...
    def names(self) -> list[str]: ...
    def stage(self, changes: dict[str, bytes | None]) -> tuple[list[tuple[Path, Path]], list[Path]]: ...
    def published(self, changes: dict[str, bytes | None]) -> None: ...


class PlainFiles:
    """DIR/keys/: one 0600 file per secret."""

    def __init__(self, directory: Path) -> None:
        self.where = directory

    def create(self) -> None:
        self.where.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.where, 0o700)

    def load(self) -> None:
        pass

    def read(self, rel: str) -> bytes | None:
        try:
            return (self.where / rel).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, rel: str) -> bool:
        return (self.where / rel).exists()

    def names(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.where)]
        except FileNotFoundError:
            return []

    def write(self, rel: str, data: bytes) -> None:
        atomic_write(self.where / rel, data, 0o600)

    def stage(self, changes: dict[str, bytes | None]) -> tuple[list[tuple[Path, Path]], list[Path]]:
        """Write each changed file under a temp name; the transaction renames them into place."""
        self.create()
        renames, deletes, temps = [], [], []
        for rel, data in sorted(changes.items()):
            if data is None:
                deletes.append(self.where / rel)
            else:
                tmp = self.where / f".{rel}{TEMP_SUFFIX}"
                temps.append((tmp, data))
                renames.append((tmp, self.where / rel))
        _write_temps(temps)
        return renames, deletes

    def published(self, changes: dict[str, bytes | None]) -> None:
        pass  # reads go to the files, which hold the changes now

    def all(self) -> dict[str, bytes]:
        """Every file, for sealing; anything but plain files is refused rather than dropped."""
        files = {}
        for p in sorted(self.where.iterdir()):
            if p.is_symlink() or not p.is_file():
                raise InputError(f"{p} is not a plain file: only files can be sealed; move it out of {self.where}")
            files[p.name] = p.read_bytes()
        return files


def _write_temps(temps: list[tuple[Path, bytes]]) -> None:
    """Write and fsync each temp file (0600). A bulk import stages a key per host: its fsyncs
    are issued from a few threads at once, so the file system can commit them together
    rather than one journal commit after another."""
    if len(temps) < 8:
        for path, data in temps:
            write_temp(path, data, 0o600)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in pool.map(lambda t: write_temp(t[0], t[1], 0o600), temps):
            pass  # a failed write raises here; the next command sweeps the temps (store.recover)


class SealedFiles:
    """DIR/keys.sealed: decrypted once on first use, kept in memory, re-sealed whole by a transaction."""

    def __init__(self, path: Path, ask: Ask, files: dict[str, bytes] | None = None, key: SealKey | None = None) -> None:
        self.where = path
        self._ask = ask
        self._files, self._key = files, key
        self._lock = threading.Lock()  # converge's threads share the store: decrypt (and ask) once

    def _all(self) -> dict[str, bytes]:
        with self._lock:
            if self._files is None:
                from . import sealed

                self._files, self._key = sealed.unlock(self.where, self._ask)
            return self._files

    def load(self) -> None:
        self._all()

    def read(self, rel: str) -> bytes | None:
        return self._all().get(rel)

    def exists(self, rel: str) -> bool:
        return rel in self._all()

    def names(self) -> list[str]:
        return list(self._all())

    def stage(self, changes: dict[str, bytes | None]) -> tuple[list[tuple[Path, Path]], list[Path]]:
        """The whole blob, re-sealed with the changes, under a temp name. Read under the
        transaction's lock, so no other command's change can be lost."""
        from . import sealed

        files = _changed(self._all(), changes)
        assert self._key is not None
        tmp = self.where.with_name(f".{self.where.name}{TEMP_SUFFIX}")
        write_temp(tmp, sealed.seal_with(files, self._key, str(self.where)), 0o600)
        return [(tmp, self.where)], []

    def published(self, changes: dict[str, bytes | None]) -> None:
        """The blob on disk now holds the changes: so do the files in memory (nothing is decrypted,
        or asked, again)."""
        self._files = _changed(self._all(), changes)


def _changed(files: dict[str, bytes], changes: dict[str, bytes | None]) -> dict[str, bytes]:
    new = dict(files)
    for rel, data in changes.items():
        if data is None:
            new.pop(rel, None)
        else:
            new[rel] = data
    return new


def storage_state(inventory_dir: Path) -> str:
    """Where the secrets are: "plain" (DIR/keys/), "sealed", "both" (an interrupted change) or "none"."""
    plain, sealed_ = (inventory_dir / KEY_DIR).exists(), (inventory_dir / SEALED_FILE).exists()
    return {(True, True): "both", (True, False): "plain", (False, True): "sealed"}.get((plain, sealed_), "none")


def _interrupted(inventory_dir: Path) -> InputError:
    return InputError(
        f"both {inventory_dir / KEY_DIR} and {inventory_dir / SEALED_FILE} exist (an interrupted seal or unseal): "
        "run `meshbeam seal` or `meshbeam unseal` again to finish it"
    )


def open_files(inventory_dir: Path, ask: Ask) -> Files:
    """The storage an existing inventory uses; opening it reads nothing and asks nothing (a sealed
    one calls `ask` when it is first read)."""
    state = storage_state(inventory_dir)
    if state == "both":
        raise _interrupted(inventory_dir)
    if state == "sealed":
        return SealedFiles(inventory_dir / SEALED_FILE, ask)
    return PlainFiles(inventory_dir / KEY_DIR)
