"""The inventory: `DIR/mesh.yaml` <-> frozen dataclasses, with validation and address allocation.

Only public facts live in the YAML (names, addresses, public keys). Secrets live under
`DIR/keys/` (see keys.py), so the YAML can be read, diffed and committed freely.

Every value is hostile until validated: it ends up in shell commands, config files and
firewall rules on every host. So each field has a grammar (a whitelist, never a blacklist),
unknown fields are refused (a typo must not silently drop a protection), and an error is one
line naming the field, with the offending value shown escaped and cut short.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import units
from .errors import InputError
from .firewall import EPMD_PORT
from .fsutil import atomic_write

MESH_FILE = "mesh.yaml"
BACKENDS = ("wireguard", "tinc")
EPMD_MODES = ("mesh", "none")
IDENTITY_MODES = ("key", "none")
DEFAULT_CIDR = "10.90.0.0/24"
SSH_PORT = 22
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# Linux takes 1-15 bytes without '/', ':', whitespace or NUL; wg-quick, tinc's NET directory and
# render's OUT/NAME/INTERFACE paths need less: no '=', '%', and no leading '.' ('.', '..') or '-'.
_IFACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_NODE_BASE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")
_PORT = re.compile(r"[1-9][0-9]{0,4}")  # a plain decimal: int() would also take '+22', '2_2', ' 22'
_CIDR = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}")
_PATH = re.compile(r"[A-Za-z0-9._+@/-]+")  # nothing a shell, a glob or a config file reads specially
MAX_PATH = 1024
# Where a mesh may live: RFC 1918, RFC 6598 shared space, and 198.18.0.0/15 (RFC 2544, unrouted).
# Never a public, loopback, link-local or multicast range: routes to it would capture real traffic.
MESH_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15")
)
WIDEST_PREFIX = 8
NARROWEST_PREFIX = 30


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
    service: str | None = None  # the systemd unit that runs the node (NAME.service), when one does

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
    identity: str = "key"  # "key": a node name is bound to its member's key (meshbeam_dist); "none": plain inet_tcp_dist
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


# ---- checks of single values (command line and YAML alike) ---------------------------------


def show(value: object, limit: int = 60) -> str:
    """A value for an error message: ASCII-escaped (no newline or terminal escape can get
    through to forge output) and cut short."""
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _invalid(what: str, value: object, why: str) -> InputError:
    return InputError(f"invalid {what} {show(value)}: {why}")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _invalid(what, value, "must be a string")
    if not value.isprintable():
        raise _invalid(what, value, "contains a control or non-printable character")
    return value


def check_name(name: str, what: str = "name") -> str:
    _text(name, what)
    if not _NAME.fullmatch(name):
        raise _invalid(what, name, "use 1-32 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def parse_port(text: str | int, what: str) -> int:
    """A port as a YAML integer, or as the digits of a command-line value; 1-65535."""
    if isinstance(text, str):
        if not _PORT.fullmatch(text):
            raise _invalid(what, text, "must be a number 1-65535, digits only")
        port = int(text)
    elif isinstance(text, int) and not isinstance(text, bool):
        port = text
    else:
        raise _invalid(what, text, "must be a number")
    if not 1 <= port <= 65535:
        raise _invalid(what, port, "must be 1-65535")
    return port


def _check_hostpart(host: str, what: str) -> str:
    """An IP address (returned in canonical form) or a DNS name / ssh_config alias."""
    # ipaddress takes any text after '%' as a scope id, and ssh_config's %h hands it to a shell
    # (ProxyCommand, Match exec: CVE-2023-51385).
    if "%" in host:
        raise _invalid(what, host, "IPv6 scope ids ('%...') are not allowed")
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise _invalid(what, host, "not an IPv6 address") from None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise _invalid(what, host, "not an IP address or DNS name")
    if host.rstrip(".").rsplit(".", 1)[-1].isdigit():  # '1.2.3.999', '2130706433': no name ends so
        raise _invalid(what, host, "not a valid IPv4 address")
    return host


def split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """'host', 'host:port', '[v6]', '[v6]:port' -> (host, port or None); an IP comes back canonical."""
    _text(text, what)
    if text.startswith("["):
        m = re.fullmatch(r"\[([^\]]*)\](?::([^:]*))?", text)
        if not m or ":" not in m.group(1):
            raise _invalid(what, text, "expected [IPV6] or [IPV6]:PORT")
        host, port = m.group(1), m.group(2)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None  # a name, an IPv4 address, or an IPv6 address without a port
    if not host:
        raise _invalid(what, text, "the host part is empty")
    return _check_hostpart(host, what), (parse_port(port, f"{what} port") if port is not None else None)


def parse_ssh_target(text: str) -> tuple[str | None, str, int | None]:
    """'[user@]address[:port]' -> (user, address, port)."""
    _text(text, "ssh")
    user, at, rest = text.rpartition("@")
    if at and not _USER.fullmatch(user):
        raise _invalid("ssh user", user, f"in {show(text)}: use a lower-case login name")
    host, port = split_host_port(rest, "ssh")
    return (user or None), host, port


def ssh_port(host: Host) -> int:
    """The port of the host's SSH target (22 when it names none)."""
    return parse_ssh_target(host.ssh)[2] or SSH_PORT


def parse_endpoint(text: str) -> tuple[str, int]:
    """'HOST:PORT' or '[IPV6]:PORT', in the canonical form format_host_port() writes."""
    host, port = split_host_port(text, "endpoint")
    if port is None:
        raise _invalid("endpoint", text, "needs a port (HOST:PORT)")
    if format_host_port(host, port) != text:
        raise _invalid("endpoint", text, f"write it as {format_host_port(host, port)}")
    return host, port


def parse_cidr(text: str) -> str:
    """An IPv4 range for the mesh, /8 to /30, inside MESH_RANGES; returned canonical."""
    _text(text, "cidr")
    if ":" in text:
        raise _invalid("cidr", text, "the mesh is IPv4-only (an IPv6 mesh would use a ULA range in fd00::/8)")
    if not _CIDR.fullmatch(text):
        raise _invalid("cidr", text, "expected A.B.C.D/N")
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise _invalid("cidr", text, str(e)) from None
    if str(net) != text:
        raise _invalid("cidr", text, f"write it as {net}")
    if net.prefixlen < WIDEST_PREFIX:
        raise _invalid("cidr", text, f"wider than /{WIDEST_PREFIX}")
    if net.prefixlen > NARROWEST_PREFIX:
        raise _invalid("cidr", text, f"a mesh needs at least a /{NARROWEST_PREFIX}")
    if not any(net.subnet_of(r) for r in MESH_RANGES):
        raise _invalid("cidr", text, f"must lie within a private range ({', '.join(map(str, MESH_RANGES))})")
    return text


def check_interface(name: str) -> str:
    _text(name, "interface")
    if not _IFACE.fullmatch(name):
        raise _invalid("interface", name, "use 1-15 of A-Z a-z 0-9 _ . -, starting with a letter, digit or '_'")
    return name


def check_vm_args(path: str) -> str:
    """An absolute, normalized path to a file named vm.args, in a character set that no shell,
    glob or config reader treats specially."""
    _text(path, "vm_args")
    if len(path) > MAX_PATH:
        raise _invalid("vm_args", path, f"longer than {MAX_PATH} characters")
    if not _PATH.fullmatch(path):
        raise _invalid("vm_args", path, "use only letters, digits, '._+@-' and '/'")
    if not path.startswith("/"):
        raise _invalid("vm_args", path, "must be an absolute path on the host")
    if "//" in path or ".." in path or posixpath.normpath(path) != path:
        raise _invalid("vm_args", path, "must be a normalized path (no '//', '.' or '..')")
    if posixpath.basename(path) != "vm.args":
        raise _invalid("vm_args", path, "must be the path of a file named vm.args")
    return path


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
        if h.service:
            d["service"] = h.service
        return d

    return {
        "mesh": {
            "backend": mesh.backend,
            "cidr": mesh.cidr,
            "interface": mesh.interface,
            "port": mesh.port,
            "dist_port": mesh.dist_port,
            "epmd": mesh.epmd,
            "identity": mesh.identity,
        },
        "hosts": [host(h) for h in mesh.hosts],
        "peers": [{"name": p.name, "address": p.address, "public_key": p.public_key} for p in mesh.peers],
    }


def dump(mesh: Mesh) -> str:
    header = "# meshbeam inventory: public facts only; secrets live in keys/\n"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: the pure-Python emitter is many times slower
    return header + yaml.dump(to_dict(mesh), Dumper=dumper, sort_keys=False, default_flow_style=False)


def save(directory: Path, mesh: Mesh) -> None:
    validate(mesh)
    atomic_write(mesh_path(directory), dump(mesh), 0o644)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, refusing a key written twice in one mapping (YAML keeps the last one
    silently, so a reviewer reading the first would be misled)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"field {show(key.value)} appears twice", key.start_mark
                    )
                seen.add(key.value)
        return super().construct_mapping(node, deep)


def load(directory: Path) -> Mesh:
    path = mesh_path(directory)
    if not path.exists():
        raise InputError(f"no inventory at {directory}: run `meshbeam init --dir {directory}` first")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read it: {e.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or getattr(e, "reason", None) or "not valid YAML"
        raise InputError(f"{path}: malformed YAML{where}: {ascii(problem)[1:-1][:80]}") from None
    except RecursionError:
        raise InputError(f"{path}: malformed YAML: nested too deeply") from None
    return from_dict(data, str(path))


_KINDS = {int: "number", str: "string", list: "list", dict: "mapping", bool: "boolean"}
TOP_FIELDS = ("mesh", "hosts", "peers")
MESH_FIELDS = ("backend", "cidr", "interface", "port", "dist_port", "epmd", "identity")
HOST_FIELDS = ("name", "ssh", "address", "endpoint", "public_key", "node_name", "vm_args", "run_user", "mix_release",
               "service")
PEER_FIELDS = ("name", "address", "public_key")


def _known(d: dict[Any, Any], fields: tuple[str, ...], where: str) -> dict[str, Any]:
    """Refuse any key but `fields`, suggesting the nearest: a typo such as `vm-args:` must not
    silently drop a host's BEAM protection."""
    for key in d:
        if key not in fields:
            near = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(fields)})"
            raise InputError(f"{where}: unknown field {show(key)}{hint}")
    return d


def _get(d: dict[str, Any], key: str, typ: type, where: str, default: Any = ...) -> Any:
    if key not in d:
        if default is ...:
            raise InputError(f"{where}: missing field '{key}'")
        return default
    value = d[key]
    if value is None and default is None:  # an optional field written empty
        return None
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise InputError(f"{where}: invalid {key} {show(value)}: must be a {_KINDS[typ]}")
    return value


def _mappings(raw: list[Any], where: str, key: str, fields: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location for errors, entry) for each entry of the hosts or peers list."""
    for i, item in enumerate(raw):
        at = f"{where}: {key}[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{at}: expected a mapping")
        yield at, _known(item, fields, at)


def from_dict(data: Any, where: str = MESH_FILE) -> Mesh:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with 'mesh', 'hosts' and 'peers'")
    _known(data, TOP_FIELDS, where)
    mw = f"{where}: mesh"
    m = _known(_get(data, "mesh", dict, where), MESH_FIELDS, mw)
    hosts_raw = _get(data, "hosts", list, where, [])
    peers_raw = _get(data, "peers", list, where, [])
    hosts = []
    for hw, h in _mappings(hosts_raw, where, "hosts", HOST_FIELDS):
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
                service=_get(h, "service", str, hw, None),
            )
        )
    peers = []
    for pw, p in _mappings(peers_raw, where, "peers", PEER_FIELDS):
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
        identity=_get(m, "identity", str, mw, "key"),
        hosts=tuple(hosts),
        peers=tuple(peers),
    )
    validate(mesh, where)
    return mesh


@contextmanager
def _located(where: str) -> Iterator[None]:
    """Prefix an InputError raised inside with where it happened (file, member)."""
    try:
        yield
    except InputError as e:
        raise InputError(f"{where}: {e}") from None


def _one_of(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise _invalid(what, value, f"choose from {', '.join(choices)}")


def _check_public_key(backend: str, key: str) -> None:
    if backend == "tinc":
        from . import tinc

        if not isinstance(key, str):
            raise _invalid("public_key", key, "must be a string")
        try:
            tinc.parse_public_pem(key)
        except ValueError as e:
            raise InputError(f"invalid public_key: {e}") from None
        return
    _text(key, "public_key")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32 or base64.b64encode(raw).decode() != key:
        raise _invalid("public_key", key, "expected a WireGuard key: 32 bytes in base64, as `wg pubkey` prints")


def _check_mesh(mesh: Mesh) -> ipaddress.IPv4Network:
    _one_of(_text(mesh.backend, "backend"), BACKENDS, "backend")
    net = ipaddress.IPv4Network(parse_cidr(mesh.cidr))
    check_interface(mesh.interface)
    for what, port in (("port", mesh.port), ("dist_port", mesh.dist_port)):
        if type(port) is not int:  # noqa: E721 (a bool is not a port)
            raise _invalid(what, port, "must be a number")
        parse_port(port, what)
    _one_of(_text(mesh.epmd, "epmd"), EPMD_MODES, "epmd")
    _one_of(_text(mesh.identity, "identity"), IDENTITY_MODES, "identity")
    dist = mesh.dist_port
    if dist < 1024:
        raise _invalid("dist_port", dist, "must be 1024 or above (below are system services, SSH among them)")
    # The firewall drops the distribution port off the mesh, so it must be nobody else's.
    for taken, by in ((EPMD_PORT, "EPMD's port"), (mesh.port, f"the {mesh.backend} port")):
        if dist == taken:
            raise _invalid("dist_port", dist, f"it is {by}; pick another")
    return net


def _check_host(mesh: Mesh, h: Host) -> None:
    parse_ssh_target(h.ssh)
    host, _ = parse_endpoint(h.endpoint)
    if mesh.backend == "tinc" and ":" in host:
        raise _invalid("endpoint", h.endpoint, "the tinc mesh is IPv4-only (AddressFamily = ipv4)")
    if not _NODE_BASE.fullmatch(_text(h.node_name, "node_name")):
        raise _invalid("node_name", h.node_name, "use letters, digits and '_', starting with a letter")
    if not _USER.fullmatch(_text(h.run_user, "run_user")):
        raise _invalid("run_user", h.run_user, "use a lower-case login name")
    if type(h.mix_release) is not bool:  # noqa: E721
        raise _invalid("mix_release", h.mix_release, "must be true or false")
    if h.vm_args is not None:
        check_vm_args(h.vm_args)
    if h.service is not None:
        units.check_service_name(h.service, "service")
        if h.vm_args is None:
            raise _invalid("service", h.service, "names the unit that runs the node: give vm_args too")
    if h.mix_release and not re.fullmatch(r"/.+/releases/[^/]+/vm\.args", h.vm_args or ""):
        raise _invalid("vm_args", h.vm_args, "a mix release's vm_args is RELEASE/releases/VSN/vm.args")


def validate(mesh: Mesh, where: str = MESH_FILE) -> None:
    """Every rule the inventory must satisfy; raises InputError naming the first broken one."""
    with _located(f"{where}: mesh"):
        net = _check_mesh(mesh)
    seen_names: set[str] = set()
    seen_addrs: dict[str, str] = {}
    seen_nodes: set[str] = set()
    members = [("hosts", i, m) for i, m in enumerate(mesh.hosts)] + [("peers", i, m) for i, m in enumerate(mesh.peers)]
    for kind, i, m in members:
        at = f"{where}: {kind}[{i}]"
        with _located(at):
            check_name(m.name, "member name")
        at += f" ({m.name})"
        with _located(at):
            if m.name in seen_names:
                raise InputError(f"the name {m.name!r} is used twice")
            seen_names.add(m.name)
            try:
                addr = ipaddress.IPv4Address(_text(m.address, "address"))
            except ValueError:
                raise _invalid("address", m.address, "not an IPv4 mesh address") from None
            if str(addr) != m.address:
                raise _invalid("address", m.address, f"write it as {addr}")
            if addr not in net or addr in (net.network_address, net.broadcast_address):
                raise _invalid("address", m.address, f"outside the mesh CIDR {net}")
            if m.address in seen_addrs:
                raise _invalid("address", m.address, f"already used by {seen_addrs[m.address]}")
            seen_addrs[m.address] = m.name
            if m.node in seen_nodes:
                raise InputError(f"Erlang node name {m.node} is used twice")
            seen_nodes.add(m.node)
            _check_public_key(mesh.backend, m.public_key)
            if mesh.backend == "tinc":
                check_tinc_name(m.name, seen_names)
            if isinstance(m, Host):
                _check_host(mesh, m)
    for i, h in enumerate(mesh.hosts):
        if ssh_port(h) == mesh.dist_port:
            raise InputError(
                f"{where}: mesh: invalid dist_port {mesh.dist_port}: it is the SSH port of hosts[{i}] ({h.name}); "
                "the firewall would cut SSH off; pick another"
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
