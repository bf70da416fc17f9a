"""Mesh + keys -> wg-quick configs (pure and deterministic: same input, same bytes)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Protocol

from .inventory import Host, Mesh, Peer

KEEPALIVE = 25  # seconds; keeps a NAT mapping open so servers can reach a roaming peer


class Secrets(Protocol):
    def private_key(self, name: str) -> str: ...
    def psk(self, a: str, b: str) -> str: ...
    def psks(self) -> Mapping[tuple[str, str], str]: ...


def config_path(mesh: Mesh) -> str:
    return f"/etc/wireguard/{mesh.interface}.conf"


def interface_address(mesh: Mesh, member: Host | Peer) -> str:
    # The mesh prefix on the interface gives one connected route for the whole mesh;
    # each peer still only claims its own /32 in AllowedIPs.
    return f"{member.address}/{mesh.network.prefixlen}"


def _peer_block(mesh: Mesh, me: Host | Peer, other: Host | Peer, secrets: Secrets) -> str:
    lines = [
        "",
        "[Peer]",
        f"# {other.name}",
        f"PublicKey = {other.public_key}",
        f"PresharedKey = {secrets.psk(me.name, other.name)}",
        f"AllowedIPs = {other.address}/32",
    ]
    if isinstance(other, Host):
        lines.append(f"Endpoint = {other.endpoint}")
    if isinstance(me, Peer):
        lines.append(f"PersistentKeepalive = {KEEPALIVE}")
    return "\n".join(lines) + "\n"


def render(mesh: Mesh, me: Host | Peer, secrets: Secrets) -> str:
    """The wg-quick config of one member.

    A server lists every other server (with its endpoint) and every roaming peer (without:
    the peer dials in). A roaming peer lists the servers only, each with a keepalive so it
    stays reachable from behind NAT.
    """
    head = [
        f"# {mesh.interface}.conf for {me.name}, written by meshbeam; local edits are overwritten",
        "[Interface]",
        f"Address = {interface_address(mesh, me)}",
    ]
    if isinstance(me, Host):
        head.append(f"ListenPort = {mesh.port}")
    head.append(f"PrivateKey = {secrets.private_key(me.name)}")
    others = mesh.hosts if isinstance(me, Peer) else mesh.members
    peers = [_peer_block(mesh, me, o, secrets) for o in others if o.name != me.name]
    return "\n".join(head) + "\n" + "".join(peers)


def render_all(mesh: Mesh, secrets: Secrets) -> Iterator[tuple[str, str]]:
    """(name, config) for every member, each byte-identical to `render`.

    A full mesh of n members has n*(n-1) peer sections. Each member's section differs only
    in the preshared key, so its text around the key is built once and reused n-1 times,
    and the keys come from one dict lookup each (the profile's hot spot at 1000 members).
    Configs are yielded one by one, so a caller can write each before the next is built.
    """
    psks = secrets.psks()
    around: dict[str, tuple[str, str, str]] = {}
    for o in mesh.members:
        head = f"\n[Peer]\n# {o.name}\nPublicKey = {o.public_key}\nPresharedKey = "
        tail = f"\nAllowedIPs = {o.address}/32\n" + (f"Endpoint = {o.endpoint}\n" if isinstance(o, Host) else "")
        around[o.name] = (head, tail, tail + f"PersistentKeepalive = {KEEPALIVE}\n")
    alone = replace(mesh, hosts=(), peers=())
    servers_view = [(o.name, around[o.name][0], around[o.name][1]) for o in mesh.members]
    roaming_view = [(o.name, around[o.name][0], around[o.name][2]) for o in mesh.hosts]
    for me in mesh.members:
        name = me.name
        view = roaming_view if isinstance(me, Peer) else servers_view
        peers = [f"{head}{psks[(name, o) if name < o else (o, name)]}{tail}" for o, head, tail in view if o != name]
        yield name, render(alone, me, secrets) + "".join(peers)  # the [Interface] part, then the peers
