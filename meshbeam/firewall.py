"""nftables text that keeps Erlang distribution and EPMD reachable only over the mesh (pure).

meshbeam owns one table, `inet meshbeam`, and nothing else: no other table, no policy
change, no SSH rule. Its input chain has policy accept and only drops TCP to the
distribution port and EPMD (4369) when the packet did not come from the mesh. A drop in
any base chain is final, while an accept here still passes through every other table's
chains, so this table can only narrow what the host's own firewall allows.
"""

from __future__ import annotations

import ipaddress
import re

EPMD_PORT = 4369
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")  # Linux IFNAMSIZ - 1
_TABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _check_table(table: str) -> None:
    if not isinstance(table, str) or not _TABLE.fullmatch(table):
        raise ValueError(f"nftables table name {table!r} must be a letter then letters, digits or _")


def _check_port(what: str, port: int) -> None:
    if type(port) is not int or not 1 <= port <= 65535:
        raise ValueError(f"{what} {port!r} must be an integer in 1..65535")


def _replace_header(table: str) -> list[str]:
    # The idempotent-replace idiom (nft 1.0.6 has no `destroy`): creating the table first
    # makes the delete succeed whether or not it existed; `nft -f` applies the file as one
    # transaction, so there is never a moment without the rules.
    return [f"table inet {table} {{}}", f"delete table inet {table}"]


def ruleset(*, interface: str, cidr: str, dist_port: int, listen_port: int,
            table: str = "meshbeam") -> str:
    """The full `nft -f -` text for meshbeam's table."""
    if not isinstance(interface, str) or not _IFNAME.fullmatch(interface):
        raise ValueError(f"interface name {interface!r} must be 1-15 of A-Z a-z 0-9 _ . -")
    try:
        net = ipaddress.ip_network(cidr)
    except (TypeError, ValueError) as e:
        raise ValueError(f"mesh CIDR {cidr!r} is not a network address: {e}") from None
    _check_port("distribution port", dist_port)
    _check_port("mesh listen port", listen_port)
    if dist_port == EPMD_PORT:
        raise ValueError(f"distribution port {dist_port} is EPMD's port; pick another")
    _check_table(table)
    family = "ip" if net.version == 4 else "ip6"
    ports = f"{{ {', '.join(map(str, sorted({dist_port, EPMD_PORT})))} }}"
    return "\n".join([
        *_replace_header(table),
        f"table inet {table} {{",
        "\tchain input {",
        "\t\ttype filter hook input priority 0; policy accept;",
        # Loopback stays open: the node registers with its local EPMD over 127.0.0.1, and
        # erl_call / remote shells use it: a node whose lo:4369 is dropped does not boot.
        '\t\tiif "lo" accept',
        f'\t\tiifname "{interface}" {family} saddr {net} tcp dport {ports} accept',
        f"\t\ttcp dport {ports} drop",
        # Redundant under policy accept; states that the tunnel's own port must stay open.
        f"\t\tudp dport {listen_port} accept",
        "\t}",
        "}",
    ]) + "\n"


def delete_ruleset(table: str = "meshbeam") -> str:
    """`nft -f -` text that removes meshbeam's table, and succeeds if it is already gone."""
    _check_table(table)
    return "\n".join(_replace_header(table)) + "\n"
