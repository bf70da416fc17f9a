"""tinc 1.0 files for one member (pure and deterministic: same input, same bytes).

Paths are relative to /etc/tinc/NET/. Only key generation touches randomness.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

PING_INTERVAL = 10  # seconds; with tinc's 60 s default a cut path takes over a minute to fail over
PING_TIMEOUT = 3
# tinc 1.0 makes a fresh packet key for every ANS_KEY it sends. When two members connect while a
# third already links them, one key can go through the third and the other directly; if the
# relayed one lands last, one direction drops every UDP packet until the receiver's next key
# change. tincd's default KeyExpire of 3600 s makes that an hour; 30 s bounds it below BEAM's
# 45 s nodedown floor, and a rekey loses only a few milliseconds of the pair's packets.
KEY_EXPIRE = 30
_TINC_NAME = re.compile(r"[A-Za-z0-9_]+")  # tinc 1.0's check_id()

Files = dict[str, tuple[str, int]]


@dataclass(frozen=True)
class Node:
    name: str  # meshbeam member name (tinc_name() maps it for tinc)
    address: str  # mesh IPv4 address
    public_pem: str
    endpoint: str | None  # "host:port" for servers, None for roaming peers


def generate_private_pem(bits: int = 3072) -> str:
    """A new RSA private key, PKCS#1 PEM ("BEGIN RSA PRIVATE KEY") as `tincd -K` writes it.

    3072 bits is NIST's 128-bit security level (SP 800-57), which 2048 bits (112-bit) falls
    short of after 2030. tinc 1.0 takes any size; the cost is one RSA operation per meta
    connection, not per packet.
    """
    from cryptography.hazmat.primitives import serialization  # lazy: keeps `--help` fast
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits < 2048:
        raise ValueError(f"RSA key size {bits} is too small for tinc: use at least 2048 bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_pem(private_pem: str) -> str:
    """The PKCS#1 public key ("BEGIN RSA PUBLIC KEY") that `tincd -K` writes into hosts/NAME."""
    from cryptography.hazmat.primitives import serialization

    # Only our own keys come here (just generated, or from the operator's keystore): the checks
    # that guard against a crafted key from someone else cost tens of milliseconds per key.
    key = serialization.load_pem_private_key(private_pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()


def tinc_name(name: str) -> str:
    """Member name -> tinc node name: '-' becomes '_', as tinc 1.0 allows only [A-Za-z0-9_].

    So "web-1" is "web_1" to tinc; render() rejects two members that map to the same name.
    """
    mapped = name.replace("-", "_")
    if not _TINC_NAME.fullmatch(mapped):
        raise ValueError(f"member name {name!r} cannot be a tinc node name: use letters, digits, '-' or '_'")
    return mapped


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"endpoint {endpoint!r} is not HOST:PORT")
    if ":" in host:  # an IPv6 literal: unreachable with AddressFamily = ipv4
        raise ValueError(f"endpoint {endpoint!r} is IPv6; the tinc mesh is IPv4 only")
    return host, int(port)


def _header(what: str) -> str:
    return f"# {what}, written by meshbeam: edit the inventory, not this file\n"


def _host_file(node: Node) -> str:
    """hosts/NAME: how to reach a member and what it routes.

    The dial port goes on the Address line rather than in a Port line: tincd merges its own
    hosts file into tinc.conf, where a second Port would fight the listening port. A roaming
    peer has no Address, so servers never dial it; it dials them.
    """
    lines = [_header(f"hosts/{tinc_name(node.name)} of member {node.name}")]
    if node.endpoint is not None:
        host, port = _split_endpoint(node.endpoint)
        lines.append(f"Address = {host} {port}\n")
    lines.append(f"Subnet = {node.address}/32\n\n")
    return "".join(lines) + node.public_pem.strip() + "\n"


def _tinc_conf(net: str, interface: str, me: Node, servers: Sequence[Node], port: int) -> str:
    """tinc.conf: who I am, and one ConnectTo per server.

    A roaming peer listens on Port = 0, a port the kernel picks: nobody dials it, and a fixed
    port could clash on a laptop. Servers learn its (NAT-mapped) UDP address from the packets
    it sends them, as the tincd test checks.
    """
    lines = [
        _header(f"tinc.conf of {me.name} in net {net}"),
        f"Name = {tinc_name(me.name)}\n",
        f"Interface = {interface}\n",
        "Mode = router\n",
        "AddressFamily = ipv4\n",
        f"Port = {port if me.endpoint is not None else 0}\n",
        f"PingInterval = {PING_INTERVAL}\n",
        f"PingTimeout = {PING_TIMEOUT}\n",
        f"KeyExpire = {KEY_EXPIRE}\n",
    ]
    lines += [f"ConnectTo = {tinc_name(s.name)}\n" for s in servers]
    return "".join(lines)


def _scripts(address: str, prefixlen: int) -> tuple[str, str]:
    # The mesh prefix on the interface gives one connected route for the whole mesh;
    # tinc's own Subnet = /32 lines then pick the member inside it.
    cidr = f"{address}/{prefixlen}"
    up = f'#!/bin/sh\nip link set "$INTERFACE" up\nip addr add {cidr} dev "$INTERFACE"\n'
    down = f'#!/bin/sh\nip addr del {cidr} dev "$INTERFACE"\nip link set "$INTERFACE" down\n'
    return up, down


def _check(cidr: str, members: Sequence[Node]) -> ipaddress.IPv4Network:
    network = ipaddress.IPv4Network(cidr)
    names: dict[str, str] = {}
    for m in members:
        if ipaddress.IPv4Address(m.address) not in network:
            raise ValueError(f"member {m.name!r} has address {m.address}, outside the mesh {cidr}")
        clash = names.setdefault(tinc_name(m.name), m.name)
        if clash != m.name:
            raise ValueError(f"members {clash!r} and {m.name!r} both map to tinc name {tinc_name(m.name)!r}")
    return network


def render(
    net: str, interface: str, cidr: str, me: Node, others: Sequence[Node], private_pem: str, *, port: int
) -> Files:
    """Every file of /etc/tinc/NET/ for `me`: relative path -> (content, mode).

    `me` ConnectTo's every other server, in name order; every member gets a hosts file.
    """
    peers = sorted((o for o in others if o.name != me.name), key=lambda o: tinc_name(o.name))
    network = _check(cidr, [me, *peers])
    up, down = _scripts(me.address, network.prefixlen)
    servers = [p for p in peers if p.endpoint is not None]
    files: Files = {"tinc.conf": (_tinc_conf(net, interface, me, servers, port), 0o644)}
    for node in sorted([me, *peers], key=lambda n: tinc_name(n.name)):
        files[f"hosts/{tinc_name(node.name)}"] = (_host_file(node), 0o644)
    files["rsa_key.priv"] = (private_pem.strip() + "\n", 0o600)
    files["tinc-up"] = (up, 0o755)
    files["tinc-down"] = (down, 0o755)
    return files


def peer_bundle(
    net: str, interface: str, cidr: str, me: Node, others: Sequence[Node], private_pem: str, *, port: int
) -> Files:
    """render() for a roaming peer, plus a README with the one command that starts it."""
    if me.endpoint is not None:
        raise ValueError(f"{me.name!r} is a server, not a roaming peer; servers are configured over SSH")
    files = render(net, interface, cidr, me, others, private_pem, port=port)
    readme = (
        f"tinc 1.0 configuration of the roaming peer {me.name} (mesh address {me.address}).\n\n"
        f"Copy these files to /etc/tinc/{net}/ keeping their modes (rsa_key.priv stays 0600),\n"
        "install tinc 1.0 on Linux (Debian: apt-get install tinc), then start it as root with:\n\n"
        f"    tincd -n {net}\n\n"
        f"Stop it with `tincd -n {net} -k`; run `tincd -n {net} -D -d3` to watch it in the foreground.\n"
    )
    return {**files, "README": (readme, 0o644)}


def parse_public_pem(text: str) -> str:
    """`text` if it is exactly one RSA public key of at least 2048 bits in the PKCS#1 PEM form
    `tincd -K` writes ("BEGIN RSA PUBLIC KEY"), modulo a trailing newline; ValueError otherwise.

    The key goes verbatim into every member's hosts/NAME, where any other line would be read as
    a tinc option (`Subnet = 0.0.0.0/0`, `Cipher = none`). So it must parse, and serialize back
    to the same bytes: that leaves no room for anything but the key.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = text if text.endswith("\n") else text + "\n"
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key: tinc 1.0 uses RSA")
    if key.key_size < 2048:
        raise ValueError(f"an RSA key of {key.key_size} bits: tinc keys need at least 2048")
    if key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode() != pem:
        raise ValueError("not exactly one 'BEGIN RSA PUBLIC KEY' block as tincd -K writes it, and nothing else")
    return pem
