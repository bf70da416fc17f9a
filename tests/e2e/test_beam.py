"""BEAM distribution bound to the mesh, end to end, with real `erl` nodes on sandbox hosts."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from meshbeam import inventory, sandbox
from tests.conftest import SETTLE

from .conftest import (HOME, RUN_USER, Meshbeam, assert_ssh_still_works, eventually, laptop_down, laptop_up,
                       mesh_ip, sh)

pytestmark = pytest.mark.e2e
SERVERS = ("s1", "s2", "s3")
VM_ARGS = "/srv/app/vm.args"
USER_VM_ARGS = """## the application's own flags
-name stale@old-host.example
-setcookie not-the-cluster-cookie
+K true
-env ERL_MAX_PORTS 4096   # a trailing comment
+sbwt none
"""
USER_LINES = ("+K true", "-env ERL_MAX_PORTS 4096   # a trailing comment", "+sbwt none", "## the application's own flags")


def erl(box, host: str, name: str, expr: str, *, cookie_home: str = HOME, extra: tuple[str, ...] = (), timeout=30) -> str:
    """Run a short-lived hidden node that evaluates `expr` (which prints its result) and halts."""
    argv = ["env", f"HOME={cookie_home}", "erl", "-noshell", "-hidden", "-dist_listen", "false", "-start_epmd", "false",
            "-name", name, *extra, "-eval", f"{expr}, halt()."]
    return sandbox.run(box, host, argv, timeout=timeout, user=RUN_USER).stdout.strip()


def ctl(mb: Meshbeam, host: str) -> str:
    return f"meshbeam_ctl@{mesh_ip(mb, host)}"


def node(mb: Meshbeam, host: str) -> str:
    return f"app@{mesh_ip(mb, host)}"


def rpc(mb: Meshbeam, host: str, call: str) -> str:
    """Evaluate `call` on the host's running node (via its allowed control name) and print it."""
    return erl(mb.box, host, ctl(mb, host), f"io:format(\"~p\", [rpc:call('{node(mb, host)}', {call})])")


def start_node(mb: Meshbeam, host: str, log: Path) -> subprocess.Popen:
    return sandbox.spawn(
        mb.box, host, ["env", f"HOME={HOME}", "erl", "-args_file", VM_ARGS, "-noshell", "-noinput"],
        log=log, user=RUN_USER,
    )


BACKENDS = {  # interface, mesh range and port per backend
    "wireguard": ("mb0", "198.18.0.0/24", "51820"),
    "tinc": ("mbt0", "198.18.3.0/24", "655"),
}


@pytest.fixture(scope="module", params=list(BACKENDS))
def mb(request, run_user, tmp_path_factory):
    """A fresh sandbox per backend: no EPMD or node of the other run survives into this one."""
    interface, cidr, port = BACKENDS[request.param]
    prefix = f"mbb{request.param[:2]}"
    sb = sandbox.up(3, laptop=True, prefix=prefix)
    try:
        yield from _cluster(request.param, interface, cidr, port, sb, tmp_path_factory)
        assert_ssh_still_works(sb)
    finally:
        sandbox.down(prefix=prefix, purge=True)


def _cluster(backend, interface, cidr, port, sb, tmp_path_factory):
    logs = tmp_path_factory.mktemp("erl-logs")
    for h in SERVERS:
        sh(sb, h, f"mkdir -p {HOME} /srv/app && chown {RUN_USER} {HOME}")
        sandbox.run(sb, h, ["sh", "-c", f"cat > {VM_ARGS}"], input=USER_VM_ARGS.encode())
    mb = Meshbeam(tmp_path_factory.mktemp("beam") / "inv", sb)
    mb("init", "--backend", backend, "--interface", interface, "--cidr", cidr, "--port", port)
    for s in sb.servers:
        mb("add-host", s.name, f"root@{s.address}", "--vm-args", VM_ARGS, "--run-user", RUN_USER)
    laptop_join_line = _join_line(mb("add-peer", "laptop").output)
    mb("up")
    nodes = {h: start_node(mb, h, logs / f"{h}.log") for h in SERVERS}
    for h in SERVERS:
        assert eventually(lambda: "pong" in rpc_ping(mb, h, h), timeout=30), (logs / f"{h}.log").read_text()
    for a, b in itertools.permutations(SERVERS, 2):  # the mesh is whole before any test looks at it
        assert eventually(lambda: rpc_ping(mb, a, b) == "pong", timeout=SETTLE), f"{a} -> {b} before the tests"
    mb.laptop_join_line = laptop_join_line
    yield mb
    for p in nodes.values():  # the whole session: runuser forks, so its PID alone is not the node
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def start_watcher(mb: Meshbeam, host: str, watch: str) -> None:
    """Spawn `watch` on the host's node; without a pid back, a test could not see a nodedown."""
    pid = rpc(mb, host, f"erlang, apply, [fun() -> {watch} end, []]")
    assert pid.startswith("<") and pid.endswith(">"), f"no watcher on {host}: {pid}"


def rpc_ping(mb: Meshbeam, src: str, dst: str) -> str:
    return rpc(mb, src, f"net_adm, ping, ['{node(mb, dst)}']")


def test_every_pair_connects_over_the_mesh(mb):
    for a, b in itertools.permutations(SERVERS, 2):
        assert rpc_ping(mb, a, b) == "pong", f"{a} -> {b}"
    peers = rpc(mb, "s1", "erlang, nodes, []")
    assert node(mb, "s2") in peers and node(mb, "s3") in peers


def test_distribution_listens_only_on_the_mesh_address(mb):
    listening = sh(mb.box, "s1", "ss -Htln").stdout
    assert f"{mesh_ip(mb, 's1')}:9100" in listening
    assert "0.0.0.0:9100" not in listening and "*:9100" not in listening
    epmd = [l.split()[3] for l in listening.splitlines() if l.split()[3].endswith(":4369")]
    assert f"{mesh_ip(mb, 's1')}:4369" in epmd, epmd
    assert set(epmd) <= {f"{mesh_ip(mb, 's1')}:4369", "127.0.0.1:4369", "[::1]:4369"}, "EPMD only on mesh + loopback"


def _tcp_open(box, host: str, ip: str, port: int) -> bool:
    probe = f"import socket; socket.create_connection(('{ip}', {port}), timeout=2)"
    return sandbox.run(box, host, ["python3", "-c", probe], check=False).returncode == 0


def test_underlay_is_refused(mb):
    s1_underlay = mb.box.host("s1").address
    for port in (9100, 4369):
        assert not _tcp_open(mb.box, "s2", s1_underlay, port), f"port {port} answers on the underlay"
    assert _tcp_open(mb.box, "s2", mesh_ip(mb, "s1"), 4369), "EPMD answers over the mesh"
    # a node addressed by the underlay, with the right cookie, is unreachable
    out = erl(mb.box, "s2", ctl(mb, "s2"), f"io:format(\"~p\", [net_adm:ping('app@{s1_underlay}')])")
    assert out == "pang"


def test_wrong_cookie_is_refused(mb, tmp_path):
    sh(mb.box, "s1", f"mkdir -p /srv/wrong && printf wrongcookie > /srv/wrong/.erlang.cookie && "
       f"chown -R {RUN_USER} /srv/wrong && chmod 400 /srv/wrong/.erlang.cookie")
    expr = f"io:format(\"~p\", [net_adm:ping('{node(mb, 's1')}')])"
    assert erl(mb.box, "s1", ctl(mb, "s1"), expr, cookie_home="/srv/wrong") == "pang"
    assert erl(mb.box, "s1", ctl(mb, "s1"), expr) == "pong", "the same name with the right cookie connects"


def test_unlisted_name_is_refused(mb):
    rogue = f"rogue@{mesh_ip(mb, 's2')}"
    for target in ("s1", "s2"):
        expr = f"io:format(\"~p\", [net_adm:ping('{node(mb, target)}')])"
        assert erl(mb.box, "s2", rogue, expr) == "pang", f"{rogue} got into {target}"
    # the control name is on s2's own list: the same place, the same cookie, a listed name connects
    assert erl(mb.box, "s2", ctl(mb, "s2"), expr) == "pong"


def test_no_process_shows_the_cookie(mb):
    cookie = (mb.dir / "keys" / "cookie").read_text().strip()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                argv = (p / "cmdline").read_bytes()
            except OSError:
                continue
            assert cookie.encode() not in argv, f"pid {p.name} shows the cookie"


def test_cookie_file_and_user_lines(mb):
    for h in SERVERS:
        st = sh(mb.box, h, f"stat -c '%a %U' {HOME}/.erlang.cookie").stdout.split()
        assert st == ["400", RUN_USER]
        text = sh(mb.box, h, f"cat {VM_ARGS}").stdout
        lines = text.splitlines()
        for user_line in USER_LINES:
            assert user_line in lines, user_line
        assert not any(l.startswith("-setcookie") for l in lines)
        assert [l for l in lines if l.startswith("-name ")] == [f"-name {node(mb, h)}"]
        assert sh(mb.box, h, f"cat {VM_ARGS}.meshbeam-orig").stdout == USER_VM_ARGS


def test_lint_is_clean_on_rendered_vm_args(mb):
    text = sh(mb.box, "s1", f"cat {VM_ARGS}").stdout
    path = mb.dir.parent / "vm.args"
    path.write_text(text)
    r = mb("lint", str(path))
    assert "no findings" in r.output


def test_second_up_changes_nothing(mb):
    files = f"{VM_ARGS} {HOME}/.erlang.cookie /etc/meshbeam/nftables.nft"
    stamps = {h: sh(mb.box, h, f"stat -c %Y.%Z {files}").stdout for h in SERVERS}
    r = mb("up")
    assert "converged" not in r.output and "no changes" in r.output
    assert stamps == {h: sh(mb.box, h, f"stat -c %Y.%Z {files}").stdout for h in SERVERS}


def _join_line(output: str) -> str:
    return next(l.strip() for l in output.splitlines() if l.strip().startswith("erl -name"))


def laptop_join(mb: Meshbeam, join: str, target: str) -> str:
    sandbox.run(mb.box, "laptop", ["sh", "-c", "mkdir -p /root && umask 077 && cat > /root/.erlang.cookie && chmod 400 /root/.erlang.cookie"],
                input=(mb.dir / "keys" / "cookie").read_bytes())
    argv = join.split() + ["-noshell", "-eval", f"io:format(\"~p\", [net_adm:ping('{target}')]), halt()."]
    return sandbox.run(mb.box, "laptop", ["env", "HOME=/root", *argv], timeout=30).stdout.strip()


def test_laptop_joins_over_nat_with_the_printed_command(mb):
    laptop_up(mb, "laptop")
    assert eventually(lambda: laptop_join(mb, mb.laptop_join_line, node(mb, "s1")) == "pong", timeout=SETTLE)


def test_new_peer_is_allowed_live_without_nodedown(mb, tmp_path):
    watch = ("spawn(fun() -> net_kernel:monitor_nodes(true), "
             "receive {nodedown, N} -> file:write_file(\"/srv/mbapp/nodedown\", atom_to_list(N)) end end)")
    for h in SERVERS:
        start_watcher(mb, h, watch)
    r = mb("add-peer", "laptop2")
    join = _join_line(r.output)
    mb("up")
    name = f"laptop2@{mesh_ip(mb, 'laptop2')}"
    for h in SERVERS:
        assert name in rpc(mb, h, "net_kernel, allowed, []"), h
    # become laptop2: its own keys on the laptop, then join with the printed command
    laptop_down(mb)
    laptop_up(mb, "laptop2")
    assert eventually(lambda: laptop_join(mb, join, node(mb, "s2")) == "pong", timeout=SETTLE)
    time.sleep(1)
    for h in SERVERS:
        assert sh(mb.box, h, "cat /srv/mbapp/nodedown", check=False).returncode != 0, f"nodedown seen on {h}"
        assert rpc_ping(mb, h, "s1" if h != "s1" else "s2") == "pong"


def test_status_sees_a_whole_mesh_then_names_a_blocked_port(mb):
    assert rpc_ping(mb, "s1", "s2") == "pong"
    r = mb("status", "--json")
    report = json.loads(r.stdout)
    assert report["whole"] is True, r.stdout
    s1 = next(h for h in report["hosts"] if h["name"] == "s1")
    assert {p["dst"] for p in s1["pairs"]} == {"s2", "s3"} and all(p["label"] == "ok" for p in s1["pairs"])
    assert f"app@{mesh_ip(mb, 's2')}" in s1["connected_nodes"] and s1["iface_up"] is True
    if inventory_backend(mb) == "wireguard":
        assert any(p["name"] == "s2" and p["handshake_age"] is not None for p in s1["peers"]), s1["peers"]
    else:  # handshakes are WireGuard's: for tinc, status shows no per-peer figure rather than a made-up one
        assert s1["peers"] == [], s1["peers"]
    sh(mb.box, "s3", "nft add table inet mbtest; nft add chain inet mbtest c '{ type filter hook input priority -10; }'; "
       "nft add rule inet mbtest c tcp dport 9100 drop")
    try:
        r = mb("status", ok=False)
        assert r.exit_code == 1 and "port blocked" in r.output and "NOT whole" in r.output, r.output
    finally:
        sh(mb.box, "s3", "nft delete table inet mbtest")


def inventory_backend(mb: Meshbeam) -> str:
    return inventory.load(mb.dir).backend


def test_full_key_rotation_keeps_erlang_connections(mb):
    watch = ("spawn(fun() -> net_kernel:monitor_nodes(true), "
             "receive {nodedown, N} -> file:write_file(\"/srv/mbapp/nodedown-rotate\", atom_to_list(N)) end end)")
    for a, b in itertools.permutations(SERVERS, 2):
        assert rpc_ping(mb, a, b) == "pong"
    for h in SERVERS:
        start_watcher(mb, h, watch)
    old = {m.name: m.public_key for m in inventory.load(mb.dir).members}
    r = mb("rotate-keys", "--all")
    assert "rewrote" in r.output and "laptop" in r.output
    new = {m.name: m.public_key for m in inventory.load(mb.dir).members}
    assert all(old[n] != new[n] for n in old)
    r = mb("up")
    assert "converged" in r.output
    for a, b in itertools.permutations(SERVERS, 2):
        assert eventually(lambda: rpc_ping(mb, a, b) == "pong", timeout=SETTLE), f"{a} -> {b} after rotation"
    time.sleep(2)
    for h in SERVERS:
        assert sh(mb.box, h, "cat /srv/mbapp/nodedown-rotate", check=False).returncode != 0, f"nodedown on {h}"
    assert "no changes" in mb("up").output


def test_down_leaves_each_host_as_it_was_before_meshbeam(mb):
    mesh = inventory.load(mb.dir)
    r = mb("down", "--dry-run")
    assert "nft delete table inet meshbeam" in r.output and "dry run" in r.output
    mb("down", "--yes")
    for h in SERVERS:
        assert sh(mb.box, h, f"cat {VM_ARGS}").stdout == USER_VM_ARGS, "the user's vm.args is back, byte for byte"
        for gone in (f"{VM_ARGS}.meshbeam-orig", f"{HOME}/.erlang.cookie", "/etc/meshbeam/nftables.nft",
                     f"/etc/wireguard/{mesh.interface}.conf", f"/etc/tinc/{mesh.interface}"):
            assert sh(mb.box, h, f"test -e {gone}", check=False).returncode != 0, f"{gone} left on {h}"
        assert sh(mb.box, h, f"ip link show {mesh.interface}", check=False).returncode != 0
        assert "meshbeam" not in sh(mb.box, h, "nft list tables").stdout
        # SSH access is untouched: a fresh connection still works
        r = subprocess.run(["ssh", "-F", str(mb.box.ssh_config), mb.box.host(h).address, "true"], capture_output=True)
        assert r.returncode == 0, r.stderr
    assert "no changes" in mb("down", "--yes").output

