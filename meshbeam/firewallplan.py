"""The firewall part of a BEAM host's plan (pure): meshbeam's nftables table and where EPMD listens.

Distribution and EPMD listen only on the mesh address, and the `inet meshbeam` table drops both
ports off the mesh as a second wall (see firewall.py for the ruleset itself).

Without systemd, `up` loads the table with `nft -f` and nothing loads it at boot. With systemd,
meshbeam-firewall.service loads it (at boot, before any interface or socket: see units.py), and
`up` applies a changed table through that unit, after systemdplan's daemon-reload.
"""

from __future__ import annotations

import ipaddress

from . import firewall, units
from .command import Cmd, sh
from .firewall import EPMD_PORT
from .inventory import Host, Mesh
from .plantypes import SYSTEMD, Action, Facts, Flag, Write, write_if_needed

NFT_FILE = units.FIREWALL_RULES_PATH
NFT_TABLE = "meshbeam"

TABLE_LOADED = Flag("nft-table", sh("nft list table inet {} >/dev/null 2>&1", NFT_TABLE))
EPMD_SOCKET_ACTIVE = Flag("epmd-socket", sh("systemctl is-active --quiet epmd.socket 2>/dev/null"))
PROBES = (TABLE_LOADED, EPMD_SOCKET_ACTIVE)
# Read on every host that runs a node (systemdplan adds them to the query).
UNIT_ENABLED = Flag("fw-enabled", sh("systemctl is-enabled --quiet {} 2>/dev/null", units.FIREWALL_UNIT))
UNIT_ACTIVE = Flag("fw-active", sh("systemctl is-active --quiet {} 2>/dev/null", units.FIREWALL_UNIT))
UNIT_PROBES = (UNIT_ENABLED, UNIT_ACTIVE)


def _epmd_address(ip: str) -> str:
    return f"{ip}:{EPMD_PORT}" if ipaddress.ip_address(ip).version == 4 else f"[{ip}]:{EPMD_PORT}"


def _epmd_wide(mesh: Mesh, host: Host) -> Cmd:
    """True when something listens on 4369 beyond the host's mesh address and loopback."""
    return sh("ss -Htln 2>/dev/null | awk '{print $4}' | grep -E ':4369$' | grep -qvxF -e {} -e 127.0.0.1:4369 "
              "-e '[::1]:4369'", _epmd_address(host.address))


# Asked with the unit probes (systemdplan), on hosts without systemd too: an EPMD can be started by hand.
EPMD_WIDE = Flag("epmd-wide", _epmd_wide)


def query_paths() -> tuple[str, ...]:
    return (NFT_FILE,)


def ruleset(mesh: Mesh) -> str:
    return firewall.ruleset(interface=mesh.interface, cidr=mesh.cidr, dist_port=mesh.dist_port,
                            listen_port=mesh.port, table=NFT_TABLE)


def writes(mesh: Mesh, facts: Facts) -> list[Write]:
    w = write_if_needed(facts.files[NFT_FILE], ruleset(mesh).encode(), 0o644, "root", secret=False)
    return [w] if w else []


def actions(facts: Facts, written: list[Write]) -> list[Action]:
    """Without systemd: `nft -f` when the table file changed or the table is gone. With systemd the
    unit does it (unit_actions), after the daemon-reload that must come first."""
    if facts.has(SYSTEMD):
        return []
    if NFT_FILE in {w.path for w in written} or not facts.has(TABLE_LOADED):
        return [Action(f"nft -f {NFT_FILE} (table inet {NFT_TABLE})", sh("nft -f {}", NFT_FILE))]
    return []


def unit_actions(facts: Facts, written: set[str]) -> list[Action]:
    """systemd hosts: enable meshbeam-firewall.service for the next boots and load the table through it now.

    A changed table is applied with a reload (ExecReload is `nft -f`), never a restart: the node's unit
    Requires= this one, so a restart would restart the node. reload-or-restart starts an inactive unit.
    """
    unit = units.FIREWALL_UNIT
    out = []
    if not facts.has(UNIT_ENABLED):
        out.append(Action(f"enable {unit} (loads table inet {NFT_TABLE} at boot)",
                          sh("systemctl enable --quiet {}", unit)))
    stale = NFT_FILE in written or units.FIREWALL_UNIT_PATH in written
    if stale or not facts.has(TABLE_LOADED) or not facts.has(UNIT_ACTIVE):
        out.append(Action(f"load table inet {NFT_TABLE} (systemctl reload-or-restart {unit})",
                          sh("systemctl reload-or-restart {}", unit)))
    return out


def notes(mesh: Mesh, facts: Facts) -> list[str]:
    """An EPMD on every address that `up` cannot move: one started before meshbeam's vm.args (by a node,
    not by epmd.socket, which systemdplan moves to the mesh address or masks)."""
    if facts.has(EPMD_WIDE) and not (facts.has(SYSTEMD) and facts.has(EPMD_SOCKET_ACTIVE)):
        return ["an EPMD started before meshbeam's vm.args listens beyond the mesh address and loopback; "
                "the firewall drops 4369 off the mesh, and EPMD listens on the mesh address only once every node "
                "on this host has stopped and `epmd -kill` has ended it"]
    return []


def teardown(facts: Facts) -> tuple[list[str], list[Action]]:
    """(removes, actions): the table file goes, and the table itself; on systemd hosts the unit too.

    Stopping the unit deletes the table (its ExecStop). systemdplan's teardown has removed the node's
    drop-in by then, so the node no longer Requires= the unit and keeps running.
    """
    removes = [NFT_FILE] if facts.files[NFT_FILE].exists else []
    actions = []
    unit, path = units.FIREWALL_UNIT, units.FIREWALL_UNIT_PATH
    unit_file = facts.files.get(path)
    stopped_by_unit = False
    if facts.has(SYSTEMD) and ((unit_file is not None and unit_file.exists) or facts.has(UNIT_ENABLED)):
        actions.append(Action(f"disable and remove {unit}",
                              sh("systemctl disable --quiet --now {} && rm -f -- {} && systemctl daemon-reload",
                                 unit, path)))
        stopped_by_unit = facts.has(UNIT_ACTIVE)
    if facts.has(TABLE_LOADED) and not stopped_by_unit:
        actions.append(Action(f"nft delete table inet {NFT_TABLE}", sh("nft delete table inet {}", NFT_TABLE)))
    return removes, actions
