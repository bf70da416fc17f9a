"""`init --epmd none` end to end: nodes find each other on one fixed port, with no EPMD anywhere.

A module of its own: a module-scoped sandbox lives until its module ends, and two cannot be up
at once (the parametrized clusters of test_beam.py would still hold the underlay).
"""

from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path

import pytest

from meshbeam import sandbox
from tests.conftest import SETTLE

from .conftest import HOME, RUN_USER, Meshbeam, assert_ssh_still_works, eventually, mesh_ip, sh
from .test_beam import USER_VM_ARGS, VM_ARGS, ctl, erl, node, start_node

pytestmark = pytest.mark.e2e


def processes_in(box: sandbox.Sandbox, host: str, comm: str) -> list[int]:
    """PIDs of processes named `comm` in the host's network namespace.

    The hosts have no PID namespace of their own, so `pgrep` inside a host would see every
    process of the machine, another sandbox's EPMD included.
    """
    netns = os.readlink(f"/proc/{box.host(host).holder_pid}/ns/net")
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "comm").read_text().strip() == comm and os.readlink(p / "ns/net") == netns:
                found.append(int(p.name))
        except OSError:  # the process ended while we looked
            continue
    return found


@pytest.fixture(scope="module")
def mb_no_epmd(run_user, tmp_path_factory):
    """A WireGuard mesh made with `init --epmd none`: every node listens on the one port, and no
    EPMD runs anywhere."""
    prefix = "mbbne"
    sb = sandbox.up(2, prefix=prefix)
    try:
        logs = tmp_path_factory.mktemp("erl-logs-no-epmd")
        for s in sb.servers:
            sh(sb, s.name, f"mkdir -p {HOME} /srv/app && chown {RUN_USER} {HOME}")
            sandbox.run(sb, s.name, ["sh", "-c", f"cat > {VM_ARGS}"], input=USER_VM_ARGS.encode())
        mb = Meshbeam(tmp_path_factory.mktemp("beam-no-epmd") / "inv", sb)
        mb("init", "--cidr", "198.18.4.0/24", "--epmd", "none")
        for s in sb.servers:
            mb("add-host", s.name, f"root@{s.address}", "--vm-args", VM_ARGS, "--run-user", RUN_USER)
        mb("up")
        nodes = [start_node(mb, s.name, logs / f"{s.name}.log") for s in sb.servers]
        try:
            yield mb
        finally:
            for p in nodes:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        assert_ssh_still_works(sb)
    finally:
        sandbox.down(prefix=prefix, purge=True)


def test_without_epmd_nodes_connect_on_the_one_port_and_nothing_listens_on_4369(mb_no_epmd):
    mb = mb_no_epmd
    no_epmd = ("-erl_epmd_port", "9100")  # the control name's node, too, must know the port without EPMD
    for a, b in itertools.permutations(("s1", "s2")):
        ping = f"io:format(\"~p\", [rpc:call('{node(mb, a)}', net_adm, ping, ['{node(mb, b)}'])])"
        assert eventually(lambda: erl(mb.box, a, ctl(mb, a), ping, extra=no_epmd) == "pong", timeout=SETTLE), \
            f"{a} -> {b}"
    for h in ("s1", "s2"):
        lines = sh(mb.box, h, f"cat {VM_ARGS}").stdout.splitlines()
        assert "-start_epmd false" in lines and "-erl_epmd_port 9100" in lines
        listening = [l.split()[3] for l in sh(mb.box, h, "ss -Htln").stdout.splitlines()]
        assert not [a for a in listening if a.endswith(":4369")], f"something listens on 4369 on {h}: {listening}"
        assert [a for a in listening if a.endswith(":9100")] == [f"{mesh_ip(mb, h)}:9100"], listening
        assert processes_in(mb.box, h, "beam.smp"), f"no node found on {h}: the process check sees nothing"
        assert not processes_in(mb.box, h, "epmd"), f"an EPMD runs on {h}"
