"""The WireGuard layer of a host's plan (pure): /etc/wireguard/IF.conf, and bringing the interface up.

A changed config on a live interface is applied with `wg syncconf`, which changes peers in place:
existing sessions and tunnelled connections survive. Under systemd the interface is wg-quick@IF's.
"""

from __future__ import annotations

from collections.abc import Container, Iterator

from . import wireguard
from .command import Cmd, sh
from .inventory import Host, Mesh, Peer
from .plantypes import IFACE, SYSTEMD, Action, Facts, Flag, Write, original, restore, write_if_needed
from .systemdplan import MESH_ENABLED

TOOLS = ("wg", "wg-quick", "ip")
PACKAGE = "wireguard-tools (and wireguard-go where the kernel has no WireGuard module)"
# Silences wg-quick's banner when it falls back to wireguard-go (hosts without the kernel module).
WG_ENV = "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"


def query_parts(mesh: Mesh) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Flag, ...], tuple[str, ...]]:
    """(paths, tools, flags, directories to list)."""
    return (wireguard.config_path(mesh),), TOOLS, (), ()


def _actions(mesh: Mesh, host: Host, facts: Facts, conf_written: bool) -> list[Action]:
    iface = mesh.interface
    if not facts.has(IFACE):
        if facts.has(SYSTEMD):
            return [Action(f"start wg-quick@{iface}", sh("systemctl enable --now {}", f"wg-quick@{iface}"))]
        return [Action(f"wg-quick up {iface}", sh("{} run_logged wg-quick up {}", WG_ENV, iface))]
    actions = []
    if conf_written:  # syncconf takes the peers and keys; the MTU (for wg-quick alone) is set beside it
        actions.append(Action(f"wg syncconf {iface}",
                              sh('wg-quick strip {} > "$work/stripped" && wg syncconf {} "$work/stripped" && '
                                 "ip link set dev {} mtu {}", iface, iface, iface, mesh.mtu)))
    want = wireguard.interface_address(mesh, host)
    if facts.iface_addrs != (want,):
        stale = [sh("ip -4 addr del {} dev {}; ", a, iface) for a in facts.iface_addrs if a != want]
        actions.append(
            Action(f"set address {want} on {iface}", Cmd(*stale, sh("ip -4 addr replace {} dev {}", want, iface)))
        )
    return actions


def layer(mesh: Mesh, host: Host, secrets: wireguard.Secrets, facts: Facts
          ) -> tuple[list[Write], list[str], list[Action]]:
    """(writes, removes, actions) for `up`."""
    path = wireguard.config_path(mesh)
    conf = wireguard.render(mesh, host, secrets).encode()
    write = write_if_needed(facts.files[path], conf, 0o600, "root", secret=True)
    actions = _actions(mesh, host, facts, conf_written=write is not None and write.reason != "mode")
    return ([write] if write else []), [], actions


def teardown(mesh: Mesh, host: Host, facts: Facts) -> tuple[list[Write], list[str], list[Action]]:
    """(writes, removes, actions) for `down`: the interface down, the host's own config back or ours gone."""
    iface = mesh.interface
    actions, writes = [], []
    systemd = facts.has(SYSTEMD)
    if facts.has(IFACE) or (systemd and facts.has(MESH_ENABLED)):
        # On systemd, an interface brought up by hand outlives its unit's stop: wg-quick takes it down.
        stop = (sh("systemctl disable --quiet --now {}; if ip link show dev {} >/dev/null 2>&1; "
                   "then {} run_logged wg-quick down {}; fi", f"wg-quick@{iface}", iface, WG_ENV, iface)
                if systemd else sh("{} run_logged wg-quick down {}", WG_ENV, iface))
        actions.append(Action(f"take {iface} down", stop))
    conf = wireguard.config_path(mesh)
    was = original(facts, conf)
    if was is not None and was.exists:  # the host's own file comes back (written before the stop)
        writes += (restore(host, facts, conf) or ([], []))[0]
    elif facts.files[conf].exists:  # after the stop, which reads it
        actions.append(Action(f"remove {conf}", sh("rm -f -- {}", conf)))
    return writes, [], actions


def peer_files(mesh: Mesh, peer: Peer, secrets: wireguard.Secrets) -> dict[str, tuple[str, int]]:
    """A roaming peer's files relative to its bundle: "" is the one wg-quick file itself."""
    return {"": (wireguard.render(mesh, peer, secrets), 0o600)}


def render_files(mesh: Mesh, secrets: wireguard.Secrets,
                 names: Container[str] | None = None) -> Iterator[tuple[str, str, bytes | str, int]]:
    """(member, path under its directory, content, mode) of every member's config, or those in
    `names`, for `render`."""
    for name, data in wireguard.render_all(mesh, secrets, names):
        yield name, f"{mesh.interface}.conf", data, 0o600
