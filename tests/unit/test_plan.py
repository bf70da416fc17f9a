"""The plan (pure) and the scripts remote.py sends, run here with a local sh. Plan cases that are
inventory + facts in and writes + actions out are data: tests/fixtures/plans (test_plan_fixtures.py)."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from meshbeam import inventory, keyfiles, keys, plan, plantypes, remote, wgplan, wireguard
from meshbeam.keys import KeyStore
from meshbeam.plan import Facts, FileFact, HostPlan, Write

TOOLS = frozenset(wgplan.TOOLS)


def host_facts(inv, *, iface: bool, same: bool, mode: int = 0o600, addrs=("198.18.0.1/24",)) -> Facts:
    mesh = inventory.load(inv)
    path = wireguard.config_path(mesh)
    content = wireguard.render(mesh, mesh.host("s1"), KeyStore(inv)).encode() if same else b"[Interface]\n"
    flags = frozenset({"iface"} if iface else set())
    return Facts(TOOLS, flags, addrs if iface else (), {}, {path: FileFact(path, True, mode, "root", content)})


def build(inv, facts: Facts) -> HostPlan:
    mesh = inventory.load(inv)
    return plan.build(mesh, mesh.host("s1"), KeyStore(inv), facts)


def test_dry_run_diff_masks_secrets(inv):
    p = build(inv, host_facts(inv, iface=True, same=False))
    text = plan.diff(p.writes[0])
    assert "+PrivateKey = (secret)" in text and "PresharedKey = (secret)" in text
    for name in ("s1", "s2"):
        assert KeyStore(inv).private_key(name) not in text
    mesh, store = inventory.load(inv), KeyStore(inv)
    assert all(store.psk(a.public_key, b.public_key) not in text for a in mesh.members for b in mesh.members)


# ---- the scripts, run against this machine's own sh (as root: tests/e2e/test_hostile_scripts.py) ----


def _writes(tmp_path) -> HostPlan:
    return HostPlan("h", (
        Write(str(tmp_path / "a" / "secret.conf"), b"PrivateKey = x\n" * 1000, 0o600, "root", True, "new"),
        Write(str(tmp_path / "b.txt"), b"plain\n", 0o644, "root", False, "new"),
    ))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_a_script_cut_in_transit_writes_nothing(tmp_path, fraction):
    script = remote.apply_script(_writes(tmp_path)).render().encode()
    cut = script[: int(len(script) * fraction)]
    subprocess.run(["sh", "-s"], input=cut, capture_output=True)
    assert not (tmp_path / "b.txt").exists() and not (tmp_path / "a").exists()


@pytest.mark.parametrize("text, secret", [
    ("privatekey = AAAAsecretBBBB=\n", "AAAAsecretBBBB="),
    ("  PresharedKey=CCCCsecretDDDD=\n", "CCCCsecretDDDD="),
    ("PRIVATEKEY =EEEEsecret\n", "EEEEsecret"),
    ("-setcookie usersecret\n", "usersecret"),
    ("-SetCookie 'quoted secret'\n", "quoted secret"),
    ("+K true -setcookie inline_secret +sbwt none\n", "inline_secret"),
    ("export RELEASE_COOKIE=relsecret\n", "relsecret"),
    ('release_cookie="rel secret 2"\n', "rel secret 2"),
    ("exec bin/app --cookie clisecret start\n", "clisecret"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIpemsecret\n-----END RSA PRIVATE KEY-----\n", "MIIpemsecret"),
    ("-----BEGIN PRIVATE KEY-----\nMIIcutsecret\n", "MIIcutsecret"),
])
def test_dry_run_masks_secrets_in_any_case(text, secret):
    w = Write("/x", ("# new\n" + text).encode(), 0o600, "root", False, "changed", FileFact("/x", True, 0o600, "root",
                                                                                            text.encode()))
    shown = plan.diff(w)
    assert secret not in shown and "(secret" in shown


def _converged(inv, own_cookie: bytes | None):
    """s3's facts after an `up`, with a backup of the cookie as it was before (absent or the user's own)."""
    mesh = inventory.load(inv)
    host = mesh.host("s3")
    q = plan.query(mesh, host)
    files = {p: FileFact(p, False) for p in q.paths}
    key = "~root/.erlang.cookie"
    files[key] = FileFact(key, True, 0o400, "root", KeyStore(inv).cookie().encode())
    record = b"meshbeam-backup 1 absent\n" if own_cookie is None else b"meshbeam-backup 1 400 root\n" + own_cookie
    files[plantypes.backup_path(key)] = FileFact(plantypes.backup_path(key), True, 0o600, "root", record)
    return mesh, host, Facts(frozenset(q.tools), frozenset(), (), {"root": "/root"}, files)


def test_down_restores_the_users_own_cookie_byte_for_byte(inv):
    mesh, host, facts = _converged(inv, b"the user's own\x00cookie")
    p = plan.teardown(mesh, host, KeyStore(inv), facts)
    (w,) = [w for w in p.writes if w.path == "/root/.erlang.cookie"]
    assert w.content == b"the user's own\x00cookie" and w.mode == 0o400 and w.owner == "root"
    assert "/root/.erlang.cookie" not in p.removes
    assert any(a.label == f"remove {plantypes.BACKUP_DIR}" for a in p.actions)


def test_down_removes_a_cookie_that_did_not_exist_before(inv):
    mesh, host, facts = _converged(inv, None)
    p = plan.teardown(mesh, host, KeyStore(inv), facts)
    assert "/root/.erlang.cookie" in p.removes and not [w for w in p.writes if "cookie" in w.path]


def test_up_backs_up_each_replaced_file_once_before_changing_it(inv):
    mesh = inventory.load(inv)
    host = mesh.host("s3")
    q = plan.query(mesh, host)
    files = {p: FileFact(p, False) for p in q.paths}
    files["~root/.erlang.cookie"] = FileFact("~root/.erlang.cookie", True, 0o600, "root", b"old")
    facts = Facts(frozenset(q.tools), frozenset({"iface"}), (), {"root": "/root"}, files)
    p = plan.build(mesh, host, KeyStore(inv), facts)
    backup = plantypes.backup_path("~root/.erlang.cookie")
    paths = [w.path for w in p.writes]
    assert paths.index(backup) < paths.index("/root/.erlang.cookie")
    (b,) = [w for w in p.writes if w.path == backup]
    assert b.content == b"meshbeam-backup 1 600 root\nold" and b.mode == 0o600 and b.secret
    assert "old" not in plan.diff(b)
    files[backup] = FileFact(backup, True, 0o600, "root", b.content)
    again = plan.build(mesh, host, KeyStore(inv), replace(facts, files=files))
    assert backup not in [w.path for w in again.writes], "the first backup is never overwritten"


@pytest.mark.parametrize("mix_release", [True, False])
def test_a_cookie_starting_with_a_dash_is_refused_only_where_it_goes_on_a_command_line(inv, mix_release):
    """A mix release's start script passes the cookie as --cookie, which erl would read as a flag
    (tests/unit/test_keys.py shows it); ~/.erlang.cookie holds it as a file, where a '-' is harmless."""
    mesh = inventory.load(inv)
    host = replace(mesh.host("s3"), vm_args="/srv/rel/releases/0.1.0/vm.args" if mix_release else "/srv/app/vm.args",
                   mix_release=mix_release)
    q = plan.query(mesh, host)
    facts = Facts(frozenset(q.tools), frozenset({"iface"}), (), {"root": "/root"}, {p: FileFact(p, False) for p in q.paths})
    cookie = "-" + "a" * 63  # as a cluster made before cookies were hex could hold
    (inv / "keys" / keys.COOKIE_FILE).write_bytes(keyfiles.encode_text(cookie))
    store = KeyStore(inv)
    if mix_release:
        with pytest.raises(plan.PlanError, match="starts with '-'.*rotate-keys --cookie"):
            plan.build(mesh, host, store, facts)
    else:
        assert any(w.content == cookie.encode() for w in plan.build(mesh, host, store, facts).writes)
