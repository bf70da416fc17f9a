"""Node names bound to mesh keys (meshbeam_dist, `identity: key`), end to end on a 3-server mesh with a laptop.

Before meshbeam_dist, on the same mesh, the laptop holding the cookie and started as `app@<s2's mesh address>`
got `pong` from s1, s3 claiming s2's name got `pong` too, and a name on no allow list that kept pinging s1
while s1's node restarted got `pong` in the window before `-eval net_kernel:allow(...)` ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time

import pytest

from meshbeam import distbuild, distmod, inventory, sandbox
from tests.conftest import SETTLE

from .conftest import HOME, RUN_USER, eventually, laptop_up, mesh_ip, sh
from .test_beam import BACKENDS, _cluster, erl, laptop_join, node, rpc, rpc_ping, start_node

SANDBOX_PREFIX = "mbid"


@pytest.fixture(scope="module", params=list(BACKENDS))
def mb(request, run_user, tmp_path_factory):
    interface, cidr, port = BACKENDS[request.param]
    prefix = f"{SANDBOX_PREFIX}{request.param[:2]}"
    sb = sandbox.up(3, laptop=True, prefix=prefix)
    restarted: list = []
    try:
        for mb in _cluster(request.param, interface, cidr, port, sb, tmp_path_factory):
            mb.restarted = restarted
            yield mb
            for p in restarted:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    finally:
        sandbox.down(prefix=prefix, purge=True)


def node_pid(mb, host: str) -> str:
    return rpc(mb, host, "os, getpid, []")


def restart_node(mb, host: str) -> None:
    """Stop the host's node and boot it again from its vm.args."""
    pid = node_pid(mb, host).strip('"')
    assert pid.isdigit(), pid
    sh(mb.box, host, f"kill -KILL {pid}")
    listening = f"{mesh_ip(mb, host)}:9100 "
    assert eventually(lambda: listening not in sh(mb.box, host, "ss -Htln").stdout, timeout=10), "the old node lives on"
    mb.restarted.append(start_node(mb, host, mb.dir.parent / f"{host}-restarted.log"))


def claim(mb, host: str, name: str, target: str) -> str:
    """net_adm:ping from `host` under the node name `name`, with the cluster's cookie."""
    return erl(mb.box, host, name, f"io:format(\"~p\", [net_adm:ping('{target}')])")


def test_the_cluster_runs_meshbeam_dist(mb):
    for h in ("s1", "s2", "s3"):
        vm_args = sh(mb.box, h, "cat /srv/app/vm.args").stdout
        assert "-proto_dist meshbeam\n-pa /etc/meshbeam/ebin\n" in vm_args
        assert sh(mb.box, h, f"stat -c '%U %a' {distmod.BEAM_PATH} {distmod.ALLOWED_FILE}").stdout.split() == \
            ["root", "644", "root", "644"]
        assert rpc_ping(mb, h, "s2" if h != "s2" else "s1") == "pong"


def refused(mb, host: str) -> str:
    """meshbeam_dist:refused() on the host's running node: [{ClaimedName, SourceIP, Count}]."""
    return rpc(mb, host, "meshbeam_dist, refused, []")


def test_a_member_cannot_claim_another_members_name(mb):
    s2, s3_ip = node(mb, "s2"), mesh_ip(mb, "s3")
    assert claim(mb, "s3", s2, node(mb, "s1")) == "pang"
    addr = s3_ip.replace(".", ",")
    assert f"{{<<\"{s2}\">>,{{{addr}}}," in refused(mb, "s1").replace(" ", ""), refused(mb, "s1")
    assert rpc_ping(mb, "s3", "s1") == "pong", "s3 under its own name still connects"


def test_the_laptop_cannot_claim_a_servers_name_but_joins_under_its_own(mb):
    laptop_on_mesh(mb)
    own = mb.laptop_join_line
    assert eventually(lambda: laptop_join(mb, own, node(mb, "s1")) == "pong", timeout=SETTLE)
    impostor = own.replace(f"laptop@{mesh_ip(mb, 'laptop')}", node(mb, "s2"))
    assert impostor != own
    for target in ("s1", "s3"):
        assert laptop_join(mb, impostor, node(mb, target)) == "pang", f"the laptop got in as s2 on {target}"
    call = f"rpc:call('{node(mb, 's1')}', erlang, node, [])"
    argv = own.split() + ["-noshell", "-eval", f"io:format(\"~p\", [{call}]), halt()."]
    out = sandbox.run(mb.box, "laptop", ["env", "HOME=/root", *argv], timeout=30).stdout.strip()
    assert out == f"'{node(mb, 's1')}'", "the laptop under its own name can rpc into the cluster"
    lap = mesh_ip(mb, "laptop").replace(".", ",")
    assert f"{{<<\"{node(mb, 's2')}\">>,{{{lap}}}," in refused(mb, "s1").replace(" ", "")


def test_status_shows_each_nodes_mode_and_whom_it_refused(mb):
    report = json.loads(mb("status", "--json").stdout)
    s1 = next(h for h in report["hosts"] if h["name"] == "s1")
    assert {h["dist"] for h in report["hosts"]} == {"meshbeam"}
    laptop = {"claimed": node(mb, "s2"), "source": mesh_ip(mb, "laptop")}
    assert any({k: r[k] for k in laptop} == laptop and r["count"] >= 1 for r in s1["refused"]), s1["refused"]
    text = mb("status").output
    assert "s1: refused " in text and f"claiming {node(mb, 's2')} from {mesh_ip(mb, 'laptop')}" in text, text


def test_an_unlisted_name_is_never_let_in_while_a_node_boots(mb):
    """s3 knocks as `intruder@<s3's address>` every 50 ms while s1's node stops and boots again."""
    loop = ("T = '" + node(mb, "s1") + "', "
            "P = [begin timer:sleep(50), net_adm:ping(T) end || _ <- lists:seq(1, 300)], "
            "io:format(\"~p\", [length([x || pong <- P])])")
    knocker = sandbox.spawn(mb.box, "s3", ["env", f"HOME={HOME}", "erl", "-noshell", "-hidden", "-dist_listen", "false",
                                           "-start_epmd", "false", "-name", f"intruder@{mesh_ip(mb, 's3')}",
                                           "-eval", f"{loop}, halt()."], log=mb.dir.parent / "knocker.log", user=RUN_USER)
    try:
        time.sleep(2)
        before = node_pid(mb, "s1")
        restart_node(mb, "s1")
        assert eventually(lambda: rpc_ping(mb, "s2", "s1") == "pong", timeout=30)
        assert node_pid(mb, "s1") != before, "s1's node did not boot again"
        assert knocker.wait(timeout=60) == 0
    finally:
        if knocker.poll() is None:
            os.killpg(knocker.pid, signal.SIGKILL)
            knocker.wait()
    assert (mb.dir.parent / "knocker.log").read_text().strip() == "0", "an unlisted name got pong"


def laptop_on_mesh(mb) -> None:
    if sh(mb.box, "laptop", f"ip link show {inventory.load(mb.dir).interface}", check=False).returncode != 0:
        laptop_up(mb, "laptop")


def test_a_removed_peer_is_refused_without_a_restart(mb):
    laptop_on_mesh(mb)
    own = mb.laptop_join_line
    assert eventually(lambda: laptop_join(mb, own, node(mb, "s1")) == "pong", timeout=SETTLE), (
        laptop_join(mb, own, node(mb, "s1")), refused(mb, "s1"), sh(mb.box, "laptop", "wg show; ip addr").stdout,
        sh(mb.box, "s1", f"cat {distmod.ALLOWED_FILE}; wg show").stdout)
    pids = {h: node_pid(mb, h) for h in ("s1", "s2", "s3")}
    mb("remove-peer", "laptop")
    mb("up")
    for h in ("s1", "s2", "s3"):
        assert "laptop@" not in sh(mb.box, h, f"cat {distmod.ALLOWED_FILE}").stdout
    assert laptop_join(mb, own, node(mb, "s1")) == "pang"
    assert {h: node_pid(mb, h) for h in pids} == pids, "a node restarted"


def beam_sha(mb, host: str) -> str:
    return sh(mb.box, host, f"sha256sum < {distmod.BEAM_PATH}").stdout.split()[0]


def test_the_nodes_run_the_module_compiled_here_and_a_host_compiles_its_own_without_it(mb):
    """The sandbox hosts run this machine's ERTS, so `up` installed the .beam compiled here (the same bytes on
    every host: compiled once, deterministic). With MESHBEAM_ERL empty, a host whose .beam is gone compiles the
    source with its own erlc, and its node boots with that module and rejoins."""
    here = hashlib.sha256(distbuild.compile_here().beam).hexdigest()
    assert {h: beam_sha(mb, h) for h in ("s1", "s2", "s3")} == {"s1": here, "s2": here, "s3": here}
    sh(mb.box, "s1", f"rm {distmod.BEAM_PATH}")
    out = mb("up", env={"MESHBEAM_ERL": ""}).output
    assert "compile meshbeam_dist into /etc/meshbeam/ebin" in out and "MESHBEAM_ERL is empty" in out, out
    assert beam_sha(mb, "s1") != here, "s1 did not compile its own"
    assert sh(mb.box, "s1", f"stat -c '%U %a' {distmod.BEAM_PATH}").stdout.split() == ["root", "644"]
    restart_node(mb, "s1")
    assert eventually(lambda: rpc_ping(mb, "s2", "s1") == "pong", timeout=30)
    assert rpc(mb, "s1", "code, which, [meshbeam_dist]") == f'"{distmod.BEAM_PATH}"'
    again = mb("up").output
    assert f"install {distmod.MODULE}" not in again and f"compile {distmod.MODULE}" not in again, again
