"""The inventory: `DIR/mesh.yaml` <-> frozen dataclasses, with validation and address allocation.

Only public facts live in the YAML (names, addresses, public keys). Secrets live under
`DIR/keys/` (see keys.py), so the YAML can be read, diffed and committed freely. Each value's
grammar is in fields.py; unknown keys are refused (a typo must not silently drop a protection).
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import backends, units
from .errors import InputError
from .fields import (DEFAULT_MTU, SSH_PORT, check_interface, check_name, check_node_name, check_public_key,
                     check_run_user, check_vm_args, format_host_port, invalid, ipv4_int, one_of, parse_cidr,
                     parse_endpoint, parse_mtu, parse_port, parse_ssh_target, printable, show)
from .firewall import EPMD_PORT

MESH_FILE = "mesh.yaml"
EPMD_MODES = ("mesh", "none")
IDENTITY_MODES = ("key", "none")
DEFAULT_CIDR = "10.90.0.0/24"


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
    mtu: int = DEFAULT_MTU  # of the servers' WireGuard interfaces (fields.py)
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
        return self._nodes

    @functools.cached_property
    def _nodes(self) -> tuple[str, ...]:
        # Every host's allow list holds them all: a render of n hosts would build them n times.
        return tuple(m.node for m in self.members)


# ---- YAML <-> dataclasses -------------------------------------------------------------------


def mesh_path(directory: Path) -> Path:
    return directory / MESH_FILE


def exists(directory: Path) -> bool:
    return mesh_path(directory).exists()


# The order of mesh.yaml's keys; a host's optional fields are written only when set.
_HOST_KEYS = ("name", "ssh", "address", "endpoint", "public_key", "node_name", "run_user")
_HOST_OPTIONAL = ("vm_args", "mix_release", "service")


def to_dict(mesh: Mesh) -> dict[str, Any]:
    def host(h: Host) -> dict[str, Any]:
        return {k: getattr(h, k) for k in _HOST_KEYS} | {k: v for k in _HOST_OPTIONAL if (v := getattr(h, k))}

    return {
        "mesh": {k: getattr(mesh, k) for k in MESH_FIELDS},
        "hosts": [host(h) for h in mesh.hosts],
        "peers": [{k: getattr(p, k) for k in PEER_FIELDS} for p in mesh.peers],
    }


HEADER = "# meshbeam inventory: public facts only; secrets live in keys/\n"


def dump(mesh: Mesh) -> str:
    """mesh.yaml's text through PyYAML (meshfile.dump writes the same bytes faster when it can)."""
    import yaml  # only here and in load: most commands read and write through meshfile

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: the pure-Python emitter is many times slower
    return HEADER + yaml.dump(to_dict(mesh), Dumper=dumper, sort_keys=False, default_flow_style=False)


@functools.cache
def _loader() -> type:
    """The safe loader, refusing a key written twice in one mapping (YAML keeps the last one
    silently, so a reviewer reading the first would be misled)."""
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
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

    return Loader


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
    import yaml

    try:
        data = yaml.load(text, Loader=_loader())
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
MESH_FIELDS = ("backend", "cidr", "interface", "port", "dist_port", "epmd", "identity", "mtu")
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
    hosts = [Host(name=_get(h, "name", str, hw), ssh=_get(h, "ssh", str, hw), address=_get(h, "address", str, hw),
                  endpoint=_get(h, "endpoint", str, hw), public_key=_get(h, "public_key", str, hw),
                  node_name=_get(h, "node_name", str, hw, "app"), vm_args=_get(h, "vm_args", str, hw, None),
                  run_user=_get(h, "run_user", str, hw, "root"), mix_release=_get(h, "mix_release", bool, hw, False),
                  service=_get(h, "service", str, hw, None))
             for hw, h in _mappings(hosts_raw, where, "hosts", HOST_FIELDS)]
    peers = [Peer(name=_get(p, "name", str, pw), address=_get(p, "address", str, pw),
                  public_key=_get(p, "public_key", str, pw))
             for pw, p in _mappings(peers_raw, where, "peers", PEER_FIELDS)]
    mesh = Mesh(
        backend=_get(m, "backend", str, mw, "wireguard"),
        cidr=_get(m, "cidr", str, mw),
        interface=_get(m, "interface", str, mw, "mb0"),
        port=_get(m, "port", int, mw, 51820),
        dist_port=_get(m, "dist_port", int, mw, 9100),
        mtu=_get(m, "mtu", int, mw, DEFAULT_MTU),
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


def _check_mesh(mesh: Mesh) -> ipaddress.IPv4Network:
    one_of(printable(mesh.backend, "backend"), tuple(backends.BACKENDS), "backend")
    net = ipaddress.IPv4Network(parse_cidr(mesh.cidr))
    check_interface(mesh.interface)
    for what, port in (("port", mesh.port), ("dist_port", mesh.dist_port)):
        if type(port) is not int:  # noqa: E721 (a bool is not a port)
            raise invalid(what, port, "must be a number")
        parse_port(port, what)
    parse_mtu(mesh.mtu)
    one_of(printable(mesh.epmd, "epmd"), EPMD_MODES, "epmd")
    one_of(printable(mesh.identity, "identity"), IDENTITY_MODES, "identity")
    dist = mesh.dist_port
    if dist < 1024:
        raise invalid("dist_port", dist, "must be 1024 or above (below are system services, SSH among them)")
    # The firewall drops the distribution port off the mesh, so it must be nobody else's.
    for taken, by in ((EPMD_PORT, "EPMD's port"), (mesh.port, f"the {mesh.backend} port")):
        if dist == taken:
            raise invalid("dist_port", dist, f"it is {by}; pick another")
    return net


def _check_host(mesh: Mesh, h: Host, settled: set[tuple[Any, ...]]) -> int:
    """Check a host's own fields; returns its SSH port. `settled` holds the node settings found
    valid so far: the hosts of one application share them, so each set is checked once."""
    _, address, port = parse_ssh_target(h.ssh)
    # The usual endpoint, the SSH address at the mesh port, is as valid as they are: parsed only if not.
    host = address if h.endpoint == format_host_port(address, mesh.port) else parse_endpoint(h.endpoint)[0]
    if not backends.of(mesh.backend).ipv6_endpoints and ":" in host:
        raise invalid("endpoint", h.endpoint, f"the {mesh.backend} mesh is IPv4-only (AddressFamily = ipv4)")
    if type(h.mix_release) is not bool:  # noqa: E721 (before the set below, where 1 == True)
        raise invalid("mix_release", h.mix_release, "must be true or false")
    settings = (h.node_name, h.run_user, h.vm_args, h.mix_release, h.service)
    if settings in settled:
        return port or SSH_PORT
    check_node_name(h.node_name)
    check_run_user(h.run_user)
    if h.vm_args is not None:
        check_vm_args(h.vm_args)
    if h.service is not None:
        units.check_service_name(h.service, "service")
        if h.vm_args is None:
            raise invalid("service", h.service, "names the unit that runs the node: give vm_args too")
    if h.mix_release and not re.fullmatch(r"/.+/releases/[^/]+/vm\.args", h.vm_args or ""):
        raise invalid("vm_args", h.vm_args, "a mix release's vm_args is RELEASE/releases/VSN/vm.args")
    settled.add(settings)
    return port or SSH_PORT


def validate(mesh: Mesh, where: str = MESH_FILE) -> None:
    """Every rule the inventory must satisfy; raises InputError naming the first broken one."""
    with _located(f"{where}: mesh"):
        net = _check_mesh(mesh)
    first, last = int(net.network_address), int(net.broadcast_address)
    seen_names: set[str] = set()
    seen_addrs: dict[str, str] = {}
    seen_nodes: set[str] = set()
    clash: tuple[int, Host | Peer] | None = None  # the first host whose SSH port is dist_port
    settled: set[tuple[Any, ...]] = set()
    members = [("hosts", i, m) for i, m in enumerate(mesh.hosts)] + [("peers", i, m) for i, m in enumerate(mesh.peers)]
    tinc_names: dict[str, str] | None = {} if backends.of(mesh.backend).underscore_names else None
    for kind, i, m in members:
        named = False  # an error names the member once its name is known to be printable
        try:
            check_name(m.name, "member name")
            named = True
            if m.name in seen_names:
                raise InputError(f"the name {m.name!r} is used twice")
            seen_names.add(m.name)
            addr = ipv4_int(printable(m.address, "address"))
            if addr is None:
                raise invalid("address", m.address, "not an IPv4 mesh address")
            if not first < addr < last:
                raise invalid("address", m.address, f"outside the mesh CIDR {net}")
            if m.address in seen_addrs:
                raise invalid("address", m.address, f"already used by {seen_addrs[m.address]}")
            seen_addrs[m.address] = m.name
            if m.node in seen_nodes:
                raise InputError(f"Erlang node name {m.node} is used twice")
            seen_nodes.add(m.node)
            check_public_key(mesh.backend, m.public_key)
            if tinc_names is not None:
                claim_tinc_name(m.name, tinc_names)
            if isinstance(m, Host) and _check_host(mesh, m, settled) == mesh.dist_port and clash is None:
                clash = i, m
        except InputError as e:  # a try per member, not a context manager: this loop runs for every member
            raise InputError(f"{where}: {kind}[{i}]{f' ({m.name})' if named else ''}: {e}") from None
    if clash is not None:
        i, h = clash
        raise InputError(
            f"{where}: mesh: invalid dist_port {mesh.dist_port}: it is the SSH port of hosts[{i}] ({h.name}); "
            "the firewall would cut SSH off; pick another"
        )


def claim_tinc_name(name: str, taken: dict[str, str]) -> None:
    """Record NAME in `taken` (tinc form -> name), refusing a form that another name has: tinc 1.0
    names allow only [A-Za-z0-9_], and meshbeam maps '-' to '_', so two names may clash."""
    mapped = name.replace("-", "_")
    other = taken.setdefault(mapped, name)
    if other != name:
        raise InputError(f"{name!r} and {other!r} are both {mapped!r} to tinc ('-' becomes '_'); rename one")


def tinc_forms(mesh: Mesh) -> dict[str, str]:
    """The tinc form of each member's name (a valid mesh has no clash)."""
    taken: dict[str, str] = {}
    for m in mesh.members:
        claim_tinc_name(m.name, taken)
    return taken


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
