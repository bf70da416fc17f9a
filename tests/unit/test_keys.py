import base64
import shutil
import stat
import subprocess

import pytest

from meshbeam import inventory, keys
from meshbeam.errors import InputError
from meshbeam.keys import KeyStore
from tests.conftest import invoke


def test_private_keys_are_clamped_like_wg_genkey():
    for _ in range(50):
        raw = base64.b64decode(keys.generate_private())
        assert raw[0] & 7 == 0
        assert raw[31] & 128 == 0 and raw[31] & 64 == 64


def test_clamp_is_idempotent_and_exact():
    assert keys.clamp(b"\xff" * 32) == b"\xf8" + b"\xff" * 30 + b"\x7f"
    assert keys.clamp(b"\x00" * 32) == b"\x00" * 31 + b"\x40"


def test_public_key_matches_wg_pubkey():
    wg = shutil.which("wg")
    assert wg, "wireguard-tools must be installed for this test (.ci/run installs it)"
    for _ in range(5):
        private = keys.generate_private()
        expected = subprocess.run([wg, "pubkey"], input=private + "\n", capture_output=True, text=True, check=True)
        assert keys.public_key(private) == expected.stdout.strip()


def test_cookie_is_strong_and_printable():
    c = keys.generate_cookie()
    assert len(c) >= 43 and c.isascii() and c.isprintable()
    assert set(c) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_keystore_modes_and_no_overwrite(tmp_path):
    store = KeyStore(tmp_path)
    store.create_dir()
    store.create_cookie()
    store.store_member_key("a", keys.generate_private())
    store.sync_psks(["a", "b", "c"])
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    for f in store.dir.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    with pytest.raises(InputError, match="already exists"):
        store.store_member_key("a", keys.generate_private())
    assert not list(store.dir.glob(".*")), "no temp files left behind"


def test_psks_cover_every_pair_and_are_destroyed_on_forget(tmp_path):
    store = KeyStore(tmp_path)
    store.create_dir()
    store.sync_psks(["a", "b", "c"])
    ab = store.psk("a", "b")
    assert store.psk("b", "a") == ab
    assert len({store.psk("a", "b"), store.psk("a", "c"), store.psk("b", "c")}) == 3
    store.forget("c", ["a", "b"])
    fresh = KeyStore(tmp_path)
    assert fresh.psk("a", "b") == ab, "surviving pairs keep their keys"
    with pytest.raises(InputError):
        fresh.psk("a", "c")
    assert "c" not in (tmp_path / "keys" / "preshared").read_text().split()


def test_rotate_replaces_keys_and_only_the_pairs_they_touch(tmp_path):
    store = KeyStore(tmp_path)
    store.create_dir()
    for n in ("a", "b", "c"):
        store.store_member_key(n, keys.generate_private())
    store.sync_psks(["a", "b", "c"])
    before_key, before = store.private_key("a"), dict(store.psks())
    store.rotate({"a": keys.generate_private()}, ["a", "b", "c"])
    fresh = KeyStore(tmp_path)
    assert fresh.private_key("a") != before_key
    assert fresh.psk("b", "c") == before[("b", "c")]
    assert fresh.psk("a", "b") != before[("a", "b")] and fresh.psk("a", "c") != before[("a", "c")]


def test_rotate_keys_through_the_cli_renews_the_named_member_and_its_peer_config(inv):
    """The CLI path end to end on the inventory: YAML, key files, pairs and the peer's config file."""
    before_mesh, store = inventory.load(inv), KeyStore(inv)
    before_psks, before_laptop_key = dict(store.psks()), store.private_key("laptop")
    before_conf = (inv / "peers" / "laptop.conf").read_text()
    r = invoke("rotate-keys", "laptop", "--dir", str(inv))
    assert r.exit_code == 0, r.output
    assert f"rewrote {inv / 'peers' / 'laptop.conf'}" in r.output
    mesh, fresh = inventory.load(inv), KeyStore(inv)
    assert keys.public_key(fresh.private_key("laptop")) == mesh.member("laptop").public_key != \
        before_mesh.member("laptop").public_key
    assert fresh.private_key("laptop") != before_laptop_key
    assert all(mesh.member(n).public_key == before_mesh.member(n).public_key for n in ("s1", "s2", "s3"))
    for pair, psk in fresh.psks().items():
        assert (psk != before_psks[pair]) == ("laptop" in pair), pair
    conf = (inv / "peers" / "laptop.conf").read_text()
    assert conf != before_conf and f"PrivateKey = {fresh.private_key('laptop')}" in conf
