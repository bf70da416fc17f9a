"""`meshbeam status`: one read-only round trip per host, then a verdict for every pair.

Per host: the interface, WireGuard peers (handshake age, bytes each way), a mesh ping to
every other member, what listens on the distribution port and on 4369, what a reboot would
lose (the firewall table; on systemd hosts the units enabled, EPMD masked with `--epmd none`,
the unit files and the table file as `up` wrote them), and for hosts that
run a node, a TCP probe and an Erlang ping from that node to every other node. A broken pair
is labelled: tunnel down, port blocked, cookie mismatch, or name/address mismatch.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import asdict, dataclass, field

from . import beamplan, firewallplan, hostlib, systemdplan, units, vmargs
from .command import Cmd, Sh, lines, sh
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
class Refusal:
    """Incoming connections meshbeam_dist refused since the node started: the name claimed, from where."""

    claimed: str
    source: str
    count: int


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
    dist: str = ""  # the distribution module the running node uses ("meshbeam", "inet_tcp"); "" when not probed
    refused: tuple[Refusal, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.ssh and self.iface_up and not self.findings and all(p.ok for p in self.pairs)


def _erl_string(text: str) -> str:
    """`text` as an Erlang string literal: every character but plain printable ASCII escaped."""
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-:")
    return '"' + "".join(c if c in ok else f"\\x{{{ord(c):x}}}" for c in text) + '"'


def _probe_expr(mesh: Mesh, me: Host, others: list[Host]) -> str:
    """Erlang run by the control node: TCP to each node's port, ping, EPMD names, own node's nodes()."""
    checks = ", ".join(f"{{{_erl_string(o.node)}, {_erl_string(o.address)}, {_erl_string(o.node_name)}}}"
                       for o in others)
    port = mesh.dist_port
    epmd = "[]" if mesh.epmd == "none" else "case erl_epmd:names(A) of {ok, Ns} -> [N || {N, _} <- Ns]; _ -> [] end"
    return (
        f"Me = {vmargs.erl_atom(me.node)}, "
        "io:format(\"nodes ~s~n\", [string:join([atom_to_list(N) || N <- "
        "case rpc:call(Me, erlang, nodes, [], 5000) of L when is_list(L) -> L; _ -> [] end], \" \")]), "
        # which distribution module the node runs, and whom meshbeam_dist refused (names are printable, no spaces)
        "io:format(\"dist ~s~n\", [case rpc:call(Me, init, get_argument, [proto_dist], 5000) of "
        "{ok, [[Proto | _] | _]} -> Proto; error -> \"inet_tcp\"; _ -> \"unknown\" end]), "
        "case rpc:call(Me, meshbeam_dist, refused, [], 5000) of Refused when is_list(Refused) -> "
        "[io:format(\"refused ~s ~s ~p~n\", [RName, inet:ntoa(RIp), RCount]) || {RName, RIp, RCount} <- Refused]; "
        "_ -> ok end, "
        f"lists:foreach(fun({{N, Ip, Base}}) -> {{ok, A}} = inet:parse_address(Ip), "
        f"Tcp = case gen_tcp:connect(A, {port}, [], 2000) of {{ok, S}} -> gen_tcp:close(S), tcp; _ -> notcp end, "
        "Ping = case rpc:call(Me, net_adm, ping, [list_to_atom(N)], 10000) of P when is_atom(P) -> P; _ -> pang end, "
        f"Reg = lists:member(Base, {epmd}), "
        "io:format(\"beam ~s ~p ~p ~p~n\", [N, Tcp, Ping, Reg]) end, "
        f"[{checks}]), halt()."
    )


def script_cmd(mesh: Mesh, me: Host) -> Cmd:
    iface = mesh.interface
    out = [
        hostlib.COMMON,
        sh("ip link show dev {} >/dev/null 2>&1 && echo iface", iface),
        sh('wg show {} dump 2>/dev/null | tail -n +2 | while read -r pub _ _ _ hs rx tx _; do echo "peer $pub $hs $rx $tx"; done',
           iface),
        sh('ss -Htln 2>/dev/null | while read -r _ _ _ local _; do echo "listen $local"; done'),
        sh("echo now $(date +%s)"),
    ]
    for m in mesh.hosts:  # roaming peers come and go; their handshake age is shown, not judged
        if m.name != me.name:
            out.append(sh('(ping -c1 -W1 {} >/dev/null 2>&1 && echo "ping "{}" up" || echo "ping "{}" down") &',
                          m.address, m.address, m.address))
    out.append(sh("wait"))
    out += boot_checks(mesh, me)
    others = [h for h in mesh.hosts if h.name != me.name and h.vm_args]
    if me.vm_args and others:
        cookie = beamplan.cookie_path(me)
        if cookie.startswith("~"):  # no probe at all for a user without a home, never a cookie at /
            find = sh("home_of {} && ", me.run_user)
            src = sh('"$home"/.erlang.cookie')
        else:
            find, src = Cmd(), sh("{}", cookie)
        epmd = sh(" -erl_epmd_port {}", mesh.dist_port) if mesh.epmd == "none" else Cmd()
        out += [
            sh("work=$(mktemp -d); trap 'rm -rf \"$work\"' EXIT"),
            # the cookie is read as the one who owns its directory, never through a link (hostlib)
            find + sh('read_owned {} > "$work/.erlang.cookie" 2>/dev/null && chmod 400 "$work/.erlang.cookie" && ', src)
            + Cmd(Sh('HOME="$work" timeout 60 erl -noshell -hidden -dist_listen false -start_epmd false'), epmd,
                  sh(" -name {} -eval {} 2>/dev/null", beamplan.control_node(me), _probe_expr(mesh, me, others))),
        ]
    return lines(*out)


def _expected_files(mesh: Mesh, me: Host) -> list[tuple[str, str]]:
    """(path, sha256) of every file the next boot reads for this host, as `up` writes them."""
    if not me.vm_args:
        return []
    files = [(firewallplan.NFT_FILE, firewallplan.ruleset(mesh))]
    files += [(f.path, f.content) for f in systemdplan.unit_files(mesh, me)]
    return [(p, hashlib.sha256(c.encode()).hexdigest()) for p, c in files]


def boot_checks(mesh: Mesh, me: Host) -> list[Cmd]:
    """What a reboot would lose. Only what is wrong is printed (`lost ...`), so a host without systemd, or a
    recording made before these checks, reads as fine on everything but the table."""
    out = []
    if me.vm_args:
        out.append(sh("nft list table inet {} >/dev/null 2>&1 || echo 'lost table'", firewallplan.NFT_TABLE))
    systemd = [systemdplan.mesh_at_boot(mesh) + sh(" || echo 'lost mesh-unit'")]
    if me.vm_args:
        systemd.append(sh("systemctl is-enabled --quiet {} 2>/dev/null || echo 'lost firewall-unit'",
                          units.FIREWALL_UNIT))
        if mesh.epmd == "none":
            systemd.append(systemdplan.epmd_masked() + sh(" || echo 'lost epmd-mask'"))
        for i, (path, digest) in enumerate(_expected_files(mesh, me)):
            systemd.append(sh('[ "$(sha256sum 2>/dev/null < {} | cut -c1-64)" = {} ] || echo "lost file {}"',
                              path, digest, i))
    out.append(Cmd(Sh("if [ -d /run/systemd/system ]; then\n"), *(c + Cmd(Sh("\n")) for c in systemd), Sh("fi")))
    return out


def _lost(mesh: Mesh, me: Host, what: list[str]) -> str | None:
    if what == ["table"]:
        return ("firewall table missing: 4369 and the distribution port are not dropped off the mesh "
                "(run `meshbeam up`)")
    if what == ["mesh-unit"]:
        return f"{systemdplan.mesh_unit(mesh)} is not enabled: the mesh does not come up at boot"
    if what == ["firewall-unit"]:
        return f"{units.FIREWALL_UNIT} is not enabled: the firewall table is not loaded at boot"
    if what == ["epmd-mask"]:
        return ("epmd.socket and epmd.service are not both masked (--epmd none): EPMD listens on every address "
                "after a reboot")
    files = _expected_files(mesh, me)
    if len(what) == 2 and what[0] == "file" and what[1].isdigit() and int(what[1]) < len(files):
        return f"{files[int(what[1])][0]} is missing or not as `up` wrote it: the next boot would not restore it"
    return None


def script(mesh: Mesh, me: Host) -> str:
    """The read-only probe script, as the host's shell runs it."""
    return script_cmd(mesh, me).render()


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
    now = int(time.time())  # the host's clock, from its `now` line, once read
    iface, handshakes, listeners, pings, beams, nodes = False, [], [], {}, {}, ()
    dist, refused = "", []
    lost: list[str] = []
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        f = rest.split()
        if kind == "iface":
            iface = True
        elif kind == "now" and f:
            now = int(f[0])
        elif kind == "peer" and len(f) == 4 and f[0] in by_key:
            handshakes.append((by_key[f[0]], int(f[1]), int(f[2]), int(f[3])))
        elif kind == "listen" and f:
            listeners.append(f[0])
        elif kind == "ping" and len(f) == 2 and f[0] in by_ip:
            pings[by_ip[f[0]].name] = f[1] == "up"
        elif kind == "beam" and len(f) == 4 and f[0] in by_node:
            beams[by_node[f[0]].name] = (f[1], f[2], f[3])
        elif kind == "nodes":
            nodes = tuple(f)
        elif kind == "dist" and len(f) == 1:
            dist = f[0]
        elif kind == "refused" and len(f) == 3 and f[2].isdigit():
            refused.append(Refusal(f[0], f[1], int(f[2])))
        elif kind == "lost" and (finding := _lost(mesh, me, f)):
            lost.append(finding)
    # Ages are taken against the host's clock, which the probe prints after the `peer` lines.
    peers = [PeerStat(name, (now - hs) if hs else None, rx, tx) for name, hs, rx, tx in handshakes]
    ports = {mesh.dist_port, EPMD_PORT}
    watched = [l for l in listeners if l.rpartition(":")[2].isdigit() and int(l.rpartition(":")[2]) in ports]
    findings = tuple(
        f"{l} listens off the mesh" for l in watched if not _on_mesh_or_loopback(l.rpartition(":")[0], me.address)
    ) + tuple(lost)
    if mesh.identity == "key" and dist == "inet_tcp":
        findings += (f"{me.node} runs inet_tcp_dist: any cookie holder can claim a listed name until the node "
                     "restarts with meshbeam_dist (its vm.args already names it)",)
    pairs = tuple(Pair(me.name, n, _label(up, beams.get(n)) == "ok", _label(up, beams.get(n))) for n, up in sorted(pings.items()))
    return HostStatus(me.name, True, None, iface, tuple(sorted(peers, key=lambda p: p.name)), tuple(sorted(watched)),
                      findings, nodes, pairs, dist, tuple(refused))


def _on_mesh_or_loopback(addr: str, mesh_ip: str) -> bool:
    addr = addr.strip("[]").split("%")[0]
    if addr == "*":
        return False
    ip = ipaddress.ip_address(addr)
    return ip.is_loopback or addr == mesh_ip


def to_json(statuses: list[HostStatus]) -> dict:
    """Stable output for scripts: sorted keys, fixed field names."""
    return {"whole": all(s.healthy for s in statuses), "hosts": [asdict(s) | {"healthy": s.healthy} for s in statuses]}
