"""Keys and the keystore under `DIR/keys/` (directory 0700, files 0600, written atomically).

Layout:
  keys/NAME.key     WireGuard private key of a member (base64, as `wg genkey` prints it)
  keys/preshared    one line per pair of members: "NAME_A NAME_B KEY" with NAME_A < NAME_B
  keys/cookie       the Erlang cookie shared by the cluster

A sealed inventory holds the same files in one encrypted `DIR/keys.sealed` (0600) instead of
`DIR/keys/` (see sealed.py); KeyStore works the same on either. Both present means a `seal` or
`unseal` was interrupted: refused until that command is run again.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import combinations
from operator import getitem
from pathlib import Path
from typing import Protocol

from . import sealed
from .errors import InputError, MeshbeamError
from .fsutil import atomic_write, create_exclusive, locked

KEY_DIR = "keys"
SEALED_FILE = "keys.sealed"
PSK_FILE = "preshared"
COOKIE_FILE = "cookie"


def clamp(raw: bytes) -> bytes:
    """Clamp a Curve25519 scalar exactly as `wg genkey` does.

    PyNaCl clamps internally when multiplying but returns the raw bytes; an unclamped key
    stored here would differ from what `wg show IF private-key` reports after loading it.
    """
    b = bytearray(raw)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return bytes(b)


def generate_private() -> str:
    return base64.b64encode(clamp(os.urandom(32))).decode()


def public_key(private_b64: str) -> str:
    from nacl.bindings import crypto_scalarmult_base  # imported lazily: keeps `--help` fast

    return base64.b64encode(crypto_scalarmult_base(base64.b64decode(private_b64))).decode()


def generate_psk() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def generate_cookie() -> str:
    """256 bits from the OS CSPRNG, URL-safe: printable ASCII well under the atom limit of 255."""
    return secrets.token_urlsafe(32)


def check_public_key(text: str, where: str) -> None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InputError(f"{where}: invalid public key (expected 32 bytes in base64)")


def check_rsa_public_key(text: str, where: str) -> None:
    if not (text.startswith("-----BEGIN RSA PUBLIC KEY-----") and text.rstrip().endswith("-----END RSA PUBLIC KEY-----")):
        raise InputError(f"{where}: invalid public key (expected a PEM RSA PUBLIC KEY for tinc)")


def new_keypair(backend: str) -> tuple[str, str]:
    """(private, public) for a member: X25519 for WireGuard, RSA PEM for tinc."""
    if backend == "tinc":
        from . import tinc

        private = tinc.generate_private_pem()
        return private, tinc.public_pem(private)
    private = generate_private()
    return private, public_key(private)


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


# -- storage: a directory of files, or the same files in one sealed blob ----------------------


class Files(Protocol):
    where: Path  # named in messages

    def load(self) -> None: ...
    def read(self, rel: str) -> bytes | None: ...
    def exists(self, rel: str) -> bool: ...
    def write(self, rel: str, data: bytes, *, exclusive: bool = False) -> None: ...
    def delete(self, rel: str) -> None: ...


class PlainFiles:
    """DIR/keys/: one 0600 file per secret, each written atomically."""

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

    def write(self, rel: str, data: bytes, *, exclusive: bool = False) -> None:
        if exclusive:
            create_exclusive(self.where / rel, data)  # FileExistsError when present
        else:
            atomic_write(self.where / rel, data, 0o600)

    def delete(self, rel: str) -> None:
        (self.where / rel).unlink(missing_ok=True)

    def all(self) -> dict[str, bytes]:
        """Every file, for sealing; anything but plain files is refused rather than dropped."""
        files = {}
        for p in sorted(self.where.iterdir()):
            if p.is_symlink() or not p.is_file():
                raise InputError(f"{p} is not a plain file: only files can be sealed; move it out of {self.where}")
            files[p.name] = p.read_bytes()
        return files


class SealedFiles:
    """DIR/keys.sealed: decrypted once on first use, kept in memory, re-sealed whole on every write."""

    def __init__(self, path: Path, files: dict[str, bytes] | None = None, key: sealed.SealKey | None = None) -> None:
        self.where = path
        self._files, self._key, self._blob = files, key, b""
        self._lock = threading.Lock()  # converge's threads share one store: ask for the passphrase once

    def _all(self, fresh: bool = False) -> dict[str, bytes]:
        """Decrypted on first use. Before a write (`fresh`) the file is read again: if another command
        changed it since (each holds the inventory lock only while writing), its change is kept, as
        every write here is a change of one file applied to the current map."""
        with self._lock:
            blob = self._blob if self._files is not None and not fresh else self._read_blob()
            if self._files is None or blob != self._blob:
                self._files, self._key = sealed.unlock(self.where, blob)
                self._blob = blob
            return self._files

    def _read_blob(self) -> bytes:
        try:
            return self.where.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{self.where} is missing") from None

    def load(self) -> None:
        self._all()

    def read(self, rel: str) -> bytes | None:
        return self._all().get(rel)

    def exists(self, rel: str) -> bool:
        return rel in self._all()

    def write(self, rel: str, data: bytes, *, exclusive: bool = False) -> None:
        files = self._all(fresh=True)
        if exclusive and rel in files:
            raise FileExistsError(rel)
        self.save({**files, rel: data})

    def delete(self, rel: str) -> None:
        files = self._all(fresh=True)
        if rel in files:
            self.save({n: d for n, d in files.items() if n != rel})

    def save(self, files: dict[str, bytes]) -> None:
        assert self._key is not None
        blob = sealed.seal_with(files, self._key, str(self.where))
        atomic_write(self.where, blob, 0o600)
        self._files, self._blob = files, blob


def _state(inventory_dir: Path) -> str:
    plain, sealed_ = (inventory_dir / KEY_DIR).exists(), (inventory_dir / SEALED_FILE).exists()
    return {(True, True): "both", (True, False): "plain", (False, True): "sealed"}.get((plain, sealed_), "none")


def _interrupted(inventory_dir: Path) -> InputError:
    return InputError(
        f"both {inventory_dir / KEY_DIR} and {inventory_dir / SEALED_FILE} exist (an interrupted seal or unseal): "
        "run `meshbeam seal` or `meshbeam unseal` again to finish it"
    )


def open_files(inventory_dir: Path) -> Files:
    """The storage an existing inventory uses; opening it reads nothing and asks nothing."""
    state = _state(inventory_dir)
    if state == "both":
        raise _interrupted(inventory_dir)
    if state == "sealed":
        return SealedFiles(inventory_dir / SEALED_FILE)
    return PlainFiles(inventory_dir / KEY_DIR)


class KeyStore:
    """Secrets of one inventory. Reads are cached; every write is atomic and 0600.

    Construction is free: the storage is looked at, and a sealed one decrypted (asking for the
    passphrase), only when a secret is first needed.
    """

    def __init__(self, inventory_dir: Path, *, seal_with: str | None = None) -> None:
        """`seal_with`: a passphrase, for `create_dir` to start a sealed keystore (init --sealed)."""
        self.dir = inventory_dir / KEY_DIR
        self._inventory = inventory_dir
        self._seal_with = seal_with
        self._backend: Files | None = None
        self._psks: dict[tuple[str, str], str] | None = None

    @property
    def _files(self) -> Files:
        if self._backend is None:
            self._backend = open_files(self._inventory)
        return self._backend

    def create_dir(self) -> None:
        """Start an empty keystore (init), sealed if `seal_with` was given. The other form, left by
        an inventory that `init --force` replaces, is removed after the new one is written."""
        sealed_path = self._inventory / SEALED_FILE
        if self._seal_with is not None:
            store = SealedFiles(sealed_path, {}, sealed.new_key(self._seal_with))
            store.save({})
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            store = PlainFiles(self.dir)
            store.create()
            sealed_path.unlink(missing_ok=True)
        self._backend, self._psks = store, None

    def unlock(self) -> None:
        """Ask for the passphrase now (if sealed), e.g. before a progress display takes the terminal."""
        self._files.load()

    # -- member keys -----------------------------------------------------------------------

    def store_member_key(self, name: str, private: str) -> None:
        """Store NAME's private key; an existing key is never overwritten."""
        try:
            self._files.write(f"{name}.key", (private + "\n").encode(), exclusive=True)
        except FileExistsError:
            raise InputError(
                f"a private key for {name!r} already exists in {self._files.where}; remove the member first"
            ) from None

    def has_member_key(self, name: str) -> bool:
        return self._files.exists(f"{name}.key")

    def private_key(self, name: str) -> str:
        data = self._files.read(f"{name}.key")
        if data is None:
            raise InputError(f"the private key of {name!r} is missing from {self._files.where}")
        return data.decode().strip()

    # -- preshared keys --------------------------------------------------------------------

    def psks(self) -> dict[tuple[str, str], str]:
        if self._psks is None:
            # One split of the whole file: at 1000 members it holds 499,500 lines.
            words = iter((self._files.read(PSK_FILE) or b"").decode().split())
            self._psks = {(a, b): key for a, b, key in zip(words, words, words)}
        return self._psks

    def psk_rows(self, names: Sequence[str]) -> Iterator[list[bytes]]:
        """For each of `names` in turn, its preshared key with each of `names` (b"" with itself).

        For rendering a whole mesh, so in bytes: the file is never decoded and the configs
        never encoded (191 MB at 1000 members). The file is written sorted, so for sorted
        names it is the upper triangle row by row: slices give each row's right part, and
        the left part is the column above it. That skips the 499,500-entry pair dict (0.35 s
        at 1000 members), and rows are built one at a time. The file is checked before the
        first row.
        """
        order = sorted(names)
        text = self._files.read(PSK_FILE) or b""
        upper: list[list[bytes]] = []  # row i: the keys of order[i] with each later name
        start = 0
        encoded = [name.encode() for name in order]
        for i, a in enumerate(encoded):
            later = encoded[i + 1:]
            # Row i is the lines "a b KEY" for b in `later`; a KEY is 44 characters of base64.
            # Split one row at a time: the whole file at once was 1.5 million objects at 1000
            # members, most of render's memory.
            end = start + sum(map(len, later)) + len(later) * (len(a) + 47)
            words = text[start:end].split()
            start = end
            if words[0::3] != [a] * len(later) or words[1::3] != later:
                break
            upper.append(words[2::3])
        if len(upper) != len(order) or start != len(text):
            raise InputError(f"the preshared keys in {self._files.where} do not match the members; "
                             "run `meshbeam rotate-keys --all` to make new ones")
        index = {name: i for i, name in enumerate(order)}
        positions = [index[name] for name in names]
        in_order = positions == list(range(len(positions)))  # names already sorted: no reordering

        def rows() -> Iterator[list[bytes]]:
            for i in positions:
                column = map(getitem, upper[:i], range(i - 1, -1, -1))  # upper[j][i - j - 1] for j < i
                full = [*column, b"", *upper[i]]
                yield full if in_order else list(map(full.__getitem__, positions))

        return rows()

    def psk(self, a: str, b: str) -> str:
        try:
            return self.psks()[pair(a, b)]
        except KeyError:
            raise InputError(f"no preshared key for {a} and {b}; run the command that adds them again") from None

    def sync_psks(self, names: Iterable[str]) -> None:
        """Ensure a preshared key for every pair of `names` and drop (destroy) all others."""
        wanted = {pair(a, b) for a, b in combinations(sorted(set(names)), 2)}
        current = self.psks()
        new = {p: current.get(p) or generate_psk() for p in sorted(wanted)}
        if new != current:
            self._write_psks(new)

    def _write_psks(self, psks: dict[tuple[str, str], str]) -> None:
        text = "".join(f"{a} {b} {k}\n" for (a, b), k in sorted(psks.items()))
        self._files.write(PSK_FILE, text.encode())
        self._psks = dict(psks)

    # -- cookie ----------------------------------------------------------------------------

    def create_cookie(self) -> None:
        self._files.write(COOKIE_FILE, (generate_cookie() + "\n").encode())

    def cookie(self) -> str:
        data = self._files.read(COOKIE_FILE)
        if data is None:
            raise InputError(f"the cluster cookie is missing from {self._files.where}")
        return data.decode().strip()

    # -- rotation --------------------------------------------------------------------------

    def rotate(self, new_private: dict[str, str], members: Iterable[str]) -> None:
        """Replace the private keys in `new_private` and every preshared key of a pair that
        touches one of them; the old keys are overwritten, so they are destroyed."""
        for name, private in new_private.items():
            self._files.write(f"{name}.key", (private + "\n").encode())
        kept = {p: k for p, k in self.psks().items() if not set(p) & set(new_private)}
        self._write_psks(kept)
        self.sync_psks(members)

    # -- removal ---------------------------------------------------------------------------

    def forget(self, name: str, remaining: Iterable[str]) -> None:
        """Destroy NAME's private key and every preshared key it shared."""
        self.sync_psks(remaining)
        self._files.delete(f"{name}.key")


# -- seal / unseal a whole inventory -----------------------------------------------------------
# Order matters: the new form is written and made durable before the old one is removed, so a
# crash leaves at worst both (which KeyStore refuses, and running the command again finishes).


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def seal_inventory(inventory_dir: Path) -> Path:
    """Encrypt DIR/keys/ into DIR/keys.sealed, check it reads back, then remove DIR/keys/."""
    _require_inventory(inventory_dir)
    keys_dir, sealed_path = inventory_dir / KEY_DIR, inventory_dir / SEALED_FILE
    with locked(inventory_dir):
        state = _state(inventory_dir)
        if state == "sealed":
            raise InputError(f"{inventory_dir} is already sealed ({sealed_path})")
        if state == "none":
            raise InputError(f"nothing to seal: {keys_dir} does not exist")
        if state == "both":
            _check_leftover(inventory_dir, sealed.unlock(sealed_path)[0])
        else:
            files = PlainFiles(keys_dir).all()
            value = sealed.new_passphrase(sealed_path)
            atomic_write(sealed_path, sealed.seal(files, value), 0o600)
            _fsync_dir(inventory_dir)
            if sealed.unseal(sealed_path.read_bytes(), value, str(sealed_path)) != files:
                sealed_path.unlink()
                raise MeshbeamError(f"{sealed_path} did not read back as written; removed it and kept {keys_dir}")
        shutil.rmtree(keys_dir)
        _fsync_dir(inventory_dir)
    return sealed_path


def unseal_inventory(inventory_dir: Path) -> Path:
    """Decrypt DIR/keys.sealed into DIR/keys/ (0700, files 0600), then remove DIR/keys.sealed."""
    _require_inventory(inventory_dir)
    keys_dir, sealed_path = inventory_dir / KEY_DIR, inventory_dir / SEALED_FILE
    with locked(inventory_dir):
        state = _state(inventory_dir)
        if state in ("plain", "none"):
            raise InputError(f"{inventory_dir} is not sealed (no {sealed_path})")
        files = sealed.unlock(sealed_path)[0]  # a wrong passphrase stops here, before any write
        if state == "both":
            _check_leftover(inventory_dir, files)
        plain = PlainFiles(keys_dir)
        plain.create()
        for rel, data in sorted(files.items()):
            plain.write(rel, data)
        _fsync_dir(keys_dir)
        _fsync_dir(inventory_dir)
        sealed_path.unlink()
        _fsync_dir(inventory_dir)
    return keys_dir
