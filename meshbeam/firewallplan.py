"""The firewall part of a BEAM host's plan (pure): meshbeam's nftables table and where EPMD listens.

Distribution and EPMD listen only on the mesh address, and the `inet meshbeam` table drops both
ports off the mesh as a second wall (see firewall.py for the ruleset itself).
"""

from __future__ import annotations

from . import firewall, units
from .command import sh
from .inventory import Mesh
from .plan import Action, Facts, Write, write_if_needed

NFT_FILE = units.FIREWALL_RULES_PATH
NFT_TABLE = "meshbeam"

PROBES = (
    ("nft-table", sh("nft list table inet {} >/dev/null 2>&1", NFT_TABLE)),
    ("epmd-socket", sh("systemctl is-active --quiet epmd.socket 2>/dev/null")),
)


def query_paths() -> tuple[str, ...]:
    return (NFT_FILE,)


def writes(mesh: Mesh, facts: Facts) -> list[Write]:
    rules = firewall.ruleset(interface=mesh.interface, cidr=mesh.cidr, dist_port=mesh.dist_port,
                             listen_port=mesh.port, table=NFT_TABLE)
    w = write_if_needed(facts.files[NFT_FILE], rules.encode(), 0o644, "root", secret=False)
    return [w] if w else []


def actions(facts: Facts, written: list[Write]) -> list[Action]:
    if NFT_FILE in {w.path for w in written} or "nft-table" not in facts.flags:
        return [Action(f"nft -f {NFT_FILE} (table inet {NFT_TABLE})", sh("nft -f {}", NFT_FILE))]
    return []


def notes(mesh: Mesh, facts: Facts) -> list[str]:
    if "epmd-socket" in facts.flags and mesh.epmd == "mesh":
        return ["Debian's epmd.socket is active and listens on every interface, so ERL_EPMD_ADDRESS has no "
                "effect; the firewall still drops 4369 off the mesh. `systemctl disable --now epmd.socket` fixes it"]
    return []


def teardown(facts: Facts) -> tuple[list[str], list[Action]]:
    """(removes, actions): the table file goes, and the table itself."""
    removes = [NFT_FILE] if facts.files[NFT_FILE].exists else []
    actions = []
    if "nft-table" in facts.flags:
        actions.append(Action(f"nft delete table inet {NFT_TABLE}", sh("nft delete table inet {}", NFT_TABLE)))
    return removes, actions
