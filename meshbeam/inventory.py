"""The inventory: `DIR/mesh.yaml` <-> frozen dataclasses, with validation and address allocation.

Only public facts live in the YAML (names, addresses, public keys). Secrets live under
`DIR/keys/` (see keys.py), so the YAML can be read, diffed and committed freely.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .fsutil import atomic_write

MESH_FILE = "mesh.yaml"
BACKENDS = ("wireguard", "tinc")
EPMD_MODES = ("mesh", "none")
DEFAULT_CIDR = "10.90.0.0/24"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_IFACE = re.compile(r"[A-Za-z0-9_.=+-]{1,15}")  # wg-quick's own rule for interface names
_NODE_BASE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


@dataclass(frozen=True)
class Host:
    """A server managed over SSH."""

    name: str
    ssh: str  # [user@]address[:port], or an alias from ~/.ssh/config
    address: str  # mesh address
    endpoint: str  # host:port that other members dial
    public_key: str
    node_name: str = "app"
    vm_args: str | None = None
    run_user: str = "root"
    mix_release: bool = False  # vm_args is RELEASE/releases/VSN/vm.args of a mix release

    @property
    def node(self) -> str:
        return f"{self.node_name}@{self.address}"


@dataclass(frozen=True)
class Peer:
    """A roaming member (a laptop): not managed over SSH, dials the servers."""

    name: str
    address: str
    public_key: str

    @property
    def node(self) -> str:
        return f"{self.name.replace('-', '_')}@{self.address}"


@dataclass(frozen=True)
class Mesh:
    backend: str = "wireguard"
    cidr: str = DEFAULT_CIDR
    interface: str = "mb0"
    port: int = 51820
    dist_port: int = 9100
    epmd: str = "mesh"
    hosts: tuple[Host, ...] = field(default_factory=tuple)
    peers: tuple[Peer, ...] = field(default_factory=tuple)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @property
    def members(self) -> tuple[Host | Peer, ...]:
        return self.hosts + self.peers

    def member(self, name: str) -> Host | Peer:
        for m in self.members:
            if m.name == name:
                return m
        raise InputError(f"unknown member {name!r}; `meshbeam list` shows the members")

    def host(self, name: str) -> Host:
        m = self.member(name)
        if not isinstance(m, Host):
            raise InputError(f"{name!r} is a roaming peer, not a host managed over SSH")
        return m

    def nodes(self) -> tuple[str, ...]:
        """Full Erlang node names of every member, hosts first."""
        return tuple(m.node for m in self.members)


# ---- parsing of command-line values -------------------------------------------------------


def check_name(name: str, what: str = "name") -> str:
    if not _NAME.fullmatch(name):
        raise InputError(
            f"invalid {what} {name!r}: use 1-32 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def parse_port(text: str | int, what: str) -> int:
    try:
        port = int(text)
    except (TypeError, ValueError):
        raise InputError(f"invalid {what} {text!r}: not a number") from None
    if not 1 <= port <= 65535:
        raise InputError(f"invalid {what} {port}: must be 1-65535")
    return port


def _check_hostpart(host: str, what: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise InputError(f"invalid {what} host {host!r}: not an IP address or DNS name")
    return host


def split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """'host', 'host:port', '[v6]', '[v6]:port' -> (host, port or None)."""
    if text.startswith("["):
        m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", text)
        if not m:
            raise InputError(f"invalid {what} {text!r}: expected [IPV6] or [IPV6]:PORT")
        host, port = m.group(1), m.group(2)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    if not host:
        raise InputError(f"invalid {what} {text!r}: the host part is empty")
    _check_hostpart(host, what)
    return host, (parse_port(port, f"{what} port") if port is not None else None)


def parse_ssh_target(text: str) -> tuple[str | None, str, int | None]:
    """'[user@]address[:port]' -> (user, address, port)."""
    user, _, rest = text.rpartition("@")
    if user and not _USER.fullmatch(user):
        raise InputError(f"invalid SSH user {user!r} in {text!r}")
    host, port = split_host_port(rest, "SSH address")
    return (user or None), host, port


def parse_cidr(text: str) -> str:
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise InputError(f"invalid CIDR {text!r}: {e}") from None
    if net.prefixlen > 30:
        raise InputError(f"invalid CIDR {text!r}: a mesh needs at least a /30")
    return str(net)


def format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---- address allocation -------------------------------------------------------------------


def next_address(mesh: Mesh) -> str:
    """The lowest free host address in the mesh CIDR."""
    used = {ipaddress.IPv4Address(m.address) for m in mesh.members}
    for addr in mesh.network.hosts():
        if addr not in used:
            return str(addr)
    raise InputError(f"the mesh CIDR {mesh.cidr} is exhausted: no free address for another member")


# ---- YAML <-> dataclasses -------------------------------------------------------------------


def mesh_path(directory: Path) -> Path:
    return directory / MESH_FILE


def exists(directory: Path) -> bool:
    return mesh_path(directory).exists()


def to_dict(mesh: Mesh) -> dict[str, Any]:
    def host(h: Host) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": h.name,
            "ssh": h.ssh,
            "address": h.address,
            "endpoint": h.endpoint,
            "public_key": h.public_key,
            "node_name": h.node_name,
            "run_user": h.run_user,
        }
        if h.vm_args:
            d["vm_args"] = h.vm_args
        if h.mix_release:
            d["mix_release"] = True
        return d

    return {
        "mesh": {
            "backend": mesh.backend,
            "cidr": mesh.cidr,
            "interface": mesh.interface,
            "port": mesh.port,
            "dist_port": mesh.dist_port,
            "epmd": mesh.epmd,
        },
        "hosts": [host(h) for h in mesh.hosts],
        "peers": [{"name": p.name, "address": p.address, "public_key": p.public_key} for p in mesh.peers],
    }


def dump(mesh: Mesh) -> str:
    header = "# meshbeam inventory: public facts only; secrets live in keys/\n"
    return header + yaml.safe_dump(to_dict(mesh), sort_keys=False, default_flow_style=False)


def save(directory: Path, mesh: Mesh) -> None:
    validate(mesh)
    atomic_write(mesh_path(directory), dump(mesh), 0o644)


def load(directory: Path) -> Mesh:
    path = mesh_path(directory)
    if not path.exists():
        raise InputError(f"no inventory at {directory}: run `meshbeam init --dir {directory}` first")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(), Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise InputError(f"{path}: malformed YAML{where}: {problem}") from None
    return from_dict(data, str(path))


_KINDS = {int: "number", str: "string", list: "list", dict: "mapping", bool: "boolean"}


def _get(d: dict[str, Any], key: str, typ: type, where: str, default: Any = ...) -> Any:
    if key not in d:
        if default is ...:
            raise InputError(f"{where}: missing field '{key}'")
        return default
    value = d[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise InputError(f"{where}: field '{key}' must be a {_KINDS[typ]}, not {value!r:.40}")
    return value


def _mappings(raw: list[Any], where: str, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location for errors, entry) for each entry of the hosts or peers list."""
    for i, item in enumerate(raw):
        at = f"{where}: {key}[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{at}: expected a mapping")
        yield at, item


def from_dict(data: Any, where: str = MESH_FILE) -> Mesh:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with 'mesh', 'hosts' and 'peers'")
    unknown = set(data) - {"mesh", "hosts", "peers"}
    if unknown:
        raise InputError(f"{where}: unknown top-level field '{sorted(unknown)[0]}'")
    m = _get(data, "mesh", dict, where)
    mw = f"{where}: mesh"
    hosts_raw = _get(data, "hosts", list, where, []) or []
    peers_raw = _get(data, "peers", list, where, []) or []
    hosts = []
    for hw, h in _mappings(hosts_raw, where, "hosts"):
        hosts.append(
            Host(
                name=_get(h, "name", str, hw),
                ssh=_get(h, "ssh", str, hw),
                address=_get(h, "address", str, hw),
                endpoint=_get(h, "endpoint", str, hw),
                public_key=_get(h, "public_key", str, hw),
                node_name=_get(h, "node_name", str, hw, "app"),
                vm_args=_get(h, "vm_args", str, hw, None),
                run_user=_get(h, "run_user", str, hw, "root"),
                mix_release=_get(h, "mix_release", bool, hw, False),
            )
        )
    peers = []
    for pw, p in _mappings(peers_raw, where, "peers"):
        peers.append(
            Peer(
                name=_get(p, "name", str, pw),
                address=_get(p, "address", str, pw),
                public_key=_get(p, "public_key", str, pw),
            )
        )
    mesh = Mesh(
        backend=_get(m, "backend", str, mw, "wireguard"),
        cidr=_get(m, "cidr", str, mw),
        interface=_get(m, "interface", str, mw, "mb0"),
        port=_get(m, "port", int, mw, 51820),
        dist_port=_get(m, "dist_port", int, mw, 9100),
        epmd=_get(m, "epmd", str, mw, "mesh"),
        hosts=tuple(hosts),
        peers=tuple(peers),
    )
    validate(mesh, where)
    return mesh


def validate(mesh: Mesh, where: str = MESH_FILE) -> None:
    """Every rule the inventory must satisfy; raises InputError naming the first broken one."""
    from .keys import check_public_key, check_rsa_public_key

    if mesh.backend not in BACKENDS:
        raise InputError(f"{where}: unknown backend {mesh.backend!r} (choose from {', '.join(BACKENDS)})")
    net = ipaddress.IPv4Network(parse_cidr(mesh.cidr))
    if not _IFACE.fullmatch(mesh.interface):
        raise InputError(f"{where}: invalid interface name {mesh.interface!r} (1-15 of A-Z a-z 0-9 _ = + . -)")
    parse_port(mesh.port, "WireGuard port")
    parse_port(mesh.dist_port, "distribution port")
    if mesh.epmd not in EPMD_MODES:
        raise InputError(f"{where}: epmd must be one of {', '.join(EPMD_MODES)}, not {mesh.epmd!r}")
    seen_names: set[str] = set()
    seen_addrs: dict[str, str] = {}
    seen_nodes: set[str] = set()
    for m in mesh.members:
        check_name(m.name, "member name")
        if m.name in seen_names:
            raise InputError(f"{where}: the name {m.name!r} is used twice")
        seen_names.add(m.name)
        try:
            addr = ipaddress.IPv4Address(m.address)
        except ValueError:
            raise InputError(f"{where}: {m.name}: invalid mesh address {m.address!r}") from None
        if addr not in net or addr in (net.network_address, net.broadcast_address):
            raise InputError(f"{where}: {m.name}: address {m.address} is outside the mesh CIDR {net}")
        if m.address in seen_addrs:
            raise InputError(f"{where}: {m.name}: address {m.address} is already used by {seen_addrs[m.address]}")
        seen_addrs[m.address] = m.name
        if m.node in seen_nodes:
            raise InputError(f"{where}: {m.name}: Erlang node name {m.node} is used twice")
        seen_nodes.add(m.node)
        if mesh.backend == "tinc":
            check_rsa_public_key(m.public_key, f"{where}: {m.name}")
            check_tinc_name(m.name, seen_names)
        else:
            check_public_key(m.public_key, f"{where}: {m.name}")
        if isinstance(m, Host):
            parse_ssh_target(m.ssh)
            host, port = split_host_port(m.endpoint, f"{m.name} endpoint")
            if port is None:
                raise InputError(f"{where}: {m.name}: endpoint {m.endpoint!r} needs a port")
            if not _NODE_BASE.fullmatch(m.node_name):
                raise InputError(f"{where}: {m.name}: invalid node name {m.node_name!r} (letters, digits, '_')")
            if not _USER.fullmatch(m.run_user):
                raise InputError(f"{where}: {m.name}: invalid run user {m.run_user!r}")
            if m.vm_args is not None and not m.vm_args.startswith("/"):
                raise InputError(f"{where}: {m.name}: vm_args must be an absolute path on the host")
            if m.mix_release and not re.fullmatch(r"/.+/releases/[^/]+/vm\.args", m.vm_args or ""):
                raise InputError(
                    f"{where}: {m.name}: a mix release's vm_args is RELEASE/releases/VSN/vm.args, not {m.vm_args!r}"
                )


def check_tinc_name(name: str, names: set[str]) -> None:
    """tinc 1.0 names allow only [A-Za-z0-9_]; meshbeam maps '-' to '_', so two names may clash."""
    mapped = name.replace("-", "_")
    clash = [n for n in names if n != name and n.replace("-", "_") == mapped]
    if clash:
        raise InputError(f"{name!r} and {clash[0]!r} are both {mapped!r} to tinc ('-' becomes '_'); rename one")


def with_member(mesh: Mesh, member: Host | Peer) -> Mesh:
    if isinstance(member, Host):
        return replace(mesh, hosts=mesh.hosts + (member,))
    return replace(mesh, peers=mesh.peers + (member,))


def without_member(mesh: Mesh, name: str) -> Mesh:
    return replace(
        mesh,
        hosts=tuple(h for h in mesh.hosts if h.name != name),
        peers=tuple(p for p in mesh.peers if p.name != name),
    )
