import base64
import hashlib
import os
import shutil
import stat
import subprocess

from meshbeam import inventory, keyfiles, keys
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


def test_cookie_is_strong_and_plain_hex():
    """Hex, so never a leading '-': erl's -setcookie (a mix release's --cookie) would read that as a flag
    and boot with another cookie; with URL-safe base64 one cluster in 64 got such a cookie."""
    cookies = {keys.generate_cookie() for _ in range(200)}
    assert len(cookies) == 200
    assert all(len(c) == 64 and set(c) <= set("0123456789abcdef") for c in cookies)


def test_erl_takes_a_cookie_starting_with_a_dash_for_a_flag(tmp_path):
    """Why the cookie is hex: what erl does with `-setcookie -x...` (Debian's erlang-base, as .ci/setup installs)."""
    def setcookie_values(cookie: str) -> str:  # what erl's -setcookie received (no distribution started)
        r = subprocess.run(["erl", "-noshell", "-setcookie", cookie, "-eval",
                            'io:format("~p", [init:get_argument(setcookie)]), halt().'],
                           env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]}, capture_output=True, text=True,
                           timeout=60)
        return r.stdout
    good = keys.generate_cookie()
    assert setcookie_values(good) == f'{{ok,[["{good}"]]}}'
    assert setcookie_values("-" + good[1:]) == "{ok,[[]]}"  # no value: the cookie went to a flag of its own


def test_the_file_encodings_are_what_the_files_hold(inv):
    """keys/NAME.key and keys/cookie are a text line; keys/psk-secret 32 bytes in base64 on a line."""
    store, d = KeyStore(inv), inv / "keys"
    assert (d / "s1.key").read_bytes() == keyfiles.encode_text(store.private_key("s1"))
    assert (d / "cookie").read_bytes() == keyfiles.encode_text(store.cookie())
    secret = keyfiles.decode_secret((d / "psk-secret").read_bytes())
    assert secret is not None and keyfiles.encode_secret(secret) == (d / "psk-secret").read_bytes()
    assert keyfiles.decode_text(keyfiles.encode_text("pem\nlines")) == "pem\nlines"
    for damaged in (b"", b"AAAA\n", base64.b64encode(bytes(31)) + b"\n", b"\xff" * 44):
        assert keyfiles.decode_secret(damaged) is None, damaged


def pair_psks(mesh: inventory.Mesh, store: KeyStore) -> dict[tuple[str, str], str]:
    return {(a.name, b.name): store.psk(a.public_key, b.public_key)
            for i, a in enumerate(mesh.members) for b in mesh.members[i + 1:]}


def test_keystore_modes_and_no_temp_files(inv):
    store = KeyStore(inv)
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    assert sorted(f.name for f in store.dir.iterdir()) == ["cookie", "laptop.key", "psk-secret", "s1.key", "s2.key",
                                                           "s3.key"]
    for f in store.dir.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not list(store.dir.glob(".*")) and [p.name for p in inv.glob(".*")] == [".gitignore"]


def test_derived_psks_follow_the_definition_and_are_symmetric_and_distinct():
    secret = os.urandom(32)
    pubs = [keys.public_key(keys.generate_private()) for _ in range(4)]
    a, b = pubs[:2]
    raw = sorted(base64.b64decode(k) for k in (a, b))
    expected = hashlib.blake2b(b"meshbeam psk v1" + raw[0] + raw[1], key=secret, digest_size=32).digest()
    assert keys.derive_psk(secret, a, b) == keys.derive_psk(secret, b, a) == base64.b64encode(expected).decode()
    assert keys.derive_psk(secret, a, b) == keys.derive_psk(secret, a, b), "deterministic"
    every = {keys.derive_psk(secret, x, y) for i, x in enumerate(pubs) for y in pubs[i + 1:]}
    assert len(every) == 6, "one key per pair"
    assert keys.derive_psk(os.urandom(32), a, b) != keys.derive_psk(secret, a, b), "another secret, other keys"


def test_psk_rows_agree_with_psk_in_any_order(inv):
    mesh, store = inventory.load(inv), KeyStore(inv)
    pubs = [m.public_key for m in mesh.members][::-1]  # not sorted by key
    for row, a in zip(store.psk_rows(pubs), pubs):
        assert [k.decode() for k in row] == [store.psk(a, b) + "\n" if b != a else "" for b in pubs]


def test_psk_rows_of_a_share_agree_with_psk(inv):
    """One process's share of a render: rows of some members, in the order asked, each with every member."""
    mesh, store = inventory.load(inv), KeyStore(inv)
    pubs = [m.public_key for m in mesh.members]
    for which in ([3, 0], [1], [2, 1, 3], []):
        rows = list(store.psk_rows(pubs, which))
        assert [[k.decode() for k in row] for row in rows] == [
            [store.psk(pubs[i], b) + "\n" if b != pubs[i] else "" for b in pubs] for i in which], which


def test_rotate_psk_changes_every_pair_and_rotating_a_member_only_its_pairs(inv):
    mesh = inventory.load(inv)
    before = pair_psks(mesh, KeyStore(inv))
    assert invoke("rotate-keys", "laptop", "--dir", str(inv)).exit_code == 0
    mesh = inventory.load(inv)
    after = pair_psks(mesh, KeyStore(inv))
    for pair, psk in after.items():
        assert (psk != before[pair]) == ("laptop" in pair), pair
    r = invoke("rotate-keys", "--psk", "--dir", str(inv))
    assert r.exit_code == 0 and "a new preshared key for every pair" in r.output, r.output
    assert inventory.load(inv) == mesh, "--psk alone keeps every keypair"
    rotated = pair_psks(mesh, KeyStore(inv))
    assert all(rotated[p] != after[p] for p in after) and len(set(rotated.values())) == len(rotated)


def test_rotate_cookie_changes_the_cookie_alone_and_says_every_node_restarts(inv):
    mesh, store = inventory.load(inv), KeyStore(inv)
    old, psks = store.cookie(), pair_psks(mesh, store)
    r = invoke("rotate-keys", "--cookie", "--dir", str(inv))
    assert r.exit_code == 0 and "a new cluster cookie" in r.output and "restart every node" in r.output, r.output
    store = KeyStore(inv)
    assert store.cookie() != old and len(store.cookie()) == 64 and old not in r.output + r.stderr
    assert inventory.load(inv) == mesh and pair_psks(mesh, store) == psks, "the keys stay"


def test_removing_a_member_keeps_the_other_pairs_keys(inv):
    before = pair_psks(inventory.load(inv), KeyStore(inv))
    assert invoke("remove-host", "s3", "--dir", str(inv)).exit_code == 0
    after = pair_psks(inventory.load(inv), KeyStore(inv))
    assert after == {p: k for p, k in before.items() if "s3" not in p}
    assert not (inv / "keys" / "s3.key").exists()


def write_old_format(inv) -> dict[tuple[str, str], str]:
    """The keystore as the version before derived keys left it: keys/preshared, no secret."""
    names = sorted(m.name for m in inventory.load(inv).members)
    stored = {(a, b): base64.b64encode(os.urandom(32)).decode() for i, a in enumerate(names) for b in names[i + 1:]}
    (inv / "keys" / "preshared").write_text("".join(f"{a} {b} {k}\n" for (a, b), k in sorted(stored.items())))
    os.chmod(inv / "keys" / "preshared", 0o600)
    (inv / "keys" / "psk-secret").unlink()
    return stored


def test_an_old_inventory_is_refused_by_readers_and_migrated_by_its_first_change(inv, tmp_path):
    stored = write_old_format(inv)
    r = invoke("render", "--out", str(tmp_path / "out"), "--dir", str(inv))
    assert r.exit_code == 2 and "rotate-keys --psk" in r.stderr and not (tmp_path / "out" / "s1").exists()
    r = invoke("add-host", "s4", "198.51.100.14", "--dir", str(inv))
    assert r.exit_code == 0 and "every pair gets a new one" in r.output, r.output
    assert not (inv / "keys" / "preshared").exists(), "the stored keys are destroyed"
    mesh, store = inventory.load(inv), KeyStore(inv)
    derived = pair_psks(mesh, store)
    assert not set(derived.values()) & set(stored.values()), "rotated at once"
    assert invoke("render", "--out", str(tmp_path / "out"), "--dir", str(inv)).exit_code == 0
    conf = (tmp_path / "out" / "s1" / "mb0.conf").read_text()
    assert f"PresharedKey = {derived[('s1', 's4')]}" in conf
    r = invoke("add-host", "s5", "198.51.100.15", "--dir", str(inv))
    assert "preshared" not in r.output, "migrated once"


def test_rotate_keys_through_the_cli_renews_the_named_member_and_its_peer_config(inv):
    """The CLI path end to end on the inventory: YAML, key files and the peer's config file."""
    before_mesh, store = inventory.load(inv), KeyStore(inv)
    before_laptop_key = store.private_key("laptop")
    before_conf = (inv / "peers" / "laptop.conf").read_text()
    r = invoke("rotate-keys", "laptop", "--dir", str(inv))
    assert r.exit_code == 0, r.output
    assert f"rewrote {inv / 'peers' / 'laptop.conf'}" in r.output
    mesh, fresh = inventory.load(inv), KeyStore(inv)
    assert keys.public_key(fresh.private_key("laptop")) == mesh.member("laptop").public_key != \
        before_mesh.member("laptop").public_key
    assert fresh.private_key("laptop") != before_laptop_key
    assert all(mesh.member(n).public_key == before_mesh.member(n).public_key for n in ("s1", "s2", "s3"))
    conf = (inv / "peers" / "laptop.conf").read_text()
    assert conf != before_conf and f"PrivateKey = {fresh.private_key('laptop')}" in conf


def test_a_member_learns_only_its_own_pairs_and_never_the_secret(inv):
    from meshbeam import wireguard

    mesh, store = inventory.load(inv), KeyStore(inv)
    psks = pair_psks(mesh, store)
    secret = (inv / "keys" / "psk-secret").read_text().strip()
    for me in mesh.members:
        conf = wireguard.render(mesh, me, store)
        shown = {k for k in psks.values() if k in conf}
        others = mesh.hosts if isinstance(me, inventory.Peer) else mesh.members  # a roaming peer sees servers only
        own = {store.psk(me.public_key, o.public_key) for o in others if o.name != me.name}
        assert shown == own and conf.count("PresharedKey = ") == len(own), me.name
        assert secret not in conf
