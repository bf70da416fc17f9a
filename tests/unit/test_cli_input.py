"""Bad input: a one-line error naming the problem, exit status 2, and nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import build_inventory, invoke


def snapshot(d: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(d)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir", p.stat().st_mode)
        for p in sorted(d.rglob("*"))
    }


BAD_COMMANDS = [
    (["add-host", "s1", "198.51.100.20"], "used"),  # name used twice
    (["add-host", "laptop", "198.51.100.20"], "used"),  # name of a peer
    (["add-host", "bad name", "198.51.100.20"], "invalid member name"),
    (["add-host", "-x", "198.51.100.20"], "Error: No such option: -x"),  # Typer's usage error
    (["add-host", "s9", "198.51.100.20:99999"], "invalid ssh port"),
    (["add-host", "s9", "198.51.100.20:ssh"], "invalid ssh port"),
    (["add-host", "s9", "bad user@198.51.100.20"], "invalid ssh user"),
    (["add-host", "s9", "root@"], "invalid ssh"),
    (["add-host", "s9", "root@exa_mple..com"], "invalid ssh"),
    (["add-host", "s9", "198.51.100.20", "--endpoint", "198.51.100.20:0"], "endpoint port"),
    (["add-host", "s9", "198.51.100.20", "--endpoint", "host:name:1"], "endpoint"),
    (["add-host", "s9", "198.51.100.20", "--endpoint", ":51820"], "endpoint"),
    (["add-host", "s9", "198.51.100.20", "--vm-args", "relative/vm.args"], "vm_args"),
    (["add-host", "s9", "198.51.100.20", "--node-name", "9lives"], "invalid node_name"),
    (["add-host", "s9", "198.51.100.20", "--node-name", "a@b"], "invalid node_name"),
    (["add-host", "s9", "198.51.100.20", "--run-user", "Root!"], "invalid run_user"),
    (["add-peer", "s2"], "used"),
    (["add-peer", "lap top"], "invalid member name"),
    (["add-peer", "x" * 40], "invalid member name"),
    (["remove-host", "nope"], "unknown member"),
    (["remove-host", "laptop"], "not a host"),
    (["remove-peer", "s1"], "not a peer"),
    (["remove-peer", "nope"], "unknown member"),
    (["up", "--only", "nope"], "unknown member"),
    (["up", "--only", "laptop"], "roaming peer"),
    (["up", "--parallel", "0"], "Error: Invalid value for '--parallel': 0 is not in the range"),
    (["up", "--ssh-config", "/nonexistent/ssh_config"], "SSH config"),
    (["init"], "already exists"),
    (["init", "--force", "--cidr", "198.18.0.0/33"], "invalid cidr"),
    (["init", "--force", "--cidr", "198.18.0.1/24"], "invalid cidr"),
    (["init", "--force", "--cidr", "198.18.0.0/31"], "invalid cidr"),
    (["init", "--force", "--backend", "ipsec"], "backend"),
    (["init", "--force", "--interface", "a-very-long-interface-name"], "interface"),
    (["init", "--force", "--port", "70000"], "port"),
    (["init", "--force", "--epmd", "everywhere"], "epmd"),
]


@pytest.mark.parametrize("args,needle", BAD_COMMANDS, ids=[" ".join(a)[:50] for a, _ in BAD_COMMANDS])
def test_bad_command_lines(inv, args, needle):
    before = snapshot(inv)
    r = invoke(*args, "--dir", str(inv))
    assert r.exit_code == 2, r.output
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    if needle.startswith("Error: "):  # Typer's parser: a usage line, a hint, then the error
        assert lines[0].startswith("Usage: ") and lines[-1].startswith(needle), r.stderr
    else:
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert snapshot(inv) == before


def _edit(inv: Path, old: str, new: str) -> None:
    p = inv / "mesh.yaml"
    text = p.read_text()
    assert old in text, old
    p.write_text(text.replace(old, new, 1))


BAD_YAML = [
    ("mesh:\n  backend: wireguard\n", "hosts: [", "malformed YAML"),
    ("name: s2\n", "name: s1\n", "used twice"),
    ("address: 198.18.0.2\n", "address: 198.18.0.1\n", "already used"),
    ("address: 198.18.0.2\n", "address: 198.19.0.2\n", "outside the mesh CIDR"),
    ("address: 198.18.0.2\n", "address: 198.18.0.255\n", "outside the mesh CIDR"),
    ("address: 198.18.0.2\n", "address: banana\n", "invalid address"),
    ("endpoint: 198.51.100.11:51820\n", "endpoint: 198.51.100.11\n", "needs a port"),
    ("endpoint: 198.51.100.11:51820\n", "endpoint: 198.51.100.11:0\n", "port"),
    ("port: 51820\n", "port: eighty\n", "invalid port 'eighty': must be a number"),
    ("cidr: 198.18.0.0/24\n", "cidr: 198.18.0.0/99\n", "invalid cidr"),
    ("backend: wireguard\n", "backend: ipsec\n", "backend"),
    ("  interface: mb0\n", "  interface: 'bad iface'\n", "interface"),
    ("public_key: ", "public_key: notbase64!! #", "invalid public_key"),
    ("hosts:\n", "hosts:\n- just-a-string\n", "hosts[0]: expected a mapping"),
    ("  port: 51820\n", "  port: true\n", "invalid port True: must be a number"),
    ("mesh:\n", "mesh: []\nx:\n", "unknown field 'x'"),
    ("  node_name: web\n", "  node_name: 'w b'\n", "invalid node_name"),
]


@pytest.mark.parametrize("old,new,needle", BAD_YAML, ids=[n for _, _, n in BAD_YAML])
def test_malformed_inventories(inv, old, new, needle):
    _edit(inv, old, new)
    before = snapshot(inv)
    for args in (["list"], ["add-peer", "newpeer"], ["up", "--dry-run"]):
        r = invoke(*args, "--dir", str(inv))
        assert r.exit_code == 2, (args, r.output)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and needle in lines[0], (args, r.stderr)
        assert snapshot(inv) == before


def test_exhausted_cidr(tmp_path):
    d = build_inventory(tmp_path / "small", ("init", "--cidr", "198.18.0.0/30"), ("add-host", "a", "198.51.100.11"),
                        ("add-peer", "b"))
    before = snapshot(d)
    r = invoke("add-peer", "c", "--dir", str(d))
    assert r.exit_code == 2 and "exhausted" in r.stderr
    assert snapshot(d) == before


def test_missing_inventory(tmp_path):
    r = invoke("list", "--dir", str(tmp_path / "none"))
    assert r.exit_code == 2 and "no inventory" in r.stderr
    assert not (tmp_path / "none").exists()


def test_a_second_command_on_a_locked_inventory_is_refused(inv, monkeypatch):
    from meshbeam.fsutil import LOCK_WAIT_ENV, locked

    monkeypatch.setenv(LOCK_WAIT_ENV, "0")  # refused at once; waiting is test_transactions' concern
    before = snapshot(inv)
    with locked(inv):
        r = invoke("add-peer", "other", "--dir", str(inv))
    assert r.exit_code == 1 and "another meshbeam command is using the inventory" in r.stderr
    assert snapshot(inv) == before
