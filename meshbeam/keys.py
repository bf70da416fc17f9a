"""Keys and the keystore under `DIR/keys/` (directory 0700, files 0600).

Layout:
  keys/NAME.key     private key of a member (WireGuard: base64, as `wg genkey` prints it)
  keys/psk-secret   32 random bytes (base64): every pair's preshared key is derived from it
  keys/cookie       the Erlang cookie shared by the cluster

A pair's preshared key is BLAKE2b keyed with the secret over a domain label and the two
public keys in sorted order (`derive_psk`). A keyed BLAKE2b is a PRF: without the secret the
keys are as unpredictable as 32 random bytes each, and the secret never leaves the
operator's machine (hosts receive only their own derived keys). So a new member has keys
with everyone without any write, a removed member's keys stop being used with its public
key, and replacing the secret replaces every pair's key at once.

Before derived keys the store held `keys/preshared`, one stored key per pair (n(n-1)/2 lines,
rewritten by every change). Migration rotates at once: the first command that changes the
inventory writes a new secret and destroys that file, so every pair gets a new key, rolled
out by the next `up` (like `rotate-keys --psk`). Keeping the stored keys until a later
rotation would have kept the whole-file rewrite on every add and remove, and the old pairs
of removed members on disk; until then, commands that need preshared keys say how to move.

KeyStore works the same on `DIR/keys/` and on a sealed inventory's `DIR/keys.sealed` (keyfiles.py,
which also holds each file's encoding). A command opens one KeyStore and passes it down, so a
sealed inventory is decrypted, and its passphrase asked for, once.

Writes are staged in the KeyStore and made durable by a transaction (store.py), which
publishes them together with mesh.yaml.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from operator import getitem
from pathlib import Path

from . import backends
from .errors import InputError
from .keyfiles import (KEY_DIR, SEALED_FILE, SECRET_BYTES, Ask, Files, PlainFiles, SealedFiles, decode_secret,
                       decode_text, encode_secret, encode_text, open_files)
from .keyfiles import raw_key as _raw_key

PSK_SECRET_FILE = "psk-secret"
LEGACY_PSK_FILE = "preshared"  # one stored key per pair: the format before derived keys
COOKIE_FILE = "cookie"
PSK_LABEL = b"meshbeam psk v1"  # fixed length, then two 32-byte keys: the message is unambiguous


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


def generate_cookie() -> str:
    """256 bits from the OS CSPRNG in hex: never a leading '-', which erl's -setcookie (and a mix
    release's --cookie, which becomes it) takes for the next flag, booting with another cookie."""
    return secrets.token_hex(32)


def check_public_key(text: str, where: str) -> None:
    if _raw_key(text) is None:
        raise InputError(f"{where}: invalid public key (expected 32 bytes in base64)")


def new_keypair(backend: str) -> tuple[str, str]:
    """(private, public) for a member: X25519 for WireGuard, RSA PEM for tinc."""
    if backends.of(backend).rsa_keys:
        from . import tinc

        private = tinc.generate_private_pem()
        return private, tinc.public_pem(private)
    private = generate_private()
    return private, public_key(private)


def _psk_hash(secret: bytes) -> hashlib.blake2b:
    """The keyed hash with the label absorbed: each pair continues a copy of it."""
    h = hashlib.blake2b(key=secret, digest_size=32)
    h.update(PSK_LABEL)
    return h


def _pair_key(base: hashlib.blake2b, low: bytes, high: bytes) -> bytes:
    h = base.copy()
    h.update(low)
    h.update(high)
    return binascii.b2a_base64(h.digest(), newline=False)


def _raw_public(text: str) -> bytes:
    raw = _raw_key(text)
    if raw is None:
        raise InputError(f"invalid public key {text[:12]!r}...: preshared keys need 32-byte WireGuard keys")
    return raw


def derive_psk(secret: bytes, a: str, b: str) -> str:
    """The preshared key of the members with public keys `a` and `b` (base64, as WireGuard wants);
    symmetric: the two keys are sorted before hashing."""
    low, high = sorted((_raw_public(a), _raw_public(b)))
    return _pair_key(_psk_hash(secret), low, high).decode()


# -- storage: a directory of files, or the same files in one sealed blob ----------------------


def _no_passphrase(path: Path) -> str:
    raise InputError(f"{path} is sealed and no passphrase was given")


class KeyStore:
    """Secrets of one inventory. Reads are cached; writes are staged until a transaction
    (store.py) commits them.

    Construction is free: the storage is looked at, and a sealed one decrypted (calling
    `passphrase`), only when a secret is first needed; after that, never again.
    """

    def __init__(self, inventory_dir: Path, *, passphrase: Ask = _no_passphrase, seal_with: str | None = None) -> None:
        """`passphrase(path)`: the passphrase of a sealed keystore, from whoever runs the command.
        `seal_with`: a new passphrase, for `create` to start a sealed keystore (init --sealed)."""
        self.inventory = inventory_dir
        self.dir = inventory_dir / KEY_DIR
        self._ask = passphrase
        self._seal_with = seal_with
        self._backend: Files | None = None
        self._pending: dict[str, bytes | None] = {}
        self._base: hashlib.blake2b | None = None

    @property
    def _files(self) -> Files:
        if self._backend is None:
            self._backend = open_files(self.inventory, self._ask)
        return self._backend

    @property
    def where(self) -> Path:
        return self._files.where

    def create(self) -> None:
        """Start an empty keystore (init), sealed if `seal_with` was given, with a cookie and a
        preshared-key secret. Written by the transaction's commit."""
        if self._seal_with is not None:
            from . import sealed

            key = sealed.new_key(self._seal_with)
            self._backend = SealedFiles(self.inventory / SEALED_FILE, self._ask, {}, key)
        else:
            self._backend = PlainFiles(self.dir)
        self._pending = {COOKIE_FILE: encode_text(generate_cookie())}
        self.new_psk_secret()

    def unlock(self) -> None:
        """Ask for the passphrase now (if sealed), e.g. before a progress display takes the
        terminal, and check the preshared-key secret (an old-format keystore stops here)."""
        self._files.load()
        self._psk_base()

    def _read(self, rel: str) -> bytes | None:
        if rel in self._pending:
            return self._pending[rel]
        return self._files.read(rel)

    # -- member keys -----------------------------------------------------------------------

    def put_member_key(self, name: str, private: str) -> None:
        """Stage NAME's private key (new, or replacing a rotated one)."""
        self._pending[f"{name}.key"] = encode_text(private)

    def drop_member_key(self, name: str) -> None:
        self._pending[f"{name}.key"] = None

    def private_key(self, name: str) -> str:
        data = self._read(f"{name}.key")
        if data is None:
            raise InputError(f"the private key of {name!r} is missing from {self.where}")
        return decode_text(data)

    def key_owners(self) -> set[str]:
        """Names that have a private key once the staged changes are written (a transaction
        compares them with the members)."""
        files = {n for n in self._files.names() if not n.startswith(".")}
        files.update(rel for rel, data in self._pending.items() if data is not None)
        files.difference_update(rel for rel, data in self._pending.items() if data is None)
        return {n[:-4] for n in files if n.endswith(".key")}

    # -- preshared keys --------------------------------------------------------------------

    def new_psk_secret(self) -> None:
        """Stage a new secret, which replaces every pair's preshared key, and destroy stored
        keys of the old format."""
        self._pending[PSK_SECRET_FILE] = encode_secret(os.urandom(SECRET_BYTES))
        if LEGACY_PSK_FILE in self._pending or self._files.exists(LEGACY_PSK_FILE):
            self._pending[LEGACY_PSK_FILE] = None
        self._base = None

    def new_cookie(self) -> None:
        """Stage a new cluster cookie."""
        self._pending[COOKIE_FILE] = encode_text(generate_cookie())

    def needs_psk_migration(self) -> bool:
        """True for a keystore of the old format (stored keys per pair, or no secret)."""
        return self._read(PSK_SECRET_FILE) is None or self._read(LEGACY_PSK_FILE) is not None

    def _psk_base(self) -> hashlib.blake2b:
        if self._base is None:
            data = self._read(PSK_SECRET_FILE)
            if data is None:
                if self._read(LEGACY_PSK_FILE) is not None:
                    raise InputError(
                        f"{self.where} still stores one preshared key per pair (the format before derived keys): "
                        "any command that changes the inventory moves it to derived keys, "
                        "`meshbeam rotate-keys --psk` does only that; every tunnel gets a new preshared key "
                        "at the next `up`"
                    )
                raise InputError(f"the preshared-key secret is missing from {self.where}; "
                                 "`meshbeam rotate-keys --psk` makes a new one")
            secret = decode_secret(data)
            if secret is None:
                raise InputError(f"{self.where}: {PSK_SECRET_FILE} is damaged (expected 32 bytes in base64)")
            self._base = _psk_hash(secret)
        return self._base

    def psk(self, a: str, b: str) -> str:
        """The preshared key of the members with public keys `a` and `b`."""
        low, high = sorted((_raw_public(a), _raw_public(b)))
        return _pair_key(self._psk_base(), low, high).decode()

    def psk_rows(self, public_keys: Sequence[str], which: Iterable[int] | None = None) -> Iterator[list[bytes]]:
        """For the member at each index of `which` (default: all, in order) in `public_keys`, its
        preshared key with each member (b"" with itself): for rendering a whole mesh, or one
        process's share of it. Each key is in bytes and ends with a newline, as its line in a
        config does: b2a_base64 adds one unless told not to by a keyword argument, which passed
        once per key would cost a good part of the hashing's time.

        Each member's hash state, with the label and its key absorbed, is made once; a pair's key
        continues a copy of the state of whichever key sorts first. A pair of two chosen members
        is derived once, before the first row, and kept; a pair with a member not chosen is
        derived in its row. So all rows take n(n-1)/2 digests, and one of two equal shares 3/8
        of n^2. Copies, updates and digests run as maps: C loops, as one Python step per pair
        costs more than the hash. The secret is checked before the first row.
        """
        raw = [_raw_public(k) for k in public_keys]
        base = self._psk_base()
        chosen = list(range(len(raw))) if which is None else list(which)
        mine = sorted(set(chosen), key=raw.__getitem__)
        others = sorted(set(range(len(raw))).difference(chosen), key=raw.__getitem__)
        blake2b = type(base)

        def absorbed(indices: list[int]) -> list[hashlib.blake2b]:
            states = list(map(blake2b.copy, repeat(base, len(indices))))
            deque(map(blake2b.update, states, map(raw.__getitem__, indices)), maxlen=0)  # runs the updates
            return states

        def keys(states: Iterable[hashlib.blake2b], then: Iterable[bytes]) -> list[bytes]:
            """The keys of the pairs whose hashes continue `states` with `then`."""
            copies = list(map(blake2b.copy, states))
            deque(map(blake2b.update, copies, then), maxlen=0)
            return list(map(binascii.b2a_base64, map(blake2b.digest, copies)))

        mine_keys, other_keys = [raw[i] for i in mine], [raw[i] for i in others]
        mine_states, other_states = absorbed(mine), absorbed(others)
        # upper[t]: the keys of the chosen member ranked t with each later chosen one
        upper = [keys(repeat(state, len(mine) - t - 1), mine_keys[t + 1:]) for t, state in enumerate(mine_states)]
        # A row is built with its keys in the order others + mine (each by key), then put in member order.
        rank = {i: t for t, i in enumerate(mine)}
        place = [0] * len(raw)
        for p, i in enumerate(others + mine):
            place[i] = p

        def row(i: int) -> list[bytes]:
            t, key = rank[i], raw[i]
            below = bisect_left(other_keys, key)
            built = [*keys(other_states[:below], repeat(key)),
                     *keys(repeat(mine_states[t], len(others) - below), other_keys[below:]),
                     *map(getitem, upper[:t], range(t - 1, -1, -1)),  # upper[s][t - s - 1] for s < t
                     b"", *upper[t]]
            return list(map(built.__getitem__, place))

        return map(row, chosen)

    # -- cookie ----------------------------------------------------------------------------

    def cookie(self) -> str:
        data = self._read(COOKIE_FILE)
        if data is None:
            raise InputError(f"the cluster cookie is missing from {self.where}")
        return decode_text(data)

    # -- commit (by store.transaction) -----------------------------------------------------

    @property
    def changed(self) -> bool:
        return bool(self._pending)

    def stage(self) -> tuple[list[tuple[Path, Path]], list[Path]]:
        """Write the staged changes under temp names: (temp, final) renames and paths to delete."""
        return self._files.stage(self._pending) if self._pending else ([], [])

    def committed(self) -> None:
        """The transaction published the changes: the storage holds them now."""
        self._files.published(self._pending)
        self._pending = {}

