"""`meshbeam sandbox demo`: the whole story on one machine.

meshbeam's own commands are printed as a user types them, with their output; every check on a
host prints one line saying what was seen and whether that is what meshbeam intends.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import inventory, sandbox

PREFIX = "mbdemo"
VM_ARGS = "/srv/app/vm.args"
USER_VM_ARGS = "-name app@old-host\n-setcookie visible-in-ps\n-kernel inedist_listen_max 9010\n+K true\n"
# Connects to ARGV[1]:ARGV[2] from inside a host and prints one word and the reason, never a traceback.
TCP_PROBE = """import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError as e:
    print(f"closed ({e.strerror or e})")
else:
    print("open")
"""
NODE_WAIT = 30  # seconds for the freshly started nodes to register and answer


class DemoError(sandbox.SandboxError):
    """A meshbeam command failed: the rest of the story would make no sense."""


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
    results: list[bool] = []

    def meshbeam(*args: str) -> None:
        say(f"$ meshbeam {shlex.join(args)}")
        r = subprocess.run([sys.executable, "-m", "meshbeam", *args], env=env, capture_output=True, text=True)
        for line in (r.stdout + r.stderr).rstrip("\n").splitlines():
            say(f"  {line}")
        if r.returncode:
            raise DemoError(f"`meshbeam {args[0]}` failed with exit status {r.returncode}; the demo stops here")

    def on(host: str, argv: list[str], input: bytes | None = None) -> subprocess.CompletedProcess:
        return sandbox.run(box, host, argv, input=input, check=False)

    def check(ok: bool, line: str) -> None:
        results.append(ok)
        say(line if ok else f"{line}: NOT as intended")

    say(f"sandbox: servers {', '.join(f'{h.name}={h.address}' for h in box.servers)}, laptop behind NAT")
    for h in box.servers:  # an application's own vm.args, with the classic traps in it
        on(h.name, ["sh", "-c", f"mkdir -p /srv/app && cat > {VM_ARGS}"], USER_VM_ARGS.encode())
    meshbeam("init", "--cidr", "198.18.0.0/24")
    for h in box.servers:
        meshbeam("add-host", h.name, f"root@{h.address}", "--vm-args", VM_ARGS)
    meshbeam("add-peer", "laptop")
    meshbeam("up")
    mesh = inventory.load(inv)
    first, *others = mesh.hosts

    for h in others:
        ok = on(first.name, ["ping", "-q", "-c1", "-W2", h.address]).returncode == 0
        check(ok, f"ping {h.address} ({h.name}) from {first.name} over the mesh: {'answers' if ok else 'no answer'}")
    say(f"{VM_ARGS} on {first.name}, as meshbeam rewrote it:")
    for line in on(first.name, ["cat", VM_ARGS]).stdout.splitlines():
        say(f"  {line}")

    for h in box.servers:  # each node started as its operator would: from the rewritten vm.args
        sandbox.spawn(box, h.name, ["erl", "-args_file", VM_ARGS, "-noshell", "-noinput"], log=inv / f"{h.name}.log")
    pings = ", ".join(f"net_adm:ping('{o.node}')" for o in others)
    expr = (f"io:format(\"~p~n\", [rpc:call('{first.node}', erlang, apply, [fun() -> [{pings}] end, []])]), "
            "halt().")
    probe = ["erl", "-noshell", "-hidden", "-dist_listen", "false", "-start_epmd", "false",
             "-name", f"meshbeam_ctl@{first.address}", "-eval", expr]
    deadline = time.monotonic() + NODE_WAIT
    while (answer := on(first.name, probe).stdout.strip()) != "[pong,pong]" and time.monotonic() < deadline:
        time.sleep(1)
    check(answer == "[pong,pong]", f"{first.node} pings the other nodes over the mesh: {answer or 'no answer'}")

    underlay = box.servers[0].address
    for port in (mesh.dist_port, 4369):
        state = on("s2", ["python3", "-c", TCP_PROBE, underlay, str(port)]).stdout.strip() or "no answer from the probe"
        closed = state.startswith("closed")
        check(closed, f"{port} on {underlay} from s2: {state}" + (", as intended" if closed else ""))

    conf = (inv / "peers" / "laptop.conf").read_bytes()
    on("laptop", ["sh", "-c", f"umask 077; cat > /etc/wireguard/{mesh.interface}.conf"], conf)
    r = on("laptop", ["wg-quick", "up", mesh.interface])
    check(r.returncode == 0, f"wg-quick up {mesh.interface} on the laptop: "
          + ("up" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["failed"])[-1]))
    for h in mesh.hosts:
        ok = on("laptop", ["ping", "-q", "-c1", "-W2", h.address]).returncode == 0
        check(ok, f"ping {h.address} ({h.name}) from the laptop, behind NAT: {'answers' if ok else 'no answer'}")
    meshbeam("up")  # a second run has nothing to do
    ok = all(results)
    say("demo " + ("succeeded" if ok else "FAILED"))
    return ok
