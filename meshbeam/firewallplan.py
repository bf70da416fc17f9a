"""The firewall part of a BEAM host's plan (pure): meshbeam's nftables table and where EPMD listens.

Distribution and EPMD listen only on the mesh address, and the `inet meshbeam` table drops both
ports off the mesh as a second wall (see firewall.py for the ruleset itself).

Without systemd, `up` loads the table with `nft -f` and nothing loads it at boot. With systemd,
meshbeam-firewall.service loads it (at boot, before any interface or socket: see units.py), and
`up` applies a changed table through that unit, after systemdplan's daemon-reload.
"""

from __future__ import annotations

from . import firewall, units
from .command import sh
from .inventory import Mesh
from .plantypes import Action, Facts, Write, write_if_needed

NFT_FILE = units.FIREWALL_RULES_PATH
NFT_TABLE = "meshbeam"

PROBES = (
    ("nft-table", sh("nft list table inet {} >/dev/null 2>&1", NFT_TABLE)),
    ("epmd-socket", sh("systemctl is-active --quiet epmd.socket 2>/dev/null")),
)
# Read on every host that runs a node (systemdplan adds them to the query).
UNIT_PROBES = (
    ("fw-enabled", sh("systemctl is-enabled --quiet {} 2>/dev/null", units.FIREWALL_UNIT)),
    ("fw-active", sh("systemctl is-active --quiet {} 2>/dev/null", units.FIREWALL_UNIT)),
)


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
    if facts.systemd:
        return []
    if NFT_FILE in {w.path for w in written} or "nft-table" not in facts.flags:
        return [Action(f"nft -f {NFT_FILE} (table inet {NFT_TABLE})", sh("nft -f {}", NFT_FILE))]
    return []


def unit_actions(facts: Facts, written: set[str]) -> list[Action]:
    """systemd hosts: enable meshbeam-firewall.service for the next boots and load the table through it now.

    A changed table is applied with a reload (ExecReload is `nft -f`), never a restart: the node's unit
    Requires= this one, so a restart would restart the node. reload-or-restart starts an inactive unit.
    """
    unit = units.FIREWALL_UNIT
    out = []
    if "fw-enabled" not in facts.flags:
        out.append(Action(f"enable {unit} (loads table inet {NFT_TABLE} at boot)",
                          sh("systemctl enable --quiet {}", unit)))
    stale = NFT_FILE in written or units.FIREWALL_UNIT_PATH in written
    if stale or "nft-table" not in facts.flags or "fw-active" not in facts.flags:
        out.append(Action(f"load table inet {NFT_TABLE} (systemctl reload-or-restart {unit})",
                          sh("systemctl reload-or-restart {}", unit)))
    return out


def notes(mesh: Mesh, facts: Facts) -> list[str]:
    """An EPMD on every address that `up` cannot move: one started before meshbeam's vm.args (by a node,
    not by epmd.socket, which systemdplan moves to the mesh address or masks)."""
    if "epmd-wide" in facts.flags and not (facts.systemd and "epmd-socket" in facts.flags):
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
    if facts.systemd and ((unit_file is not None and unit_file.exists) or "fw-enabled" in facts.flags):
        actions.append(Action(f"disable and remove {unit}",
                              sh("systemctl disable --quiet --now {} && rm -f -- {} && systemctl daemon-reload",
                                 unit, path)))
        stopped_by_unit = "fw-active" in facts.flags
    if "nft-table" in facts.flags and not stopped_by_unit:
        actions.append(Action(f"nft delete table inet {NFT_TABLE}", sh("nft delete table inet {}", NFT_TABLE)))
    return removes, actions
