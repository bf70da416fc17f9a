"""The `meshbeam_dist` distribution module: its source, where it goes on a host, the file it reads.

`meshbeam_dist` (meshbeam/erlang/meshbeam_dist.erl) is inet_tcp_dist with one change: an
incoming connection may only claim a node name whose host part is the connection's source
address, and only a name listed in ALLOWED_FILE. On a WireGuard mesh the source address is
authenticated by the peer's key, so the name is too; the file is read at every incoming
connection, so the list applies from boot and a removed member is refused without a restart.

`up` compiles the source once on the operator's machine (distbuild.py) and installs that .beam on
every host whose node runs the same major version of ERTS, not older than the one that compiled it
(`Build.loads_on`); any other host compiles the source with its own erlc. The node starts with
VM_ARGS_LINES either way.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from importlib import resources
from typing import Iterable

from .errors import InputError

MODULE = "meshbeam_dist"
PROTO = "meshbeam"  # `-proto_dist meshbeam` makes OTP load the module PROTO + "_dist"
CONF_DIR = "/etc/meshbeam"
EBIN_DIR = f"{CONF_DIR}/ebin"
SOURCE_PATH = f"{CONF_DIR}/{MODULE}.erl"
BEAM_PATH = f"{EBIN_DIR}/{MODULE}.beam"
ALLOWED_FILE = f"{CONF_DIR}/allowed"
# vm.args lines, one flag each. `-pa` puts EBIN_DIR on the code path before distribution
# starts, which is when OTP loads the module; a mix release or relx vm.args takes the same.
VM_ARGS_LINES = (f"-proto_dist {PROTO}", f"-pa {EBIN_DIR}")
ALLOWED_HEADER = "# meshbeam: node names allowed to connect (NAME@MESH_ADDRESS); managed, overwritten by `up`\n"

# What Erlang accepts before '@' in a node name (net_kernel's valid_name_head).
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VERSION = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6}){0,7}")


@dataclass(frozen=True)
class Build:
    """The module as compiled on the operator's machine, or why it was not (`why_not`)."""

    erts: str = ""  # the version of the ERTS that compiled it
    beam: bytes = b""
    why_not: str = ""

    def loads_on(self, erts: str | None) -> bool:
        """Whether a node running ERTS `erts` loads this .beam.

        A .beam loads in the ERTS that made it and in later ones of the same major version: a
        patch release adds no instruction. A major version apart is left to the host's own erlc,
        and so is an ERTS whose version is unknown.
        """
        here, there = erts_version(self.erts), erts_version(erts or "")
        return bool(self.beam and here and there and here[0] == there[0] and here <= there)


def erts_version(text: str) -> tuple[int, ...]:
    """'13.1.5' -> (13, 1, 5); () for anything that is not such a version."""
    return tuple(int(p) for p in text.split(".")) if _VERSION.fullmatch(text) else ()


def source() -> bytes:
    """The module's Erlang source, as shipped in this package."""
    return resources.files("meshbeam").joinpath("erlang", f"{MODULE}.erl").read_bytes()


def render_allowed(nodes: Iterable[str]) -> str:
    """The contents of ALLOWED_FILE: one NAME@IPADDRESS per line, sorted, no duplicates.

    The module compares the host part with the connection's source address, so a host part
    that is not an IP address would never match: it is refused here rather than silently.
    An empty list is allowed and means that no node may connect.
    """
    names = set()
    for node in nodes:
        base, at, host = node.partition("@")
        if not at or not _NAME.fullmatch(base):
            raise InputError(f"allowed node {node!r}: expected NAME@IPADDRESS")
        try:
            address = ipaddress.IPv4Address(host)  # the module wraps inet_tcp_dist: IPv4 only
        except ValueError:
            raise InputError(f"allowed node {node!r}: the host part must be an IPv4 address") from None
        if str(address) != host:  # the module parses strictly
            raise InputError(f"allowed node {node!r}: write the address as {address}")
        names.add(node)
    return ALLOWED_HEADER + "".join(f"{n}\n" for n in sorted(names))
