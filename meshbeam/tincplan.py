"""The tinc 1.0 layer of a host's plan (pure): files under /etc/tinc/NET/, start or reload.

The net is named after the interface. A reload (SIGHUP) rereads the files and closes
connections to members whose hosts file is gone, so existing tunnels otherwise survive.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from typing import Protocol

from . import tinc
from .command import Cmd, sh
from .inventory import Host, Mesh, Peer
from .plantypes import SYSTEMD, Action, Facts, FileFact, Flag, Write, original, restore, write_if_needed
from .systemdplan import MESH_ENABLED

TOOLS = ("tincd", "ip")
PACKAGE = "tinc"


class Secrets(Protocol):
    def private_key(self, name: str) -> str: ...


def base(mesh: Mesh) -> str:
    return f"/etc/tinc/{mesh.interface}"


def pidfile(mesh: Mesh) -> str:
    return f"/run/tinc.{mesh.interface}.pid"


def node(member: Host | Peer) -> tinc.Node:
    return tinc.Node(member.name, member.address, member.public_key, member.endpoint if isinstance(member, Host) else None)


def files(mesh: Mesh, me: Host | Peer, secrets: Secrets) -> tinc.Files:
    render = tinc.render if isinstance(me, Host) else tinc.peer_bundle
    others = [node(m) for m in mesh.members if m.name != me.name]
    return render(mesh.interface, mesh.interface, mesh.cidr, node(me), others, secrets.private_key(me.name), port=mesh.port)


def _tincd_running(mesh: Mesh, host: Host) -> Cmd:
    pid = pidfile(mesh)
    return sh('[ -f {} ] && kill -0 "$(tr -dc 0-9 < {})" 2>/dev/null', pid, pid)


TINCD = Flag("tincd", _tincd_running)


def query_parts(mesh: Mesh) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Flag, ...], tuple[str, ...]]:
    """(paths, tools, flags, directories to list)."""
    b = base(mesh)
    paths = tuple(f"{b}/{p}" for p in ("tinc.conf", "rsa_key.priv", "tinc-up", "tinc-down"))
    paths += tuple(f"{b}/hosts/{tinc.tinc_name(m.name)}" for m in mesh.members)
    return paths, TOOLS, (TINCD,), (f"{b}/hosts",)


def layer(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> tuple[list[Write], list[str], list[Action]]:
    """(writes, removes, actions) for `up`."""
    b = base(mesh)
    writes = []
    for rel, (content, mode) in files(mesh, host, secrets).items():
        path = f"{b}/{rel}"
        w = write_if_needed(facts.files.get(path, FileFact(path, False)), content.encode(), mode, "root",
                            secret=rel == "rsa_key.priv")
        if w:
            writes.append(w)
    wanted = {tinc.tinc_name(m.name) for m in mesh.members}
    removes = [f"{b}/hosts/{n}" for n in facts.listings.get(f"{b}/hosts", ()) if n not in wanted]
    net = mesh.interface
    actions = []
    systemd = facts.has(SYSTEMD)
    if not facts.has(TINCD):
        if systemd:
            actions.append(Action(f"start tinc@{net}", sh("systemctl enable --now {}", f"tinc@{net}")))
        else:
            actions.append(Action(f"tincd -n {net}", sh("run_logged tincd -n {}", net)))
    elif any(_needs_restart(b, w) for w in writes):
        # tincd reads its own key, Port and ping timers only at start; a HUP would keep the old ones.
        restart = (sh("systemctl restart {}", f"tinc@{net}") if systemd else
                   _stop(mesh) + sh("; run_logged tincd -n {}", net))
        actions.append(Action(f"restart tincd -n {mesh.interface} (its key or tinc.conf changed)", restart))
    elif writes or removes:
        actions.append(Action(f"reload tincd -n {net} (HUP)", sh("tincd -n {} -kHUP", net)))
    return writes, removes, actions


def _stop(mesh: Mesh) -> Cmd:
    """Stop tincd and wait (up to 5 s) until it has gone, with its interface: `-k` only sends the signal."""
    return sh("tincd -n {} -k; i=0; while [ -f {} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done",
              mesh.interface, pidfile(mesh))


def _needs_restart(b: str, w: Write) -> bool:
    """A new own key, or a tinc.conf change beyond ConnectTo lines (which a HUP does apply)."""
    if w.path == f"{b}/rsa_key.priv":
        return w.reason != "mode"
    if w.path != f"{b}/tinc.conf" or w.old is None or not w.old.exists:
        return False

    def settings(text: bytes) -> list[bytes]:
        return [line for line in text.splitlines() if not line.startswith(b"ConnectTo")]

    return settings(w.old.content or b"") != settings(w.content)


def teardown(mesh: Mesh, host: Host, facts: Facts) -> tuple[list[Write], list[str], list[Action]]:
    """(writes, removes, actions) for `down`: tincd stopped, the host's own tinc files back or ours gone."""
    net = mesh.interface
    writes: list[Write] = []
    removes: list[str] = []
    actions = []
    systemd = facts.has(SYSTEMD)
    if facts.has(TINCD) or (systemd and facts.has(MESH_ENABLED)):
        stop = sh("systemctl disable --quiet --now {}", f"tinc@{net}") if systemd else _stop(mesh)
        actions.append(Action(f"stop tincd -n {net}", stop))
    b = base(mesh)
    mine = [p for p in facts.files if p.startswith(b + "/")]
    if any((original(facts, p) or FileFact(p, False)).exists for p in mine):
        for p in mine:  # the host had tinc files of its own there: put them back one by one
            w, r = restore(host, facts, p) or ([], [])
            writes, removes = writes + w, removes + r
    elif any(facts.files[p].exists for p in mine):
        actions.append(Action(f"remove {b}", sh("rm -rf -- {}", b)))
    return writes, removes, actions


def peer_files(mesh: Mesh, peer: Peer, secrets: Secrets) -> dict[str, tuple[str, int]]:
    """A roaming peer's files relative to its bundle directory, which becomes its /etc/tinc/NET/."""
    return files(mesh, peer, secrets)


def render_files(mesh: Mesh, secrets: Secrets,
                 names: Container[str] | None = None) -> Iterator[tuple[str, str, str, int]]:
    """(member, path under its directory, content, mode) of every member's tinc files, or those
    in `names`, for `render`."""
    for m in (m for m in mesh.members if names is None or m.name in names):
        for rel, (text, mode) in files(mesh, m, secrets).items():
            yield m.name, f"{mesh.interface}/{rel}", text, mode
