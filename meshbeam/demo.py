"""`meshbeam sandbox demo`: the whole story on one machine, each step printed as a user types it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import inventory, sandbox

PREFIX = "mbdemo"
VM_ARGS = "/srv/app/vm.args"
USER_VM_ARGS = "-name app@old-host\n-setcookie visible-in-ps\n-kernel inedist_listen_max 9010\n+K true\n"


def run_demo(say: Callable[[str], None]) -> bool:
    """Build a sandbox, a mesh and the BEAM binding, show them working, tear everything down."""
    box = sandbox.up(3, laptop=True, prefix=PREFIX)
    try:
        with tempfile.TemporaryDirectory(prefix="meshbeam-demo-") as tmp:
            return _story(box, Path(tmp) / "inventory", say)
    finally:
        sandbox.down(prefix=PREFIX, purge=True)
        say("sandbox torn down")


def _story(box: sandbox.Sandbox, inv: Path, say: Callable[[str], None]) -> bool:
    env = dict(os.environ, MESHBEAM_DIR=str(inv), MESHBEAM_SSH_CONFIG=str(box.ssh_config))

    def meshbeam(*args: str) -> None:
        say(f"$ meshbeam {shlex.join(args)}")
        subprocess.run([sys.executable, "-m", "meshbeam", *args], env=env, check=True)

    def on(host: str, cmd: str) -> bool:
        say(f"[{host}]$ {cmd}")
        r = sandbox.run(box, host, ["sh", "-c", cmd], check=False)
        say((r.stdout + r.stderr).rstrip())
        return r.returncode == 0

    say(f"sandbox: servers {', '.join(f'{h.name}={h.address}' for h in box.servers)}, laptop behind NAT")
    for h in box.servers:  # an application's own vm.args, with the classic traps in it
        sandbox.run(box, h.name, ["sh", "-c", f"mkdir -p /srv/app && cat > {VM_ARGS}"], input=USER_VM_ARGS.encode())
    meshbeam("init", "--cidr", "198.18.0.0/24")
    for h in box.servers:
        meshbeam("add-host", h.name, f"root@{h.address}", "--vm-args", VM_ARGS)
    meshbeam("add-peer", "laptop")
    meshbeam("up")
    mesh = inventory.load(inv)
    ok = all(on("s1", f"ping -q -c1 -W2 {h.address}") for h in mesh.hosts[1:])
    ok &= on("s1", f"cat {VM_ARGS}")
    for h in box.servers:  # each node started as its operator would: from the rewritten vm.args
        sandbox.spawn(box, h.name, ["erl", "-args_file", VM_ARGS, "-noshell", "-noinput"], log=inv / f"{h.name}.log")
    first, *others = mesh.hosts
    pings = ", ".join(f"net_adm:ping('{o.node}')" for o in others)
    ok &= on("s1", f"sleep 3; erl -noshell -hidden -dist_listen false -start_epmd false "
                   f"-name meshbeam_ctl@{first.address} -eval \"io:format('~p~n', [rpc:call('{first.node}', "
                   f"erlang, apply, [fun() -> [{pings}] end, []])]), halt().\" | grep -x '\\[pong,pong\\]'")
    underlay = box.servers[0].address
    ok &= not on("s2", f"python3 -c \"import socket; socket.create_connection(('{underlay}', 9100), 2)\"")
    conf = (inv / "peers" / "laptop.conf").read_bytes()
    sandbox.run(box, "laptop", ["sh", "-c", "umask 077; cat > /etc/wireguard/mb0.conf"], input=conf)
    ok &= on("laptop", "wg-quick up mb0 2>&1 | tail -1")
    ok &= all(on("laptop", f"ping -q -c1 -W2 {h.address}") for h in mesh.hosts)
    ok &= on("s1", "wg show mb0 latest-handshakes")
    meshbeam("up")  # a second run has nothing to do
    say("demo " + ("succeeded" if ok else "FAILED"))
    return ok
