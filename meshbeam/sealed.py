"""Secrets at rest: the files of DIR/keys/ sealed into one blob with a passphrase.

Format of DIR/keys.sealed (text, so git stores and diffs it as text):

    MBSEAL1
    {"check": B64, "kdf": "argon2id", "memlimit": N, "opslimit": N, "salt": B64}
    B64(SecretBox ciphertext: nonce + MAC + payload)

Argon2id(passphrase, salt) gives 48 bytes: the first 32 are the SecretBox key, the last 16 are
`check`, stored in the header so that a wrong passphrase can be told from a damaged file. It
gives an attacker nothing the MAC would not: either way each guess costs one Argon2id.
The payload is JSON {"files": {NAME: B64(bytes)}} with sorted keys: deterministic.

PyNaCl is imported lazily: `meshbeam --help` and `list` must not load it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

MAGIC = b"MBSEAL1\n"
ENV = "MESHBEAM_PASSPHRASE"
# OPSLIMIT_MODERATE / MEMLIMIT_MODERATE of libsodium: 256 MiB and a noticeable fraction of a
# second per derivation (see BENCHMARKS.md), paid once per command (derivations are memoized below).
OPSLIMIT = 3
MEMLIMIT = 256 * 1024 * 1024
# Limits accepted when reading: a crafted header must not make us allocate unbounded memory.
MAX_OPSLIMIT = 10
MAX_MEMLIMIT = 1024 * 1024 * 1024  # MEMLIMIT_SENSITIVE
SALT_BYTES = 16
KEY_BYTES = 32
CHECK_BYTES = 16
# File names inside the blob: unsealing writes them into DIR/keys/, so no path may escape it.
NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]{1,255}")


@dataclass(frozen=True)
class SealKey:
    """A derived key with the parameters that produced it, reused for every re-seal of one file."""

    salt: bytes
    opslimit: int
    memlimit: int
    key: bytes
    check: bytes


@dataclass(frozen=True)
class Parsed:
    salt: bytes
    opslimit: int
    memlimit: int
    check: bytes
    box: bytes


# -- keys -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    """Memoized: one command builds several KeyStores over the same file; derive once."""
    from nacl.pwhash import argon2id

    return argon2id.kdf(KEY_BYTES + CHECK_BYTES, passphrase.encode(), salt, opslimit, memlimit)


def derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> SealKey:
    out = _derive(passphrase, salt, opslimit, memlimit)
    return SealKey(salt, opslimit, memlimit, out[:KEY_BYTES], out[KEY_BYTES:])


def new_key(passphrase: str) -> SealKey:
    """A fresh salt: every `seal` (and `init --sealed`) starts from new key material."""
    return derive(passphrase, os.urandom(SALT_BYTES), OPSLIMIT, MEMLIMIT)


# -- blob -----------------------------------------------------------------------------------


def _check_names(names: Iterable[object], where: str) -> None:
    for name in names:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise InputError(f"{where}: invalid file name {name!r} (letters, digits, '.', '_', '-' only)")


def seal_with(files: dict[str, bytes], key: SealKey, where: str = "sealed keys") -> bytes:
    """Encrypt `files` under an existing key; SecretBox picks a fresh random nonce each time."""
    from nacl.secret import SecretBox

    _check_names(files, where)
    payload = json.dumps(
        {"files": {n: base64.b64encode(d).decode() for n, d in files.items()}}, sort_keys=True, separators=(",", ":")
    ).encode()
    header = {
        "check": base64.b64encode(key.check).decode(),
        "kdf": "argon2id",
        "memlimit": key.memlimit,
        "opslimit": key.opslimit,
        "salt": base64.b64encode(key.salt).decode(),
    }
    box = bytes(SecretBox(key.key).encrypt(payload))
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + base64.b64encode(box) + b"\n"


def seal(files: dict[str, bytes], passphrase: str) -> bytes:
    return seal_with(files, new_key(passphrase))


def parse(blob: bytes, where: str) -> Parsed:
    """Check the framing before any passphrase is asked for: a damaged file fails fast."""
    damaged = InputError(f"{where} is damaged (truncated or not a meshbeam sealed file)")
    parts = blob.split(b"\n")
    # A complete file is exactly magic, header, body and a final newline: truncation drops the last.
    if len(parts) != 4 or parts[0] + b"\n" != MAGIC or parts[3] != b"":
        raise damaged
    try:
        h = json.loads(parts[1])
        parsed = Parsed(
            salt=base64.b64decode(h["salt"], validate=True),
            opslimit=int(h["opslimit"]),
            memlimit=int(h["memlimit"]),
            check=base64.b64decode(h["check"], validate=True),
            box=base64.b64decode(parts[2], validate=True),
        )
        ok = h["kdf"] == "argon2id"
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise damaged from None
    if not ok or len(parsed.salt) != SALT_BYTES or len(parsed.check) != CHECK_BYTES or len(parsed.box) < 40:
        raise damaged
    if not (1 <= parsed.opslimit <= MAX_OPSLIMIT and 8192 <= parsed.memlimit <= MAX_MEMLIMIT):
        raise InputError(
            f"{where}: unsupported Argon2id parameters (opslimit {parsed.opslimit}, memlimit {parsed.memlimit})"
        )
    return parsed


def open_parsed(parsed: Parsed, passphrase: str, where: str) -> tuple[dict[str, bytes], SealKey]:
    """Decrypt; returns the files and the key, so the caller can re-seal without deriving again."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    key = derive(passphrase, parsed.salt, parsed.opslimit, parsed.memlimit)
    if not hmac.compare_digest(key.check, parsed.check):
        raise InputError(f"wrong passphrase for {where}")
    try:
        payload = json.loads(SecretBox(key.key).decrypt(parsed.box))
        files = {n: base64.b64decode(d, validate=True) for n, d in payload["files"].items()}
    except CryptoError:
        raise InputError(f"{where} is damaged: the passphrase is right but the contents fail authentication") from None
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise InputError(f"{where} is damaged: unreadable contents") from None
    _check_names(files, where)
    return files, key


def unseal(blob: bytes, passphrase: str, where: str = "sealed keys") -> dict[str, bytes]:
    return open_parsed(parse(blob, where), passphrase, where)[0]


# -- passphrases ----------------------------------------------------------------------------

_prompted: dict[Path, str] = {}  # typed in this process and proven right: never asked twice


def _no_source(path: Path) -> InputError:
    return InputError(f"{path} is sealed: set {ENV} or run in a terminal to type the passphrase")


def passphrase(path: Path) -> str:
    """The passphrase of an existing sealed file: the environment, else a prompt on a terminal."""
    if os.environ.get(ENV):
        return os.environ[ENV]
    if path.resolve() in _prompted:
        return _prompted[path.resolve()]
    if not sys.stdin.isatty():
        raise _no_source(path)
    import getpass

    return getpass.getpass(f"passphrase for {path}: ")


def remember(path: Path, value: str) -> None:
    """Called once `value` opened `path`; a value from the environment needs no remembering."""
    if os.environ.get(ENV) != value:
        _prompted[path.resolve()] = value


def new_passphrase(path: Path) -> str:
    """A passphrase to seal with: the environment, else typed twice on a terminal."""
    if os.environ.get(ENV):
        return os.environ[ENV]
    if not sys.stdin.isatty():
        raise InputError(f"sealing {path} needs a passphrase: set {ENV} or run in a terminal")
    import getpass

    first = getpass.getpass(f"new passphrase for {path}: ")
    if not first:
        raise InputError("an empty passphrase seals nothing; nothing was written")
    if getpass.getpass("the same passphrase again: ") != first:
        raise InputError("the two passphrases differ; nothing was written")
    return first


def unlock(path: Path, blob: bytes | None = None) -> tuple[dict[str, bytes], SealKey]:
    """Check, ask for the passphrase, decrypt: the files of a sealed keystore (`blob`, else read
    from `path`) and its key."""
    if blob is None:
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path} is missing") from None
    parsed = parse(blob, str(path))
    value = passphrase(path)
    files, key = open_parsed(parsed, value, str(path))
    remember(path, value)
    return files, key
