"""`meshbeam seal` and `unseal`: an inventory's secrets moved between DIR/keys/ and DIR/keys.sealed.

Each step is ordered so that an interruption leaves both copies, which the next run checks
against each other and finishes; never neither. Passphrases come from the caller (the CLI).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import sealed
from .errors import InputError, MeshbeamError
from .fsutil import atomic_write, fsync_dir, locked
from .keyfiles import KEY_DIR, SEALED_FILE, Ask, PlainFiles, storage_state
from .store import recover


def _check_leftover(inventory_dir: Path, files: dict[str, bytes]) -> None:
    """After an interruption DIR/keys/ must be a (partial) copy of the blob; anything else is not ours to pick."""
    keys_dir = inventory_dir / KEY_DIR
    if any(files.get(rel) != data for rel, data in PlainFiles(keys_dir).all().items()):
        raise InputError(
            f"{keys_dir} and {inventory_dir / SEALED_FILE} hold different secrets; "
            "keep the right one and move the other away"
        )


def _require_inventory(inventory_dir: Path) -> None:
    if not inventory_dir.is_dir():
        raise InputError(f"no inventory at {inventory_dir}")


def seal_inventory(inventory_dir: Path, *, ask: Ask, ask_new: Ask) -> Path:
    """Encrypt DIR/keys/ into DIR/keys.sealed, check it reads back, then remove DIR/keys/.
    `ask_new`: a passphrase to seal with; `ask`: the passphrase of the DIR/keys.sealed an
    interrupted seal left (the leftover DIR/keys/ is checked against it)."""
    _require_inventory(inventory_dir)
    keys_dir, sealed_path = inventory_dir / KEY_DIR, inventory_dir / SEALED_FILE
    with locked(inventory_dir):
        recover(inventory_dir)  # an interrupted change is finished first, its temp files swept
        state = storage_state(inventory_dir)
        if state == "sealed":
            raise InputError(f"{inventory_dir} is already sealed ({sealed_path})")
        if state == "none":
            raise InputError(f"nothing to seal: {keys_dir} does not exist")
        if state == "both":
            _check_leftover(inventory_dir, sealed.unlock(sealed_path, ask)[0])
        else:
            files, where = PlainFiles(keys_dir).all(), str(sealed_path)
            key = sealed.new_key(ask_new(sealed_path))
            atomic_write(sealed_path, sealed.seal_with(files, key, where), 0o600)
            fsync_dir(inventory_dir)
            if sealed.open_with(sealed.parse(sealed_path.read_bytes(), where), key, where) != files:
                sealed_path.unlink()
                raise MeshbeamError(f"{sealed_path} did not read back as written; removed it and kept {keys_dir}")
        shutil.rmtree(keys_dir)
        fsync_dir(inventory_dir)
    return sealed_path


def unseal_inventory(inventory_dir: Path, *, ask: Ask) -> Path:
    """Decrypt DIR/keys.sealed into DIR/keys/ (0700, files 0600), then remove DIR/keys.sealed."""
    _require_inventory(inventory_dir)
    keys_dir, sealed_path = inventory_dir / KEY_DIR, inventory_dir / SEALED_FILE
    with locked(inventory_dir):
        state = storage_state(inventory_dir)
        if state in ("plain", "none"):
            raise InputError(f"{inventory_dir} is not sealed (no {sealed_path})")
        files = sealed.unlock(sealed_path, ask)[0]  # a wrong passphrase stops here, before any write
        if state == "both":
            _check_leftover(inventory_dir, files)
        plain = PlainFiles(keys_dir)
        plain.create()
        for rel, data in sorted(files.items()):
            plain.write(rel, data)
        fsync_dir(keys_dir)
        fsync_dir(inventory_dir)
        sealed_path.unlink()
        fsync_dir(inventory_dir)
    return keys_dir
