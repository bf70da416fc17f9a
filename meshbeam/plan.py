"""Desired state + facts read from a host -> the changes to make (pure: no SSH here).

Like pyinfra, facts are gathered first (one round trip, see remote.py), then this module
decides what to write and which actions to run. When the host already matches, the plan
is empty and nothing is written or run.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Protocol

from . import wireguard
from .command import Cmd, sh
from .errors import PlanError
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
    problem: str | None = None  # why meshbeam must not touch it: "is a symbolic link", ...
    actor: str = "root"  # who may act in its directory (see hostlib): root or the user who owns it


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
    probes: tuple[tuple[str, Cmd], ...] = ()  # (flag, sh condition) -> flag is set when it succeeds
    listdirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Write:
    path: str
    content: bytes
    mode: int
    owner: str
    secret: bool
    reason: str  # "new", "changed", "mode" or "backup"
    old: FileFact | None = None  # what the host had, for the dry-run diff and the backup
    actor: str = "root"  # who writes it: root, or the user who owns its directory (see remote.py)


@dataclass(frozen=True)
class Action:
    label: str  # shown to people
    script: Cmd  # POSIX sh, run on the host after the writes


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


WG_TOOLS = ("wg", "wg-quick", "ip")

# Every file meshbeam replaces is kept here once, before its first change, as it was (or as
# "absent"), root's and out of every other user's reach; `down` puts it back byte for byte.
OWN_DIR = "/etc/meshbeam/"
BACKUP_DIR = "/etc/meshbeam/backup"
_BACKUP_HEADER = re.compile(rb"meshbeam-backup 1 (?:absent|([0-7]{1,4}) ([A-Za-z0-9_][A-Za-z0-9_.-]*))\n")


def backup_path(key: str) -> str:
    """Where the backup of a queried path lives (named by a hash: the path may be ~USER/...)."""
    return f"{BACKUP_DIR}/{hashlib.sha256(key.encode()).hexdigest()}"


def backup_record(fact: FileFact) -> bytes:
    if not fact.exists:
        return b"meshbeam-backup 1 absent\n"
    return f"meshbeam-backup 1 {fact.mode:o} {fact.owner}\n".encode() + (fact.content or b"")


def original(facts: Facts, key: str) -> FileFact | None:
    """What a queried path held before meshbeam's first change, when a backup says so."""
    b = facts.files.get(backup_path(key))
    if b is None or not b.exists or b.content is None:
        return None
    m = _BACKUP_HEADER.match(b.content)
    if not m:
        raise PlanError(f"{b.path} is not a meshbeam backup; remove it or restore {key} by hand")
    if m[1] is None:
        return FileFact(key, False)
    return FileFact(key, True, int(m[1], 8), m[2].decode(), b.content[m.end():])


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
    # The user's files get a backup before their first change; meshbeam's own files in its own directory need
    # none (down removes them).
    paths += tuple(backup_path(p) for p in paths if not p.endswith(".meshbeam-orig") and not p.startswith(OWN_DIR))
    from . import systemdplan  # unit files are meshbeam's own: no backup of them

    unit_paths, unit_probes = systemdplan.query_parts(mesh, host)
    return Query(mesh.interface, paths + unit_paths, tools, users, probes + unit_probes, listdirs)


def write_if_needed(fact: FileFact, content: bytes, mode: int, owner: str, secret: bool,
                    path: str | None = None) -> Write | None:
    """The write that makes `fact` hold `content` (at `path`, when the fact's path is ~USER/...).

    In a directory a user owns, that user writes the file and so owns it (see remote.py).
    """
    if fact.actor != "root":
        owner = fact.actor
    if not fact.exists:
        reason = "new"
    elif fact.content != content:
        reason = "changed"
    elif fact.mode != mode or fact.owner != owner:
        reason = "mode"
    else:
        return None
    return Write(path or fact.path, content, mode, owner, secret, reason, fact, fact.actor)


def wireguard_actions(mesh: Mesh, host: Host, facts: Facts, conf_written: bool) -> list[Action]:
    iface = mesh.interface
    if not facts.iface_exists:
        if facts.systemd:
            return [Action(f"start wg-quick@{iface}", sh("systemctl enable --now {}", f"wg-quick@{iface}"))]
        return [Action(f"wg-quick up {iface}", sh("{} run_logged wg-quick up {}", _WG_ENV, iface))]
    actions = []
    if conf_written:
        # syncconf changes peers in place: existing sessions and tunnelled connections survive.
        actions.append(Action(f"wg syncconf {iface}",
                              sh('wg-quick strip {} > "$work/stripped" && wg syncconf {} "$work/stripped"', iface, iface)))
    want = wireguard.interface_address(mesh, host)
    if facts.iface_addrs != (want,):
        stale = [sh("ip -4 addr del {} dev {}; ", a, iface) for a in facts.iface_addrs if a != want]
        actions.append(
            Action(f"set address {want} on {iface}", Cmd(*stale, sh("ip -4 addr replace {} dev {}", want, iface)))
        )
    return actions


def wireguard_layer(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> tuple[list[Write], list[Action]]:
    path = wireguard.config_path(mesh)
    conf = wireguard.render(mesh, host, secrets).encode()
    write = write_if_needed(facts.files[path], conf, 0o600, "root", secret=True)
    actions = wireguard_actions(mesh, host, facts, conf_written=write is not None and write.reason != "mode")
    return ([write] if write else []), actions


def refuse_unsafe(host: Host, facts: Facts) -> None:
    """A link, a non-regular file or a directory others can change where meshbeam reads or writes."""
    for f in facts.files.values():
        if f.problem:
            raise PlanError(f"{host.name}: {f.path} {f.problem}: meshbeam touches only regular files "
                            "in directories one user controls")


def with_backups(writes: list[Write], facts: Facts) -> list[Write]:
    """Each replaced file's first backup goes first: it is renamed into place before the file is."""
    backups = []
    for w in writes:
        key = w.old.path if w.old else w.path
        b = backup_path(key)
        if w.reason in ("new", "changed") and b in facts.files and not facts.files[b].exists:
            backups.append(Write(b, backup_record(w.old or FileFact(key, False)), 0o600, "root", True, "backup",
                                 facts.files[b]))
    return backups + writes


def build(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> HostPlan:
    wanted = query(mesh, host).tools
    missing = [t for t in wanted if t not in facts.tools]
    if missing:
        package = "tinc" if mesh.backend == "tinc" else "wireguard-tools (and wireguard-go where the kernel has no WireGuard module)"
        raise PlanError(
            f"{', '.join(missing)} not found on the host: install {package}"
            + (", nftables and erlang-base" if host.vm_args else "")
        )
    refuse_unsafe(host, facts)
    removes: list[str] = []
    if mesh.backend == "tinc":
        from . import tincplan

        writes, removes, actions = tincplan.layer(mesh, host, secrets, facts)
    else:
        writes, actions = wireguard_layer(mesh, host, secrets, facts)
    notes: list[str] = []
    beam_actions: list[Action] = []
    if host.vm_args:
        from . import beamplan

        beam_writes, beam_actions, beam_notes = beamplan.layer(mesh, host, secrets.cookie(), facts)
        writes += beam_writes
        notes += beam_notes
    from . import systemdplan

    unit_writes, unit_removes, unit_actions = systemdplan.layer(mesh, host, facts, {w.path for w in writes})
    writes, removes = writes + unit_writes, removes + unit_removes
    # The units first: after daemon-reload the mesh's unit starts with its drop-in, and the firewall is loaded
    # before the mesh comes up.
    actions = unit_actions + actions + beam_actions
    if not facts.systemd:
        notes.insert(0, no_systemd_note(mesh, host))
    return HostPlan(host.name, tuple(with_backups(writes, facts)), tuple(actions), tuple(notes), tuple(removes))


def no_systemd_note(mesh: Mesh, host: Host) -> str:
    lost = f"the {mesh.interface} interface" + (
        " and the firewall table that keeps 4369 and the distribution port off the underlay" if host.vm_args else "")
    return (f"this host does not run systemd: after a reboot nothing meshbeam set up here comes back by itself "
            f"({lost}); run `meshbeam up` again after every boot")


# Secrets in any file meshbeam shows a diff of, matched without regard to case (wg reads its keys
# so): WireGuard keys, cookies on Erlang and release command lines, PEM private key blocks.
_SECRETS = (
    (re.compile(r"^(\s*(?:private|preshared)key\s*=\s*).*$", re.I | re.M), r"\1(secret)"),
    (re.compile(r"((?:^|\s)-{1,2}(?:set)?cookie\s+)(\"[^\"\n]*\"|'[^'\n]*'|\S+)", re.I | re.M), r"\1(secret)"),
    (re.compile(r"(release_cookie\s*=\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s;]*)", re.I), r"\1(secret)"),
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.I | re.S),
     "(secret PEM private key)"),
)


def mask(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _has_secret(text: str) -> bool:
    return any(p.search(text) for p, _ in _SECRETS)


def diff(write: Write) -> str:
    """A unified diff of one planned write, with every secret masked."""
    old = write.old or FileFact(write.path, False)
    if write.reason == "mode":
        return f"mode {old.mode:04o} {old.owner} -> {write.mode:04o} {write.owner}\n" if old.mode else ""
    before = (old.content or b"").decode(errors="replace") if old.exists else ""
    after = write.content.decode(errors="replace")
    if write.path.startswith(BACKUP_DIR + "/"):
        return "(the file as it was before meshbeam, kept for `down`; contents not shown)\n"
    if write.secret and not _has_secret(after):
        return f"(secret file, {len(write.content)} bytes; contents not shown)\n"
    lines = difflib.unified_diff(
        mask(before).splitlines(keepends=True),
        mask(after).splitlines(keepends=True),
        fromfile=write.path if old.exists else "/dev/null",
        tofile=write.path,
    )
    return "".join(l if l.endswith("\n") else l + "\n" for l in lines)


def restore(host: Host, facts: Facts, key: str, path: str | None = None) -> tuple[list[Write], list[str]] | None:
    """Put back what a backup says `key` held before meshbeam; None when there is no backup."""
    was = original(facts, key)
    if was is None:
        return None
    now = facts.files[key]
    if not was.exists:
        return [], ([path or key] if now.exists else [])
    w = write_if_needed(now, was.content or b"", was.mode or 0o600, was.owner or "root", secret=True, path=path)
    return ([w] if w else []), []


def teardown(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> HostPlan:
    """`meshbeam down`: undo everything `up` did, leaving the host as it was before meshbeam."""
    from . import systemdplan

    refuse_unsafe(host, facts)
    iface = mesh.interface
    # On systemd hosts the drop-ins go first (see systemdplan), the mesh unit is disabled as it stops.
    removes, actions, after = systemdplan.teardown(mesh, host, facts)
    writes: list[Write] = []
    enabled = facts.systemd and "mesh-enabled" in facts.flags
    if mesh.backend == "tinc":
        from . import tincplan

        if "tincd" in facts.flags or enabled:
            stop = (sh("systemctl disable --quiet --now {}", f"tinc@{iface}") if facts.systemd
                    else sh("tincd -n {} -k", iface))
            actions.append(Action(f"stop tincd -n {iface}", stop))
        b = tincplan.base(mesh)
        mine = [p for p in facts.files if p.startswith(b + "/")]
        if any((original(facts, p) or FileFact(p, False)).exists for p in mine):
            for p in mine:  # the host had tinc files of its own there: put them back one by one
                w, r = restore(host, facts, p) or ([], [])
                writes, removes = writes + w, removes + r
        elif any(facts.files[p].exists for p in mine):
            actions.append(Action(f"remove {b}", sh("rm -rf -- {}", b)))
    else:
        if facts.iface_exists or enabled:
            # On systemd, an interface brought up by hand outlives its unit's stop: wg-quick takes it down.
            stop = (sh("systemctl disable --quiet --now {}; if ip link show dev {} >/dev/null 2>&1; "
                       "then {} run_logged wg-quick down {}; fi", f"wg-quick@{iface}", iface, _WG_ENV, iface)
                    if facts.systemd else sh("{} run_logged wg-quick down {}", _WG_ENV, iface))
            actions.append(Action(f"take {iface} down", stop))
        conf = wireguard.config_path(mesh)
        was = original(facts, conf)
        if was is not None and was.exists:  # the host's own file comes back (written before the stop)
            writes += (restore(host, facts, conf) or ([], []))[0]
        elif facts.files[conf].exists:  # after the stop, which reads it
            actions.append(Action(f"remove {conf}", sh("rm -f -- {}", conf)))
    if host.vm_args:
        from . import beamplan

        w, r, a = beamplan.teardown(host, secrets.cookie(), facts)
        writes, removes, actions = writes + w, removes + r, actions + a
    actions += after
    kept = [p for p in facts.files if p.startswith(BACKUP_DIR + "/") and facts.files[p].exists]
    if kept:  # after the restores, which are written from the facts, not from these files
        actions.append(Action(f"remove {BACKUP_DIR}", sh("rm -rf -- {}; rmdir -- /etc/meshbeam 2>/dev/null || :",
                                                          BACKUP_DIR)))
    return HostPlan(host.name, tuple(writes), tuple(actions), (), tuple(removes))
