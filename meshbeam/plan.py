"""Desired state + facts read from a host -> the changes to make (pure: no SSH here).

Like pyinfra, facts are gathered first (one round trip, see remote.py), then this module
decides what to write and which actions to run. When the host already matches, the plan
is empty and nothing is written or run.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Protocol

from . import wireguard
from .inventory import Host, Mesh


class Secrets(wireguard.Secrets, Protocol):
    def cookie(self) -> str: ...

# Silences wg-quick's banner when it falls back to wireguard-go (hosts without the kernel module).
_WG_ENV = "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"


@dataclass(frozen=True)
class FileFact:
    path: str
    exists: bool
    mode: int | None = None
    owner: str | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class Facts:
    """What one round trip told us about a host."""

    tools: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()  # names of the probes that succeeded
    iface_addrs: tuple[str, ...] = ()
    homes: dict[str, str] = field(default_factory=dict)  # user -> home directory
    files: dict[str, FileFact] = field(default_factory=dict)  # keyed by the queried path

    @property
    def systemd(self) -> bool:
        return "systemd" in self.flags

    @property
    def iface_exists(self) -> bool:
        return "iface" in self.flags


@dataclass(frozen=True)
class Query:
    """What to read from a host. Paths may start with ~USER/ (resolved on the host)."""

    interface: str
    paths: tuple[str, ...]
    tools: tuple[str, ...]
    users: tuple[str, ...] = ()
    probes: tuple[tuple[str, str], ...] = ()  # (flag, sh condition) -> flag is set when it succeeds


@dataclass(frozen=True)
class Write:
    path: str
    content: bytes
    mode: int
    owner: str
    secret: bool
    reason: str  # "new", "changed", "mode" or "backup"


@dataclass(frozen=True)
class Action:
    label: str  # shown to people
    script: str  # POSIX sh, run on the host after the writes


@dataclass(frozen=True)
class HostPlan:
    host: str
    writes: tuple[Write, ...] = ()
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.writes and not self.actions


class PlanError(Exception):
    """The host cannot be converged as it is (for example a tool is missing)."""


WG_TOOLS = ("wg", "wg-quick", "ip")


def query(mesh: Mesh, host: Host) -> Query:
    paths: tuple[str, ...] = (wireguard.config_path(mesh),)
    tools, users, probes = WG_TOOLS, (), ()
    if host.vm_args:
        from . import beamplan  # the BEAM layer only for hosts that run a node

        paths += beamplan.query_paths(host)
        tools += beamplan.TOOLS
        users = (host.run_user,)
        probes = beamplan.PROBES
    return Query(mesh.interface, paths, tools, users, probes)


def write_if_needed(fact: FileFact, content: bytes, mode: int, owner: str, secret: bool) -> Write | None:
    if not fact.exists:
        reason = "new"
    elif fact.content != content:
        reason = "changed"
    elif fact.mode != mode or fact.owner != owner:
        reason = "mode"
    else:
        return None
    return Write(fact.path, content, mode, owner, secret, reason)


def wireguard_actions(mesh: Mesh, host: Host, facts: Facts, conf_written: bool) -> list[Action]:
    iface = shlex.quote(mesh.interface)
    if not facts.iface_exists:
        if facts.systemd:
            return [Action(f"start wg-quick@{mesh.interface}", f"systemctl enable --now wg-quick@{iface}")]
        return [Action(f"wg-quick up {mesh.interface}", f"{_WG_ENV} run_logged wg-quick up {iface}")]
    actions = []
    if conf_written:
        # syncconf changes peers in place: existing sessions and tunnelled connections survive.
        actions.append(
            Action(
                f"wg syncconf {mesh.interface}",
                f'wg-quick strip {iface} > "$work/stripped" && wg syncconf {iface} "$work/stripped"',
            )
        )
    want = wireguard.interface_address(mesh, host)
    if facts.iface_addrs != (want,):
        stale = " ".join(f"ip -4 addr del {shlex.quote(a)} dev {iface};" for a in facts.iface_addrs if a != want)
        actions.append(
            Action(f"set address {want} on {mesh.interface}", f"{stale} ip -4 addr replace {want} dev {iface}")
        )
    return actions


def build(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> HostPlan:
    wanted = query(mesh, host).tools
    missing = [t for t in wanted if t not in facts.tools]
    if missing:
        raise PlanError(
            f"{', '.join(missing)} not found on the host: install wireguard-tools (and wireguard-go where the "
            "kernel has no WireGuard module)" + (", nftables and erlang-base" if host.vm_args else "")
        )
    path = wireguard.config_path(mesh)
    conf = wireguard.render(mesh, host, secrets).encode()
    wg_write = write_if_needed(facts.files[path], conf, 0o600, "root", secret=True)
    writes = [wg_write] if wg_write else []
    actions = wireguard_actions(mesh, host, facts, conf_written=wg_write is not None and wg_write.reason != "mode")
    notes: list[str] = []
    if host.vm_args:
        from . import beamplan

        try:
            beam_writes = beamplan.writes(mesh, host, secrets.cookie(), facts)
        except ValueError as e:
            raise PlanError(str(e)) from None
        writes += beam_writes
        actions += beamplan.actions(mesh, host, facts, beam_writes)
        notes += beamplan.notes(mesh, host, facts)
    return HostPlan(host.name, tuple(writes), tuple(actions), tuple(notes))
