"""Secrets at rest: DIR/keys.sealed instead of DIR/keys/, through the format, the KeyStore and the CLI."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshbeam import inventory, keys, sealed
from meshbeam.cli import app
from meshbeam.cli_common import PASSPHRASE_ENV
from meshbeam.errors import InputError
from meshbeam.keys import KeyStore

PW = "correct horse battery staple"
SECRET_FILES = {"cookie": b"c00kie\n", "s1.key": b"k1\n", "preshared": b"", "bin": bytes(range(256))}


@pytest.fixture
def real_kdf() -> None:
    """Requested by a test that wants Argon2id at its real cost."""


@pytest.fixture(autouse=True)
def cheap_kdf_and_clean_env(monkeypatch, request):
    """Argon2id at its minimum except where a test asks for the real cost; no inherited passphrase."""
    if "real_kdf" not in request.fixturenames:
        monkeypatch.setattr(sealed, "OPSLIMIT", 1)
        monkeypatch.setattr(sealed, "MEMLIMIT", 8192)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def seal(files: dict[str, bytes], passphrase: str = PW) -> bytes:
    return sealed.seal_with(files, sealed.new_key(passphrase))


def unseal(blob: bytes, passphrase: str = PW, where: str = "sealed keys") -> dict[str, bytes]:
    return sealed.open_parsed(sealed.parse(blob, where), passphrase, where)[0]


def run(*args: str, passphrase: str | None = PW):
    """The CLI with MESHBEAM_PASSPHRASE set (or unset with None); CliRunner's stdin is never a TTY."""
    return CliRunner().invoke(app, list(args), env={PASSPHRASE_ENV: passphrase})


def ok(*args: str, passphrase: str | None = PW):
    r = run(*args, passphrase=passphrase)
    assert r.exit_code == 0, r.output
    return r


def one_line_error(r, needle: str) -> str:
    assert r.exit_code == 2, r.output
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    return lines[0]


def snapshot(d: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(d)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir", p.stat().st_mode)
        for p in sorted(d.rglob("*"))
    }


def pair_psks(mesh: inventory.Mesh, store: KeyStore) -> dict[tuple[str, str], str]:
    return {(a.name, b.name): store.psk(a.public_key, b.public_key)
            for i, a in enumerate(mesh.members) for b in mesh.members[i + 1:]}


def plain_files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (d / "keys").iterdir()}


@pytest.fixture
def sealed_inv(tmp_path: Path) -> Path:
    d = tmp_path / "sealed"
    for args in (
        ("init", "--sealed", "--cidr", "198.18.0.0/24"),
        ("add-host", "s1", "root@198.51.100.11"),
        ("add-host", "s2", "198.51.100.12", "--vm-args", "/srv/app/vm.args"),
        ("add-peer", "laptop"),
    ):
        ok(*args, "--dir", str(d))
    return d


# -- the format ---------------------------------------------------------------------------------


def test_roundtrip_with_the_real_parameters(real_kdf):
    blob = seal(SECRET_FILES)  # no time is asserted: the header shows the real cost was used
    assert blob.startswith(sealed.MAGIC)
    header = sealed.parse(blob, "x")
    assert (header.opslimit, header.memlimit) == (3, 256 * 1024 * 1024)
    assert unseal(blob, PW) == SECRET_FILES


def test_resealing_changes_every_byte_but_not_the_contents():
    a, b = seal(SECRET_FILES), seal(SECRET_FILES)
    assert a != b and sealed.parse(a, "a").salt != sealed.parse(b, "b").salt
    assert unseal(a, PW) == unseal(b, PW) == SECRET_FILES
    key = sealed.new_key(PW)  # same key (a KeyStore's rewrites): still a fresh nonce each time
    c, d = sealed.seal_with(SECRET_FILES, key), sealed.seal_with(SECRET_FILES, key)
    assert c != d and unseal(c, PW) == unseal(d, PW)


def test_wrong_passphrase_is_told_apart_from_damage():
    blob = seal(SECRET_FILES)
    with pytest.raises(InputError, match="^wrong passphrase for there$"):
        unseal(blob, PW + "!", "there")
    body = blob.split(b"\n")[2]
    flipped = blob.replace(body, body[:10] + (b"A" if body[10:11] != b"A" else b"B") + body[11:])
    with pytest.raises(InputError, match="damaged: the passphrase is right"):
        unseal(flipped, PW, "there")


@pytest.mark.parametrize("cut", [0, 3, 8, 20, -60, -5, -1])
def test_truncated_blob_is_damaged(cut):
    blob = seal(SECRET_FILES)
    with pytest.raises(InputError, match="damaged"):
        sealed.parse(blob[:cut], "there")


def test_names_cannot_escape_the_keys_directory():
    for bad in ("../x", "a/b", "..", ".", ""):
        with pytest.raises(InputError, match="invalid file name"):
            seal({bad: b"x"})


def test_crafted_parameters_are_refused_before_deriving():
    blob = seal(SECRET_FILES).replace(b'"memlimit": 8192', b'"memlimit": 68719476736')
    with pytest.raises(InputError, match="unsupported Argon2id parameters"):
        sealed.parse(blob, "there")


# -- the CLI ------------------------------------------------------------------------------------


def test_sealed_inventory_works_through_the_cli_and_unseals_to_the_same_keys(sealed_inv):
    d = sealed_inv
    assert sorted(p.name for p in d.iterdir()) == [".gitignore", "keys.sealed", "mesh.yaml", "peers"]
    assert stat.S_IMODE((d / "keys.sealed").stat().st_mode) == 0o600
    assert [p.name for p in d.glob(".*")] == [".gitignore"], "no temp files left behind"
    store = KeyStore(d, passphrase=lambda path: PW)
    mesh = inventory.load(d)
    private = {m.name: store.private_key(m.name) for m in mesh.members}
    cookie, psks = store.cookie(), pair_psks(mesh, store)
    assert {keys.public_key(k) for k in private.values()} == {m.public_key for m in mesh.members}
    assert len(set(psks.values())) == 3

    r = ok("list", "--dir", str(d), passphrase=None)
    assert "laptop" in r.stdout and "s2" in r.stdout

    ok("unseal", "--dir", str(d))
    assert not (d / "keys.sealed").exists()
    assert stat.S_IMODE((d / "keys").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (d / "keys").iterdir())
    plain = KeyStore(d)
    assert {n: plain.private_key(n) for n in private} == private
    assert (plain.cookie(), pair_psks(mesh, plain)) == (cookie, psks)


LIST = """
import sys
from meshbeam.cli import app
try:
    app(sys.argv[1:], prog_name="meshbeam")
except SystemExit as e:
    print("EXIT", e.code)
print("NACL", "nacl" in sys.modules)
"""


def test_list_never_asks_nor_loads_crypto(sealed_inv):
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    r = subprocess.run(
        [sys.executable, "-c", LIST, "list", "--dir", str(sealed_inv)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
    )
    assert "EXIT 0" in r.stdout and "NACL False" in r.stdout and "laptop" in r.stdout, r.stdout + r.stderr


NEED_SECRETS = [
    ["add-host", "s9", "198.51.100.19"],
    ["add-peer", "p9"],
    ["render", "--out", "OUT"],
    ["unseal"],
    ["up", "--dry-run"],
]


@pytest.mark.parametrize("args", NEED_SECRETS, ids=[a[0] for a in NEED_SECRETS])
def test_wrong_passphrase_writes_nothing(sealed_inv, tmp_path, args):
    before = snapshot(sealed_inv)
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    r = run(*args, "--dir", str(sealed_inv), passphrase="Tr0ub4dor&3")
    one_line_error(r, "wrong passphrase for")
    assert "Tr0ub4dor" not in r.output, "never a secret in a message"
    assert snapshot(sealed_inv) == before
    assert not (tmp_path / "out").exists()


def test_no_passphrase_and_no_terminal_is_a_clear_error(sealed_inv, tmp_path):
    before = snapshot(sealed_inv)
    one_line_error(run("add-host", "s9", "198.51.100.19", "--dir", str(sealed_inv), passphrase=None), PASSPHRASE_ENV)
    one_line_error(run("unseal", "--dir", str(sealed_inv), passphrase=None), PASSPHRASE_ENV)
    assert snapshot(sealed_inv) == before
    d = tmp_path / "new"
    one_line_error(run("init", "--sealed", "--dir", str(d), passphrase=None), PASSPHRASE_ENV)
    assert not d.exists()


def test_truncated_sealed_file_is_a_clear_error(sealed_inv):
    path = sealed_inv / "keys.sealed"
    path.write_bytes(path.read_bytes()[:-30])
    before = snapshot(sealed_inv)
    one_line_error(run("add-peer", "p9", "--dir", str(sealed_inv)), "is damaged (truncated")
    one_line_error(run("unseal", "--dir", str(sealed_inv)), "is damaged (truncated")
    assert snapshot(sealed_inv) == before


def test_seal_leaves_no_plaintext_secret_outside_the_peer_configs(inv):
    store = KeyStore(inv)
    mesh = inventory.load(inv)
    private = {m.name: store.private_key(m.name) for m in mesh.members}
    cookie, psks = store.cookie(), pair_psks(mesh, store)
    before = plain_files(inv)
    r = ok("seal", "--dir", str(inv))
    assert "peers" in r.stdout and "in clear" in r.stdout, "the user is told about DIR/peers/"
    assert not (inv / "keys").exists()

    def holders(secret: str) -> set[str]:
        needles = (secret.encode(), base64.b64decode(secret)) if secret != cookie else (secret.encode(),)
        return {
            str(p.relative_to(inv)) for p in inv.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)
        }

    assert holders(cookie) == set()
    for name, key in private.items():
        # A roaming peer's own config must carry its key (it is copied to the peer); nothing else may.
        assert holders(key) == ({"peers/laptop.conf"} if name == "laptop" else set()), name
    for (a, b), psk in psks.items():
        assert holders(psk) == ({"peers/laptop.conf"} if "laptop" in (a, b) else set()), (a, b)

    ok("unseal", "--dir", str(inv))
    assert plain_files(inv) == before


def test_seal_refuses_twice_and_unseal_refuses_a_plain_inventory(inv):
    one_line_error(run("unseal", "--dir", str(inv)), "is not sealed")
    ok("seal", "--dir", str(inv))
    blob = (inv / "keys.sealed").read_bytes()
    one_line_error(run("seal", "--dir", str(inv)), "already sealed")
    assert (inv / "keys.sealed").read_bytes() == blob


def test_every_write_reseals_the_whole_map(sealed_inv):
    path = sealed_inv / "keys.sealed"
    first = path.read_bytes()
    ok("add-host", "s3", "198.51.100.13", "--dir", str(sealed_inv))
    second = path.read_bytes()
    assert first != second
    files = unseal(second, PW)
    assert sorted(files) == ["cookie", "laptop.key", "psk-secret", "s1.key", "s2.key", "s3.key"]
    assert unseal(first, PW)["cookie"] == files["cookie"]
    assert unseal(first, PW)["psk-secret"] == files["psk-secret"], "a new member needs no new secret"
    ok("remove-host", "s3", "--dir", str(sealed_inv))
    files = unseal(path.read_bytes(), PW)
    assert "s3.key" not in files
    assert [p.name for p in sealed_inv.glob(".*")] == [".gitignore"], "no temp files or journal left behind"


def test_a_sealed_inventory_of_the_old_format_is_migrated_by_its_first_change(sealed_inv):
    """keys.sealed with one stored key per pair (as the previous version wrote) and no secret."""
    path = sealed_inv / "keys.sealed"
    files = unseal(path.read_bytes(), PW)
    mesh = inventory.load(sealed_inv)
    names = sorted(m.name for m in mesh.members)
    old = "".join(f"{a} {b} {keys.generate_private()}\n" for i, a in enumerate(names) for b in names[i + 1:])
    del files["psk-secret"]
    path.write_bytes(seal({**files, "preshared": old.encode()}))
    one_line_error(run("render", "--out", str(sealed_inv.parent / "out"), "--dir", str(sealed_inv)),
                   "rotate-keys --psk")
    r = ok("add-host", "s3", "198.51.100.13", "--dir", str(sealed_inv))
    assert "every pair gets a new one" in r.stdout
    files = unseal(path.read_bytes(), PW)
    assert "preshared" not in files and len(base64.b64decode(files["psk-secret"])) == 32
    ok("render", "--out", str(sealed_inv.parent / "out"), "--dir", str(sealed_inv))


def test_init_force_switches_between_the_two_forms(sealed_inv):
    d = str(sealed_inv)
    ok("init", "--force", "--dir", d)
    assert (sealed_inv / "keys" / "cookie").exists() and not (sealed_inv / "keys.sealed").exists()
    one_line_error(run("init", "--sealed", "--dir", d), "`meshbeam seal` seals it")
    ok("init", "--force", "--sealed", "--dir", d)
    assert not (sealed_inv / "keys").exists()
    assert list(unseal((sealed_inv / "keys.sealed").read_bytes(), PW)) == ["cookie", "psk-secret"]


def test_bad_init_options_fail_before_the_passphrase(tmp_path):
    d = tmp_path / "x"
    one_line_error(run("init", "--sealed", "--backend", "ipsec", "--dir", str(d), passphrase=None), "backend")
    assert not d.exists()


# -- interrupted seal / unseal ------------------------------------------------------------------


def test_interrupted_seal_is_refused_then_finished(inv):
    before = plain_files(inv)
    ok("seal", "--dir", str(inv))
    (inv / "keys").mkdir()  # as if the crash came while DIR/keys/ was being removed
    (inv / "keys" / "cookie").write_bytes(before["cookie"])
    one_line_error(run("add-peer", "p9", "--dir", str(inv)), "interrupted")
    ok("seal", "--dir", str(inv))
    assert not (inv / "keys").exists()
    assert unseal((inv / "keys.sealed").read_bytes(), PW) == before


def test_interrupted_unseal_is_finished(inv):
    before = plain_files(inv)
    ok("seal", "--dir", str(inv))
    (inv / "keys").mkdir()
    (inv / "keys" / "s1.key").write_bytes(before["s1.key"])
    ok("unseal", "--dir", str(inv))
    assert plain_files(inv) == before and not (inv / "keys.sealed").exists()


def test_disagreeing_leftovers_are_not_ours_to_pick(inv):
    ok("seal", "--dir", str(inv))
    (inv / "keys").mkdir()
    (inv / "keys" / "cookie").write_bytes(b"another cookie\n")
    before = snapshot(inv)
    for cmd in ("seal", "unseal"):
        one_line_error(run(cmd, "--dir", str(inv)), "hold different secrets")
    assert snapshot(inv) == before
