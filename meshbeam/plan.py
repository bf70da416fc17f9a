"""Desired state + facts read from a host -> the changes to make (pure: no SSH here).

Like pyinfra, facts are gathered first (one round trip, see remote.py), then the layers decide
what to write and which actions to run: the mesh backend's (wgplan or tincplan, from BACKENDS),
the BEAM node's (beamplan, with firewallplan and identityplan) and systemd's (systemdplan). When
the host already matches, the plan is empty and nothing is written or run.
"""

from __future__ import annotations

import difflib
import re
from types import ModuleType
from typing import Protocol

from . import backends, beamplan, distmod, identityplan, systemdplan, wireguard
from .command import sh
from .errors import PlanError
from .inventory import Host, Mesh
from .plantypes import (BACKUP_DIR, IFACE, OWN_DIR, SYSTEMD, Action, Facts, FileFact, HostPlan, Query, Write,
                        backup_path, backup_record)

# Each backend's layer has the same functions: query_parts(mesh), layer(mesh, host, secrets, facts),
# teardown(mesh, host, facts), peer_files and render_files; and names the PACKAGE that brings its TOOLS.
BACKENDS: dict[str, ModuleType] = {name: backends.layer(name) for name in backends.BACKENDS}


class Secrets(wireguard.Secrets, Protocol):
    def private_key(self, name: str) -> str: ...

    def cookie(self) -> str: ...


def query(mesh: Mesh, host: Host) -> Query:
    paths, tools, flags, listdirs = BACKENDS[mesh.backend].query_parts(mesh)
    flags = (SYSTEMD, IFACE) + flags
    users: tuple[str, ...] = ()
    erl_erts = False
    if host.vm_args:  # the BEAM layer only for hosts that run a node
        paths += beamplan.query_paths(host)
        tools += beamplan.TOOLS
        users = (host.run_user,)
        flags += beamplan.probes(mesh, host)
        listdirs += identityplan.listdirs(mesh, host)
        erl_erts = identityplan.on(mesh)
    # The user's files get a backup before their first change; meshbeam's own files in its own directory need
    # none (down removes them).
    paths += tuple(backup_path(p) for p in paths if not p.endswith(".meshbeam-orig") and not p.startswith(OWN_DIR))
    # unit files are meshbeam's own too: no backup of them
    unit_paths, unit_flags = systemdplan.query_parts(mesh, host)
    probes = tuple(f.probe(mesh, host) for f in flags + unit_flags)
    return Query(mesh.interface, paths + unit_paths, tools, users, probes, listdirs, erl_erts)


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


def build(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts, dist: distmod.Build | None = None) -> HostPlan:
    """`up`'s plan for the host; `dist` is meshbeam_dist as compiled on the operator's machine, when it was."""
    wanted = query(mesh, host).tools
    missing = [t for t in wanted if t not in facts.tools]
    backend = BACKENDS[mesh.backend]
    if missing:
        raise PlanError(
            f"{', '.join(missing)} not found on the host: install {backend.PACKAGE}"
            + (", nftables and erlang-base" if host.vm_args else "")
        )
    refuse_unsafe(host, facts)
    writes, removes, actions = backend.layer(mesh, host, secrets, facts)
    notes: list[str] = []
    beam_actions: list[Action] = []
    if host.vm_args:
        beam_writes, beam_actions, beam_notes = beamplan.layer(mesh, host, secrets.cookie(), facts, dist)
        writes += beam_writes
        notes += beam_notes
    unit_writes, unit_removes, unit_actions = systemdplan.layer(mesh, host, facts, {w.path for w in writes})
    writes, removes = writes + unit_writes, removes + unit_removes
    # The units first: after daemon-reload the mesh's unit starts with its drop-in, and the firewall is loaded
    # before the mesh comes up.
    actions = unit_actions + actions + beam_actions
    if not facts.has(SYSTEMD):
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


def teardown(mesh: Mesh, host: Host, secrets: Secrets, facts: Facts) -> HostPlan:
    """`meshbeam down`: undo everything `up` did, leaving the host as it was before meshbeam."""
    refuse_unsafe(host, facts)
    # On systemd hosts the drop-ins go first (see systemdplan), the mesh unit is disabled as it stops.
    removes, actions, after = systemdplan.teardown(mesh, host, facts)
    writes, r, a = BACKENDS[mesh.backend].teardown(mesh, host, facts)
    removes, actions = removes + r, actions + a
    if host.vm_args:
        w, r, a = beamplan.teardown(host, secrets.cookie(), facts)
        writes, removes, actions = writes + w, removes + r, actions + a
    actions += after
    kept = [p for p in facts.files if p.startswith(BACKUP_DIR + "/") and facts.files[p].exists]
    if kept:  # after the restores, which are written from the facts, not from these files
        actions.append(Action(f"remove {BACKUP_DIR}", sh("rm -rf -- {}; rmdir -- /etc/meshbeam 2>/dev/null || :",
                                                          BACKUP_DIR)))
    return HostPlan(host.name, tuple(writes), tuple(actions), (), tuple(removes))
