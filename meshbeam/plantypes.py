"""The data a plan is made of, and the helpers every layer uses to build one (pure).

Facts are what one round trip read from a host (probes.py's script, sent by remote.py); a layer (wgplan, tincplan,
beamplan, firewallplan, identityplan, systemdplan) turns facts into writes, removes and actions;
plan.py composes the layers into one HostPlan per host.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .command import Cmd, sh
from .errors import PlanError
from .inventory import Host, Mesh


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
class Flag:
    """A yes/no question to a host, declared beside the layer that asks it and read as `facts.has(FLAG)`.

    `test` is a POSIX sh condition, or builds one from the mesh and the host; the flag is set when it succeeds.
    """

    name: str
    test: Cmd | Callable[[Mesh, Host], Cmd]

    def probe(self, mesh: Mesh, host: Host) -> tuple[str, Cmd]:
        """What a Query sends: the flag's name and its condition for this host."""
        return self.name, self.test if isinstance(self.test, Cmd) else self.test(mesh, host)


# Asked of every host (plan.query).
SYSTEMD = Flag("systemd", sh("[ -d /run/systemd/system ]"))
IFACE = Flag("iface", lambda mesh, host: sh("ip link show dev {} >/dev/null 2>&1", mesh.interface))


@dataclass(frozen=True)
class Facts:
    """What one round trip told us about a host.

    `probed` holds the names of the probes the query asked: `has` refuses any other (a flag no query
    sends would always read as unset). None, the default for facts written by hand (tests, fixtures),
    counts every probe as asked.
    """

    tools: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()  # names of the probes that succeeded
    iface_addrs: tuple[str, ...] = ()
    homes: dict[str, str] = field(default_factory=dict)  # user -> home directory
    files: dict[str, FileFact] = field(default_factory=dict)  # keyed by the queried path
    listings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # directory -> entry names
    erl_erts: tuple[str, ...] = ()  # the ERTS versions installed beside the erl on the host's PATH
    probed: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.probed is not None and not self.flags <= self.probed:
            raise ValueError(f"flags {sorted(self.flags - self.probed)} were not probed")

    def has(self, flag: Flag) -> bool:
        """Whether the flag's probe succeeded on the host; a flag the query did not ask about is a bug."""
        if self.probed is not None and flag.name not in self.probed:
            raise LookupError(f"the query did not probe {flag.name!r}")
        return flag.name in self.flags


@dataclass(frozen=True)
class Query:
    """What to read from a host. Paths may start with ~USER/ (resolved on the host)."""

    interface: str
    paths: tuple[str, ...]
    tools: tuple[str, ...]
    users: tuple[str, ...] = ()
    probes: tuple[tuple[str, Cmd], ...] = ()  # Flag.probe's (name, sh condition): the flag is set when it succeeds
    listdirs: tuple[str, ...] = ()
    erl_erts: bool = False  # read the ERTS version of the erl on the host's PATH


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
