"""systemd unit files and drop-ins that bring a host's firewall, mesh and BEAM node back after a reboot (pure).

At boot nothing of meshbeam's is loaded by `up`, so systemd must do it, in this order:

1. `meshbeam-firewall.service` loads the `inet meshbeam` table during sysinit, before any network interface
   is configured and before any socket unit (EPMD's included) listens.
2. The mesh interface comes up through its own unit (`wg-quick@IF.service` or `tinc@IF.service`).
3. Debian's `epmd.socket` listens only on the mesh address and loopback (a drop-in replaces its
   `ListenStream=4369` on every address); with `--epmd none` it is masked instead and nothing is rendered.
4. The node's own service starts after the mesh and the firewall (a drop-in on the user's unit).

Every function returns exact file contents; the host paths are constants or derived from checked names.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from . import backends
from .errors import InputError
from .firewall import EPMD_PORT

UNIT_DIR = "/etc/systemd/system"
DROPIN = "meshbeam.conf"  # the file name of every drop-in meshbeam writes
FIREWALL_UNIT = "meshbeam-firewall.service"
FIREWALL_UNIT_PATH = f"{UNIT_DIR}/{FIREWALL_UNIT}"
FIREWALL_RULES_PATH = "/etc/meshbeam/nftables.nft"  # the file `up` already writes the table to
EPMD_SOCKET = "epmd.socket"
EPMD_SERVICE = "epmd.service"
EPMD_DROPIN_PATH = f"{UNIT_DIR}/{EPMD_SOCKET}.d/{DROPIN}"
NFT = "/usr/sbin/nft"

# systemd's own grammar (unit_name_is_valid): a prefix of letters, digits and `:-_.\`, optionally `@` and an
# instance (which may itself hold `@`), then the type suffix; at most 255 characters. A template (`foo@.service`)
# cannot run, and a leading `-` would read as an option on systemctl's command line.
_SERVICE = re.compile(r"(?!-)[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\@-]+)?\.service")
_UNIT_MAX = 255
# What the rendered shell line may contain of an interface name or an address: checked again here so that the
# one `sh -c` below never sees a quote, `$`, `%` (a systemd specifier) or a space, whoever calls it.
_SAFE = re.compile(r"[A-Za-z0-9_.:-]+")
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


@dataclass(frozen=True)
class UnitFile:
    """A file `up` writes on a host: root-owned, mode 0644 (unit files are public; no secret is in one)."""

    path: str
    content: str
    mode: int = 0o644


def check_service_name(name: object, field: str = "--service") -> str:
    """The user's node unit, e.g. `app.service` or `app@blue.service`; InputError naming the field otherwise."""
    if not isinstance(name, str):
        raise InputError(f"invalid {field} {ascii(name)}: a systemd service name is text, like app.service")
    shown = ascii(name) if len(name) <= 60 else ascii(name[:57]) + "..."  # no newline or escape reaches the terminal
    if len(name) > _UNIT_MAX:
        raise InputError(f"invalid {field} {shown}: a systemd unit name has at most {_UNIT_MAX} characters")
    if not _SERVICE.fullmatch(name):
        raise InputError(f"invalid {field} {shown}: want a systemd service name such as app.service or app@1.service "
                         "(letters, digits, : _ . \\ - @; not starting with -; not a template NAME@.service)")
    # Ordering meshbeam's own units, or the mesh's, after themselves would be a dependency cycle.
    if name in (FIREWALL_UNIT, EPMD_SERVICE, "tinc.service") or name.startswith(("wg-quick@", "tinc@")):
        raise InputError(f"invalid {field} {shown}: that unit is part of the mesh or of meshbeam itself, "
                         "not the node's own service")
    return name


def _check_backend(backend: str, interface: str) -> None:
    backends.of(backend)
    if not isinstance(interface, str) or not _IFNAME.fullmatch(interface):
        raise ValueError(f"interface name {interface!r} must be 1-15 of A-Z a-z 0-9 _ . -")


def mesh_unit(backend: str, interface: str) -> str:
    """The unit that brings the mesh interface up: Debian's wg-quick@ or tinc@ template (tinc's NET is the
    interface name)."""
    _check_backend(backend, interface)
    return backends.of(backend).mesh_unit(interface)


def firewall_unit(rules_path: str = FIREWALL_RULES_PATH, table: str = "meshbeam") -> str:
    """meshbeam-firewall.service, modelled on Debian's nftables.service.

    WantedBy=sysinit.target rather than multi-user.target: sysinit.target orders itself after the units it
    wants, and every unit with default dependencies (all sockets, epmd.socket among them, and every ordinary
    service, the mesh's and the node's included) is ordered after sysinit.target. So the table is in place
    before anything could listen. Before=network-pre.target also holds back every network manager (ifupdown,
    networkd, NetworkManager order themselves after it), so no interface is configured without the table.
    DefaultDependencies=no is what lets it run that early (default dependencies would order it after
    sysinit.target, a cycle).
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", table) or not re.fullmatch(r"/[A-Za-z0-9/._-]+", rules_path):
        raise ValueError(f"bad table {table!r} or rules path {rules_path!r}")
    return f"""\
# Written by meshbeam: loads meshbeam's own nftables table at boot. Only the table `inet {table}`:
# no other table, no policy, no flush of the ruleset.
[Unit]
Description=meshbeam firewall (nftables table inet {table})
Documentation=man:nft(8)
Wants=network-pre.target
Before=network-pre.target shutdown.target
Conflicts=shutdown.target
DefaultDependencies=no

[Service]
Type=oneshot
RemainAfterExit=yes
StandardInput=null
ProtectSystem=full
ProtectHome=true
# The file replaces the table in one transaction (it creates, deletes and then defines only its own
# table), so loading it again is harmless and there is never a moment without the rules.
ExecStart={NFT} -f {rules_path}
# meshbeam applies a changed table with `systemctl reload`, never a restart: the node's service
# requires this unit, so a restart would restart the node too.
ExecReload={NFT} -f {rules_path}
# `-`: the table may already be gone (deleted by hand), which is what stopping wants anyway.
ExecStop=-{NFT} delete table inet {table}

[Install]
WantedBy=sysinit.target
"""


def _socket_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"{ip}:{EPMD_PORT}" if ip.version == 4 else f"[{ip}]:{EPMD_PORT}"


def epmd_socket_dropin(mesh_ip: str) -> str:
    """epmd.socket.d/meshbeam.conf for `--epmd mesh`: EPMD on the mesh address and loopback only.

    The drop-in is not ordered after the mesh interface's unit: epmd.socket is ordered before sockets.target,
    hence before basic.target and every ordinary service, the mesh's included; After=wg-quick@... would be
    an ordering cycle that systemd breaks by dropping a job at boot. FreeBind=yes binds the mesh address
    before the interface holds it instead.
    """
    ip = ipaddress.ip_address(mesh_ip)
    loopbacks = [ipaddress.ip_address("127.0.0.1")]
    if ip.version == 6:  # an IPv6 node (inet6_tcp) registers with EPMD over ::1
        loopbacks.append(ipaddress.ip_address("::1"))
    listen = "\n".join(f"ListenStream={_socket_address(a)}" for a in [ip, *loopbacks])
    return f"""\
# Written by meshbeam: EPMD listens on this host's mesh address and loopback only, never on every address.
[Unit]
# Wants, not Requires: a restart of the firewall unit must not restart EPMD, which would drop every
# running node's registration. At boot the firewall is loaded before any socket anyway (sysinit.target).
Wants={FIREWALL_UNIT}
After={FIREWALL_UNIT}

[Socket]
# The empty assignment removes Debian's ListenStream=4369 (every address, IPv4 and IPv6).
ListenStream=
{listen}
# Bind the mesh address before the mesh interface has it (the mesh comes up later in the boot).
FreeBind=yes
"""


def node_dropin(backend: str, interface: str) -> str:
    """NAME.service.d/meshbeam.conf: the node starts after the mesh interface and the firewall."""
    mesh = mesh_unit(backend, interface)
    return f"""\
# Written by meshbeam: start the BEAM node after its mesh interface and meshbeam's firewall.
[Unit]
# Wants, not Requires or BindsTo, for the mesh: `up` may restart {mesh} (an address change),
# and that must not stop or restart the node. Its listen socket stays bound to the mesh address while the
# interface goes and comes back. If the mesh never comes up, the node fails closed on its own: its
# distribution listener is bound to the mesh address (eaddrnotavail).
Wants={mesh}
After={mesh}
# Requires for the firewall: no table, no node. meshbeam only ever reloads that unit, so this never
# restarts the node; stopping the firewall by hand stops the node first.
Requires={FIREWALL_UNIT}
After={FIREWALL_UNIT}
"""


def node_dropin_path(service: str) -> str:
    return f"{UNIT_DIR}/{check_service_name(service)}.d/{DROPIN}"


def tinc_dropin_path(interface: str) -> str:
    return f"{UNIT_DIR}/{mesh_unit('tinc', interface)}.d/{DROPIN}"


def tinc_dropin(interface: str, mesh_ip: str) -> str:
    """tinc@IF.service.d/meshbeam.conf: the unit is active only once tinc-up has given the interface its address.

    tinc@.service is Type=simple, so without this After=tinc@IF.service would only mean "tincd was forked" and a
    node ordered after it could still meet eaddrnotavail. ExecStartPost runs before the unit counts as started.
    """
    _check_backend("tinc", interface)
    ip = str(ipaddress.ip_address(mesh_ip))
    if not (_SAFE.fullmatch(interface) and _SAFE.fullmatch(ip)):
        raise ValueError(f"interface {interface!r} or address {ip!r} is not safe in a command line")
    wait = f"until ip -o addr show dev {interface} to {ip} | grep -q .; do sleep 0.1; done"
    return f"""\
# Written by meshbeam: tinc@{interface} counts as started only once its interface holds {ip}.
[Service]
ExecStartPost=/usr/bin/timeout 60 /bin/sh -c '{wait}'
"""


def host_files(*, backend: str, interface: str, mesh_ip: str, epmd: str, service: str | None) -> list[UnitFile]:
    """Every unit file and drop-in `up` writes on one host (the nftables table file itself comes from firewall)."""
    files = [UnitFile(FIREWALL_UNIT_PATH, firewall_unit())]
    if epmd == "mesh":
        files.append(UnitFile(EPMD_DROPIN_PATH, epmd_socket_dropin(mesh_ip)))
    elif epmd != "none":
        raise ValueError(f"epmd mode {epmd!r} must be mesh or none")
    if backends.of(backend).readiness_dropin:
        files.append(UnitFile(tinc_dropin_path(interface), tinc_dropin(interface, mesh_ip)))
    if service is not None:
        files.append(UnitFile(node_dropin_path(service), node_dropin(backend, interface)))
    return files
