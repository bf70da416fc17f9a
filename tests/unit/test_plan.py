"""The plan (pure) and the scripts remote.py sends, run here with a local sh."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from meshbeam import inventory, plan, plantypes, remote, wgplan, wireguard
from meshbeam.errors import PlanError
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


def test_no_change_means_an_empty_plan(inv):
    assert build(inv, host_facts(inv, iface=True, same=True)).empty


def test_absent_interface_is_brought_up_even_when_the_file_matches(inv):
    p = build(inv, host_facts(inv, iface=False, same=True))
    assert not p.writes and [a.label for a in p.actions] == ["wg-quick up mb0"]


def test_systemd_hosts_use_the_unit(inv):
    facts = host_facts(inv, iface=False, same=False)
    p = build(inv, replace(facts, flags=frozenset({"systemd"})))
    assert "systemctl enable --now wg-quick@mb0" in p.actions[0].script


def test_changed_config_on_a_live_interface_is_synced_in_place(inv):
    p = build(inv, host_facts(inv, iface=True, same=False))
    assert [w.reason for w in p.writes] == ["changed"]
    assert [a.label for a in p.actions] == ["wg syncconf mb0"]
    assert "wg-quick up" not in p.actions[0].script and "down" not in p.actions[0].script


def test_wrong_mode_rewrites_without_touching_the_tunnel(inv):
    p = build(inv, host_facts(inv, iface=True, same=True, mode=0o644))
    assert [w.reason for w in p.writes] == ["mode"] and not p.actions


def test_stale_address_is_reconciled(inv):
    p = build(inv, host_facts(inv, iface=True, same=True, addrs=("198.18.0.9/24",)))
    assert "ip -4 addr del 198.18.0.9/24 dev mb0" in p.actions[0].script
    assert "ip -4 addr replace 198.18.0.1/24 dev mb0" in p.actions[0].script


def test_missing_tools_are_a_clear_error(inv):
    facts = replace(host_facts(inv, iface=True, same=True), tools=frozenset({"ip"}))
    with pytest.raises(PlanError, match="wg, wg-quick not found on the host"):
        build(inv, facts)


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


@pytest.mark.parametrize("running", [True, False])
def test_the_live_allow_list_update_runs_only_when_the_node_runs(inv, running):
    mesh = inventory.load(inv)
    host = mesh.host("s3")  # the fixture gave it --vm-args /srv/app/vm.args
    q = plan.query(mesh, host)
    files = {p: FileFact(p, False) for p in q.paths}
    flags = {"iface", "node-running"} if running else {"iface"}
    facts = Facts(frozenset(q.tools), frozenset(flags), ("198.18.0.3/24",), {"root": "/root"}, files)
    p = plan.build(mesh, host, KeyStore(inv), facts)
    labels = [a.label for a in p.actions]
    assert any("allow list" in label for label in labels) == running
    assert "nft -f /etc/meshbeam/nftables.nft (table inet meshbeam)" in labels
    assert {w.path for w in p.writes} >= {"/srv/app/vm.args", "/root/.erlang.cookie", "/etc/meshbeam/nftables.nft"}


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
