"""Mesh + keys -> wg-quick configs (pure and deterministic: same input, same bytes)."""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Protocol

from .inventory import Host, Mesh, Peer

KEEPALIVE = 25  # seconds; keeps a NAT mapping open so servers can reach a roaming peer


class Secrets(Protocol):
    def private_key(self, name: str) -> str: ...
    def psk(self, a: str, b: str) -> str: ...  # of the members with public keys a and b
    # rows of preshared keys, each key's bytes ending with a newline (KeyStore.psk_rows)
    def psk_rows(self, public_keys: Sequence[str], which: Iterable[int] | None = None) -> Iterator[list[bytes]]: ...


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
        f"PresharedKey = {secrets.psk(me.public_key, other.public_key)}",
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
        # The prefix on Address already routes every peer, so wg-quick's per-peer route step
        # (an `ip route show` for each AllowedIPs, i.e. a process per peer at every start)
        # would add nothing. A set MTU skips its other per-peer step (`ip route get` and
        # `ip link show` toward every endpoint, to take the largest underlay MTU), and gives
        # every server the same one. A roaming peer keeps both: its networks change, and on
        # macOS the prefix gives no route.
        head += [f"ListenPort = {mesh.port}", "Table = off", f"MTU = {mesh.mtu}"]
    head.append(f"PrivateKey = {secrets.private_key(me.name)}")
    others = mesh.hosts if isinstance(me, Peer) else mesh.members
    peers = [_peer_block(mesh, me, o, secrets) for o in others if o.name != me.name]
    return "\n".join(head) + "\n" + "".join(peers)


def render_all(mesh: Mesh, secrets: Secrets, names: Container[str] | None = None) -> Iterator[tuple[str, bytes]]:
    """(name, config) for every member, or those in `names`, each byte-identical to `render(...).encode()`.

    A full mesh of n members has n*(n-1) peer sections, and a member's section differs from
    config to config only in the preshared key. So each section's bytes around the key are
    built once, and a config is three slice assignments and one join over them: C loops, with
    no Python step per section, which is what dominates a render of a large mesh.
    Configs are yielded one by one, so a caller can write each before the next is built.
    """
    members = list(mesh.members)
    chosen = [i for i, m in enumerate(members) if names is None or m.name in names]
    rows = secrets.psk_rows([m.public_key for m in members], chosen)
    heads = [f"\n[Peer]\n# {o.name}\nPublicKey = {o.public_key}\nPresharedKey = ".encode() for o in members]
    tails = [(f"AllowedIPs = {o.address}/32\n" + (f"Endpoint = {o.endpoint}\n" if isinstance(o, Host) else "")).encode()
             for o in members]
    n_hosts = len(mesh.hosts)  # members lists the hosts first: a roaming peer's view is that prefix
    kept_alive = [t + f"PersistentKeepalive = {KEEPALIVE}\n".encode() for t in tails[:n_hosts]]
    alone = replace(mesh, hosts=(), peers=())
    # Every [Interface] part (so every private-key read) before the first config is yielded:
    # a missing key stops the render before its first write.
    interfaces = [render(alone, members[i], secrets).encode() for i in chosen]
    for i, interface, row in zip(chosen, interfaces, rows):
        me = members[i]
        roaming = isinstance(me, Peer)
        n = n_hosts if roaming else len(members)
        parts = [b""] * (3 * n + 1)
        parts[0] = interface  # then the peers
        parts[1::3] = heads[:n]
        parts[2::3] = row[:n]
        parts[3::3] = kept_alive if roaming else tails
        if not roaming:
            del parts[3 * i + 1:3 * i + 4]  # no section for itself
        yield me.name, b"".join(parts)
