"""Desired state + facts read from a host -> the changes to make (pure: no SSH here).

Like pyinfra, facts are gathered first (one round trip, see remote.py), then this module
decides what to write and which actions to run. When the host already matches, the plan
is empty and nothing is written or run.
"""

from __future__ import annotations

import difflib
import re
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
    listings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # directory -> entry names

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
    listdirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Write:
    path: str
    content: bytes
    mode: int
    owner: str
    secret: bool
    reason: str  # "new", "changed", "mode" or "backup"
    old: FileFact | None = None  # what the host had, for the dry-run diff


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
    removes: tuple[str, ...] = ()  # paths deleted after the writes, before the actions

    @property
    def empty(self) -> bool:
        return not self.writes and not self.actions and not self.removes


class PlanError(Exception):
    """The host cannot be converged as it is (for example a tool is missing)."""


WG_TOOLS = ("wg", "wg-quick", "ip")


def query(mesh: Mesh, host: Host) -> Query:
    if mesh.backend == "tinc":
        from . import tincplan

        paths, tools, probes, listdirs = tincplan.query_parts(mesh)
    else:
        paths, tools, probes, listdirs = (wireguard.config_path(mesh),), WG_TOOLS, (), ()
    users: tuple[str, ...] = ()
    if host.vm_args:
        from . import beamplan  # the BEAM layer only for hosts that run a node

        paths += beamplan.query_paths(host)
        tools += beamplan.TOOLS
        users = (host.run_user,)
        probes += beamplan.probes(mesh, host)
    return Query(mesh.interface, paths, tools, users, probes, listdirs)


def write_if_needed(fact: FileFact, content: bytes, mode: int, owner: str, secret: bool) -> Write | None:
    if not fact.exists:
        reason = "new"
    elif fact.content != content:
        reason = "changed"
    elif fact.mode != mode or fact.owner != owner:
        reason = "mode"
    else:
        return None
    return Write(fact.path, content, mode, owner, secret, reason, fact)


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


def wireguard_layer(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> tuple[list[Write], list[Action]]:
    path = wireguard.config_path(mesh)
    conf = wireguard.render(mesh, host, secrets).encode()
    write = write_if_needed(facts.files[path], conf, 0o600, "root", secret=True)
    actions = wireguard_actions(mesh, host, facts, conf_written=write is not None and write.reason != "mode")
    return ([write] if write else []), actions


def build(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> HostPlan:
    wanted = query(mesh, host).tools
    missing = [t for t in wanted if t not in facts.tools]
    if missing:
        package = "tinc" if mesh.backend == "tinc" else "wireguard-tools (and wireguard-go where the kernel has no WireGuard module)"
        raise PlanError(
            f"{', '.join(missing)} not found on the host: install {package}"
            + (", nftables and erlang-base" if host.vm_args else "")
        )
    removes: list[str] = []
    if mesh.backend == "tinc":
        from . import tincplan

        writes, removes, actions = tincplan.layer(mesh, host, secrets, facts)
    else:
        writes, actions = wireguard_layer(mesh, host, secrets, facts)
    notes: list[str] = []
    if host.vm_args:
        from . import beamplan

        try:
            beam_writes, beam_actions, beam_notes = beamplan.layer(mesh, host, secrets.cookie(), facts)
        except ValueError as e:
            raise PlanError(str(e)) from None
        writes += beam_writes
        actions += beam_actions
        notes += beam_notes
    return HostPlan(host.name, tuple(writes), tuple(actions), tuple(notes), tuple(removes))


_SECRET_LINE = re.compile(r"^(\s*(?:PrivateKey|PresharedKey)\s*=\s*).*$", re.MULTILINE)


def mask(text: str) -> str:
    return "\n".join(_SECRET_LINE.sub(r"\1(secret)", line) for line in text.split("\n"))


def diff(write: Write) -> str:
    """A unified diff of one planned write, with every secret masked."""
    old = write.old or FileFact(write.path, False)
    if write.reason == "mode":
        return f"mode {old.mode:04o} {old.owner} -> {write.mode:04o} {write.owner}\n" if old.mode else ""
    before = (old.content or b"").decode(errors="replace") if old.exists else ""
    after = write.content.decode(errors="replace")
    if write.secret and not _SECRET_LINE.search(after):
        return f"(secret file, {len(write.content)} bytes; contents not shown)\n"
    lines = difflib.unified_diff(
        mask(before).splitlines(keepends=True),
        mask(after).splitlines(keepends=True),
        fromfile=write.path if old.exists else "/dev/null",
        tofile=write.path,
    )
    return "".join(l if l.endswith("\n") else l + "\n" for l in lines)


def teardown(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> HostPlan:
    """`meshbeam down`: undo everything `up` did, leaving the host as it was before meshbeam."""
    iface = shlex.quote(mesh.interface)
    actions: list[Action] = []
    removes: list[str] = []
    if mesh.backend == "tinc":
        from . import tincplan

        if "tincd" in facts.flags:
            stop = f"systemctl disable --now tinc@{iface}" if facts.systemd else f"tincd -n {iface} -k"
            actions.append(Action(f"stop tincd -n {mesh.interface}", stop))
        if any(f.exists for f in facts.files.values() if f.path.startswith(tincplan.base(mesh))):
            actions.append(Action(f"remove {tincplan.base(mesh)}", f"rm -rf {shlex.quote(tincplan.base(mesh))}"))
    else:
        if facts.iface_exists:
            stop = f"systemctl disable --now wg-quick@{iface}" if facts.systemd else f"{_WG_ENV} run_logged wg-quick down {iface}"
            actions.append(Action(f"take {mesh.interface} down", stop))
        conf = wireguard.config_path(mesh)
        if facts.files[conf].exists:  # after the stop, which reads it
            actions.append(Action(f"remove {conf}", f"rm -f {shlex.quote(conf)}"))
    writes: list[Write] = []
    if host.vm_args:
        from . import beamplan

        w, r, a = beamplan.teardown(host, secrets.cookie(), facts)
        writes, removes, actions = w, removes + r, actions + a
    return HostPlan(host.name, tuple(writes), tuple(actions), (), tuple(removes))
