"""Inventory changes are transactions: a crash at any step leaves the old or the new inventory,
and concurrent commands serialize on the lock instead of losing each other's members."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from meshbeam import inventory, keyfiles, keys, ops, store
from meshbeam.fsutil import locked
from meshbeam.keys import KeyStore
from tests.conftest import invoke


class Killed(BaseException):
    """Stands for SIGKILL: nothing in meshbeam catches it."""


def kill_at(monkeypatch, k: int) -> list[int]:
    """Make the k-th rename or unlink (from now on) raise Killed; returns the call counter."""
    calls = [0]
    for name in ("replace", "rename", "unlink"):
        real = getattr(os, name)

        def fake(*args, _real=real, **kwargs):
            calls[0] += 1
            if calls[0] == k:
                raise Killed
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, fake)
    return calls


def consistent(d: Path) -> inventory.Mesh:
    """After recovery: every member has the private key of its public key, no key lacks a
    member, no temp file or journal is left, and every config renders."""
    with locked(d):
        store.recover(d)
    mesh, ks = inventory.load(d), KeyStore(d)
    for m in mesh.members:
        assert keys.public_key(ks.private_key(m.name)) == m.public_key, m.name
    assert not list(d.rglob(f"*{keyfiles.TEMP_SUFFIX}")) and not (d / store.JOURNAL).exists()
    from meshbeam import wireguard

    assert len(dict(wireguard.render_all(mesh, ks))) == len(mesh.members)
    return mesh


def crash_every_step(tmp_path, monkeypatch, inv, change) -> int:
    """Run `change` on a copy of `inv` killed at its 1st, 2nd, ... rename or unlink until one
    run completes; after each kill the inventory must be the old or the new one."""
    old = inventory.load(inv)
    for k in range(1, 100):
        d = tmp_path / f"k{k}"
        shutil.copytree(inv, d)
        with monkeypatch.context() as m:
            calls = kill_at(m, k)
            try:
                change(d)
                finished = True
            except Killed:
                finished = False
        mesh = consistent(d)
        yield d, k, finished, old, mesh
        if finished:
            assert calls[0] < k
            return


def test_add_host_killed_at_any_step_leaves_the_old_or_new_inventory(tmp_path, monkeypatch, inv):
    outcomes = set()
    for d, k, finished, old, mesh in crash_every_step(
            tmp_path, monkeypatch, inv,
            lambda d: ops.add_host(KeyStore(d), ops.HostSpec(name="n9", ssh="198.51.100.19"))):
        assert mesh.hosts[:3] == old.hosts and mesh.peers == old.peers
        outcomes.add(len(mesh.members) - len(old.members))
        if "n9" not in {m.name for m in mesh.members}:  # the old inventory: the next add-host is accepted
            r = invoke("add-host", "n9", "198.51.100.19", "--dir", str(d))
            assert r.exit_code == 0, (k, r.output)
            consistent(d)
    assert outcomes == {0, 1}, "some kills fell before the commit point and some after"


def test_rotate_keys_killed_at_any_step_leaves_matching_keys(tmp_path, monkeypatch, inv):
    secret = (inv / "keys" / "psk-secret").read_bytes()
    seen = set()
    for d, k, finished, old, mesh in crash_every_step(
            tmp_path, monkeypatch, inv, lambda d: ops.rotate_keys(KeyStore(d), None, psk=True)):
        rotated = [m.public_key != o.public_key for m, o in zip(mesh.members, old.members)]
        new_secret = (d / "keys" / "psk-secret").read_bytes() != secret
        assert len(set(rotated) | {new_secret}) == 1, f"kill {k}: all rotated or none"
        seen.add(new_secret)
    assert seen == {False, True}


def test_remove_peer_killed_at_any_step_drops_all_or_nothing(tmp_path, monkeypatch, inv):
    for d, k, finished, old, mesh in crash_every_step(
            tmp_path, monkeypatch, inv, lambda d: ops.remove(KeyStore(d), "laptop", inventory.Peer)):
        gone = "laptop" not in {m.name for m in mesh.members}
        assert (d / "peers" / "laptop.conf").exists() != gone, k
        assert (d / "keys" / "laptop.key").exists() != gone, k


def test_a_key_without_a_member_is_removed_with_a_note_not_refused(inv):
    (inv / "keys" / "n940.key").write_text(keys.generate_private() + "\n")  # as an older meshbeam left it
    r = invoke("add-host", "n940", "198.51.100.40", "--dir", str(inv))
    assert r.exit_code == 0, r.output
    consistent(inv)
    (inv / "keys" / "ghost.key").write_text(keys.generate_private() + "\n")
    r = invoke("add-host", "n941", "198.51.100.41", "--dir", str(inv))
    assert r.exit_code == 0 and "note: removed the private key of 'ghost'" in r.output, r.output
    assert not (inv / "keys" / "ghost.key").exists()


@pytest.mark.parametrize("entry", [
    {"rename": [["../x.mbtxn", "mesh.yaml"]], "remove": []},
    {"rename": [], "remove": ["/etc/passwd"]},
    {"rename": [["keys/a", "keys/b"]], "remove": []},  # only temp files are renamed
    {"rename": [], "remove": ["keys/../../x"]},
    {"rename": "x"},
])
def test_a_crafted_journal_is_refused_and_nothing_is_touched(inv, entry):
    (inv / store.JOURNAL).write_text(json.dumps(entry))
    before = sorted(str(p) for p in inv.parent.rglob("*"))
    r = invoke("add-host", "n9", "198.51.100.19", "--dir", str(inv))
    assert r.exit_code == 2 and "is damaged" in r.stderr, r.output
    assert sorted(str(p) for p in inv.parent.rglob("*")) == before


def test_a_command_waits_for_the_lock_then_refuses_cleanly(inv, monkeypatch):
    held = threading.Event()

    def hold(seconds: float) -> None:
        with locked(inv):
            held.set()
            time.sleep(seconds)

    t = threading.Thread(target=hold, args=(0.5,))
    t.start()
    held.wait()
    r = invoke("add-host", "n9", "198.51.100.19", "--dir", str(inv))
    t.join()
    assert r.exit_code == 0, "waited for the other command"
    before = (inv / "mesh.yaml").read_bytes()
    monkeypatch.setenv("MESHBEAM_LOCK_WAIT", "0.2")
    held.clear()
    t = threading.Thread(target=hold, args=(0.6,))
    t.start()
    held.wait()
    r = invoke("add-host", "n10", "198.51.100.20", "--dir", str(inv))
    t.join()
    assert r.exit_code == 1 and "another meshbeam command is using the inventory" in r.stderr
    assert (inv / "mesh.yaml").read_bytes() == before


# Two loops of real CLI processes, racing for the lock all along: enough to interleave every step.
PER_LOOP = 6
LOOP = """
set -e
for i in $(seq 1 $3); do
  "$MESHBEAM" add-host "$1$i" "198.51.100.$2" --dir "$DIR" > /dev/null
done
"""


def test_two_loops_adding_hosts_at_once_lose_none(tmp_path):
    d = tmp_path / "inv"
    assert invoke("init", "--cidr", "198.18.0.0/24", "--dir", str(d)).exit_code == 0
    script = Path(sys.executable).parent / "meshbeam"
    assert script.exists(), "the meshbeam console script must be installed in the test's environment"
    env = {**os.environ, "MESHBEAM": str(script), "DIR": str(d), "MESHBEAM_LOCK_WAIT": "120"}
    procs = [subprocess.Popen(["bash", "-c", LOOP, "loop", prefix, addr, str(PER_LOOP)], env=env, stderr=subprocess.PIPE,
                              text=True)
             for prefix, addr in (("a", "11"), ("b", "12"))]
    errors = [p.communicate(timeout=900)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    mesh = consistent(d)
    assert len(mesh.hosts) == 2 * PER_LOOP and len({h.address for h in mesh.hosts}) == 2 * PER_LOOP
    assert {h.name for h in mesh.hosts} == {f"{p}{i}" for p in "ab" for i in range(1, PER_LOOP + 1)}
    assert len(list((d / "keys").glob("*.key"))) == 2 * PER_LOOP
