"""`meshbeam status`: one read-only round trip per host, then a verdict for every pair.

Per host: the interface, WireGuard peers (handshake age, bytes each way), a mesh ping to
every other member, what listens on the distribution port and on 4369, and for hosts that
run a node, a TCP probe and an Erlang ping from that node to every other node. A broken pair
is labelled: tunnel down, port blocked, cookie mismatch, or name/address mismatch.
"""

from __future__ import annotations

import ipaddress
import shlex
import time
from dataclasses import asdict, dataclass, field

from . import beamcfg, beamplan
from .inventory import Host, Mesh

EPMD_PORT = 4369


@dataclass(frozen=True)
class PeerStat:
    name: str
    handshake_age: int | None  # seconds; None: never
    rx: int
    tx: int


@dataclass(frozen=True)
class Pair:
    src: str
    dst: str
    ok: bool
    label: str  # "ok", "tunnel down", "port blocked", "cookie mismatch", "name/address mismatch"


@dataclass(frozen=True)
class HostStatus:
    name: str
    ssh: bool
    error: str | None = None
    iface_up: bool = False
    peers: tuple[PeerStat, ...] = ()
    listeners: tuple[str, ...] = ()  # "ADDR:PORT" on the dist port and 4369
    findings: tuple[str, ...] = ()
    connected_nodes: tuple[str, ...] = ()
    pairs: tuple[Pair, ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        return self.ssh and self.iface_up and not self.findings and all(p.ok for p in self.pairs)


def _probe_expr(mesh: Mesh, me: Host, others: list[Host]) -> str:
    """Erlang run by the control node: TCP to each node's port, ping, EPMD names, own node's nodes()."""
    checks = ", ".join(f'{{"{o.node}", "{o.address}", "{o.node_name}"}}' for o in others)
    port = mesh.dist_port
    epmd = "[]" if mesh.epmd == "none" else "case erl_epmd:names(A) of {ok, Ns} -> [N || {N, _} <- Ns]; _ -> [] end"
    return (
        f"Me = {beamcfg.erl_atom(me.node)}, "
        "io:format(\"nodes ~s~n\", [string:join([atom_to_list(N) || N <- "
        "case rpc:call(Me, erlang, nodes, [], 5000) of L when is_list(L) -> L; _ -> [] end], \" \")]), "
        f"lists:foreach(fun({{N, Ip, Base}}) -> {{ok, A}} = inet:parse_address(Ip), "
        f"Tcp = case gen_tcp:connect(A, {port}, [], 2000) of {{ok, S}} -> gen_tcp:close(S), tcp; _ -> notcp end, "
        "Ping = case rpc:call(Me, net_adm, ping, [list_to_atom(N)], 10000) of P when is_atom(P) -> P; _ -> pang end, "
        f"Reg = lists:member(Base, {epmd}), "
        "io:format(\"beam ~s ~p ~p ~p~n\", [N, Tcp, Ping, Reg]) end, "
        f"[{checks}]), halt()."
    )


def script(mesh: Mesh, me: Host) -> str:
    iface = shlex.quote(mesh.interface)
    lines = [
        f"ip link show dev {iface} >/dev/null 2>&1 && echo iface",
        f"wg show {iface} dump 2>/dev/null | tail -n +2 | while read -r pub _ _ _ hs rx tx _; do echo \"peer $pub $hs $rx $tx\"; done",
        "ss -Htln 2>/dev/null | while read -r _ _ _ local _; do echo \"listen $local\"; done",
        "echo now $(date +%s)",
    ]
    for m in mesh.hosts:  # roaming peers come and go; their handshake age is shown, not judged
        if m.name != me.name:
            ip = shlex.quote(m.address)
            lines.append(f"(ping -c1 -W1 {ip} >/dev/null 2>&1 && echo \"ping {m.address} up\" || echo \"ping {m.address} down\") &")
    lines.append("wait")
    others = [h for h in mesh.hosts if h.name != me.name and h.vm_args]
    if me.vm_args and others:
        cookie = beamplan.cookie_path(me)
        src = f'"$(getent passwd {shlex.quote(me.run_user)} | cut -d: -f6)"/.erlang.cookie' if cookie.startswith("~") else shlex.quote(cookie)
        epmd = f" -erl_epmd_port {mesh.dist_port}" if mesh.epmd == "none" else ""
        lines += [
            'work=$(mktemp -d); trap \'rm -rf "$work"\' EXIT',
            f'cp {src} "$work/.erlang.cookie" 2>/dev/null && chmod 400 "$work/.erlang.cookie" && '
            f'HOME="$work" timeout 60 erl -noshell -hidden -dist_listen false -start_epmd false{epmd} '
            f"-name {beamplan.control_node(me)} -eval {shlex.quote(_probe_expr(mesh, me, others))} 2>/dev/null",
        ]
    return "\n".join(lines) + "\n"


def _label(ping_up: bool, beam: tuple[str, str, str] | None) -> str:
    if not ping_up:
        return "tunnel down"
    if beam is None:
        return "ok"
    tcp, ping, registered = beam
    if tcp != "tcp":  # even with a pong over an old connection: the next connect would fail
        return "port blocked"
    if ping == "pong":
        return "ok"
    return "cookie mismatch" if registered == "true" else "name/address mismatch"


def parse(mesh: Mesh, me: Host, output: str) -> HostStatus:
    by_key = {m.public_key: m.name for m in mesh.members}
    by_ip = {m.address: m for m in mesh.members}
    by_node = {m.node: m for m in mesh.members}
    now = int(time.time())
    iface, peers, listeners, pings, beams, nodes = False, [], [], {}, {}, ()
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        f = rest.split()
        if kind == "iface":
            iface = True
        elif kind == "now" and f:
            now = int(f[0])
        elif kind == "peer" and len(f) == 4 and f[0] in by_key:
            hs = int(f[1])
            peers.append(PeerStat(by_key[f[0]], (now - hs) if hs else None, int(f[2]), int(f[3])))
        elif kind == "listen" and f:
            listeners.append(f[0])
        elif kind == "ping" and len(f) == 2 and f[0] in by_ip:
            pings[by_ip[f[0]].name] = f[1] == "up"
        elif kind == "beam" and len(f) == 4 and f[0] in by_node:
            beams[by_node[f[0]].name] = (f[1], f[2], f[3])
        elif kind == "nodes":
            nodes = tuple(f)
    ports = {mesh.dist_port, EPMD_PORT}
    watched = [l for l in listeners if l.rpartition(":")[2].isdigit() and int(l.rpartition(":")[2]) in ports]
    findings = tuple(
        f"{l} listens off the mesh" for l in watched if not _on_mesh_or_loopback(l.rpartition(":")[0], me.address)
    )
    pairs = tuple(Pair(me.name, n, _label(up, beams.get(n)) == "ok", _label(up, beams.get(n))) for n, up in sorted(pings.items()))
    return HostStatus(me.name, True, None, iface, tuple(sorted(peers, key=lambda p: p.name)), tuple(sorted(watched)),
                      findings, nodes, pairs)


def _on_mesh_or_loopback(addr: str, mesh_ip: str) -> bool:
    addr = addr.strip("[]").split("%")[0]
    if addr == "*":
        return False
    ip = ipaddress.ip_address(addr)
    return ip.is_loopback or addr == mesh_ip


def to_json(statuses: list[HostStatus]) -> dict:
    """Stable output for scripts: sorted keys, fixed field names."""
    return {"whole": all(s.healthy for s in statuses), "hosts": [asdict(s) | {"healthy": s.healthy} for s in statuses]}
