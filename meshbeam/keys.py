"""Keys and the keystore under `DIR/keys/` (directory 0700, files 0600, written atomically).

Layout:
  keys/NAME.key     WireGuard private key of a member (base64, as `wg genkey` prints it)
  keys/preshared    one line per pair of members: "NAME_A NAME_B KEY" with NAME_A < NAME_B
  keys/cookie       the Erlang cookie shared by the cluster
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

from .errors import InputError
from .fsutil import atomic_write, create_exclusive

KEY_DIR = "keys"
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


class KeyStore:
    """Secrets of one inventory. Reads are cached; every write is atomic and 0600."""

    def __init__(self, inventory_dir: Path) -> None:
        self.dir = inventory_dir / KEY_DIR
        self._psks: dict[tuple[str, str], str] | None = None

    def create_dir(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)

    # -- member keys -----------------------------------------------------------------------

    def _key_path(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    def store_member_key(self, name: str, private: str) -> None:
        """Store NAME's private key; an existing key is never overwritten."""
        try:
            create_exclusive(self._key_path(name), private + "\n")
        except FileExistsError:
            raise InputError(
                f"a private key for {name!r} already exists in {self.dir}; remove the member first"
            ) from None

    def has_member_key(self, name: str) -> bool:
        return self._key_path(name).exists()

    def private_key(self, name: str) -> str:
        try:
            return self._key_path(name).read_text().strip()
        except FileNotFoundError:
            raise InputError(f"the private key of {name!r} is missing from {self.dir}") from None

    # -- preshared keys --------------------------------------------------------------------

    def psks(self) -> dict[tuple[str, str], str]:
        if self._psks is None:
            self._psks = {}
            path = self.dir / PSK_FILE
            if path.exists():
                for line in path.read_text().splitlines():
                    a, b, key = line.split()
                    self._psks[(a, b)] = key
        return self._psks

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
        atomic_write(self.dir / PSK_FILE, text, 0o600)
        self._psks = dict(psks)

    # -- cookie ----------------------------------------------------------------------------

    def create_cookie(self) -> None:
        atomic_write(self.dir / COOKIE_FILE, generate_cookie() + "\n", 0o600)

    def cookie(self) -> str:
        try:
            return (self.dir / COOKIE_FILE).read_text().strip()
        except FileNotFoundError:
            raise InputError(f"the cluster cookie is missing from {self.dir}") from None

    # -- removal ---------------------------------------------------------------------------

    def forget(self, name: str, remaining: Iterable[str]) -> None:
        """Destroy NAME's private key and every preshared key it shared."""
        self.sync_psks(remaining)
        self._key_path(name).unlink(missing_ok=True)
