"""Secrets at rest: the files of DIR/keys/ sealed into one blob with a passphrase.

Format of DIR/keys.sealed (text, so git stores and diffs it as text):

    MBSEAL1
    {"check": B64, "kdf": "argon2id", "memlimit": N, "opslimit": N, "salt": B64}
    B64(SecretBox ciphertext: nonce + MAC + payload)

Argon2id(passphrase, salt) gives 48 bytes: the first 32 are the SecretBox key, the last 16 are
`check`, stored in the header so that a wrong passphrase can be told from a damaged file. It
gives an attacker nothing the MAC would not: either way each guess costs one Argon2id.
The payload is JSON {"files": {NAME: B64(bytes)}} with sorted keys: deterministic.

The codec: `seal_with` encodes, `parse` + `open_parsed` (or `open_with` and a known key) decode.
The passphrase comes from the caller (`unlock`'s `ask`): the CLI decides how to obtain it.
PyNaCl is imported lazily: `meshbeam --help` and `list` must not load it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

MAGIC = b"MBSEAL1\n"
# OPSLIMIT_MODERATE / MEMLIMIT_MODERATE of libsodium: 256 MiB and a noticeable fraction of a
# second per derivation (see BENCHMARKS.md), paid once per command: a command opens one KeyStore,
# which keeps the derived key for its re-seals.
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


def derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> SealKey:
    from nacl.pwhash import argon2id

    out = argon2id.kdf(KEY_BYTES + CHECK_BYTES, passphrase.encode(), salt, opslimit, memlimit)
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
    """Derive the key and decrypt; returns the files and the key, so the caller can re-seal without
    deriving again."""
    key = derive(passphrase, parsed.salt, parsed.opslimit, parsed.memlimit)
    return open_with(parsed, key, where), key


def open_with(parsed: Parsed, key: SealKey, where: str) -> dict[str, bytes]:
    """Decrypt with a derived key (e.g. to read back what was just sealed with it)."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

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
    return files


def unlock(path: Path, ask: Callable[[Path], str]) -> tuple[dict[str, bytes], SealKey]:
    """Read and check the framing, then `ask` for the passphrase (once) and decrypt: the files of a
    sealed keystore and its key."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} is missing") from None
    return open_parsed(parse(blob, str(path)), ask(path), str(path))
