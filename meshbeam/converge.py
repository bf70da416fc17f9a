"""`meshbeam up`, `down` and `status` across hosts: connect, read facts, plan, then apply, in a bounded pool.

Connections opened for the facts are reused for the apply: one SSH connection per host,
one round trip to read and one to write and act. The CLI hands in how progress is shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import beamplan, distbuild, distmod, identityplan, ops, remote, vmargs_includes
from . import status as st
from . import plan as planning
from .inventory import Host, Mesh
from .plantypes import Facts, HostPlan, Query
from .fsutil import locked
from .keys import KeyStore

if TYPE_CHECKING:
    from fabric import Connection

Progress = Callable[[str, str], None]  # (host name, stage) -> None
Watch = Callable[[list[Host], Callable[[Progress], Any]], Any]  # runs a step under a progress display


@dataclass(frozen=True)
class HostRun:
    host: Host
    conn: Connection | None = None
    plan: HostPlan | None = None
    error: str | None = None
    applied: bool = False
    trace: str | None = None  # a bug's traceback, shown with --debug

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        if self.plan is None or self.plan.empty:
            return "no changes"
        return "converged" if self.applied else "planned"


def prepare(
    mesh: Mesh,
    store: KeyStore,
    hosts: list[Host],
    options: remote.SSHOptions,
    parallel: int,
    progress: Progress,
    teardown: bool = False,
) -> list[HostRun]:
    """Connect, read facts and plan on every host: what `up` builds, or with `teardown` what `down` removes."""
    here = _CompiledHere()
    store.unlock()  # decrypt and check the keystore once, before the threads share the store

    def one(name: str, host: Host) -> HostRun:
        progress(name, "connecting")
        conn = remote.connect(host, options)
        try:
            progress(name, "reading facts")
            facts = remote.gather(conn, planning.query(mesh, host))
            if teardown:  # `down` takes the block out whatever the includes say
                p = planning.teardown(mesh, host, store, facts)
            else:
                facts = _with_included(conn, mesh, host, facts)
                dist = here.get() if identityplan.wants_build(mesh, host, facts) else None
                p = planning.build(mesh, host, store, facts, dist)
        except Exception:
            conn.close()
            raise
        progress(name, "planned")
        return HostRun(host, conn, p)

    outcomes = remote.for_each(((h.name, h) for h in hosts), one, parallel)
    return [
        o.value if isinstance(o.value, HostRun) else HostRun(h, error=_reason(o.error), trace=o.trace)
        for o, h in zip(outcomes, hosts)
    ]


class _CompiledHere:
    """meshbeam_dist compiled on this machine when the first host wants it (distbuild); the others wait for
    that one compile, and a run where every host has the module compiles nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._build: distmod.Build | None = None

    def get(self) -> distmod.Build:
        with self._lock:
            if self._build is None:
                self._build = distbuild.compile_here()
            return self._build


def _with_included(conn: Connection, mesh: Mesh, host: Host, facts: Facts) -> Facts:
    """Read the files vm.args pulls in with -args_file, a level per round trip (none when it has no
    -args_file line); a chain deeper than vmargs allows is reported by the plan."""
    for _ in range(vmargs_includes.MAX_INCLUDE_DEPTH):
        paths = beamplan.included_paths(host, facts)
        if not paths:
            break
        more = remote.gather(conn, Query(mesh.interface, paths, ()))
        facts = replace(facts, files={**facts.files, **more.files})
    return facts


def _reason(error: str | None) -> str:
    return error or "unknown error"


def apply(runs: list[HostRun], parallel: int, progress: Progress) -> list[HostRun]:
    by_name = {r.host.name: r for r in runs}

    def one(name: str, run: HostRun) -> HostRun:
        assert run.conn is not None and run.plan is not None
        progress(name, "applying")
        remote.apply(run.conn, run.plan)
        progress(name, "done")
        return replace(run, applied=True)

    todo = [(r.host.name, r) for r in runs if r.error is None and r.plan and not r.plan.empty]
    for o in remote.for_each(todo, one, parallel):
        by_name[o.host] = (o.value if isinstance(o.value, HostRun)
                           else replace(by_name[o.host], error=_reason(o.error), trace=o.trace))
    return [by_name[r.host.name] for r in runs]


def close(runs: list[HostRun]) -> None:
    for r in runs:
        if r.conn is not None:
            r.conn.close()


def run(store: KeyStore, mesh: Mesh, hosts: list[Host], options: remote.SSHOptions, parallel: int, *,
        dry_run: bool, teardown: bool, watch: Watch, planned: Callable[[list[HostRun]], None]
        ) -> tuple[list[HostRun], list[Path]]:
    """`up` (or `down` with `teardown`) on `hosts`, under the lock of the store's inventory: plan every
    host, hand the plans to `planned` (the CLI shows them), then apply unless `dry_run`. Returns the runs
    and the roaming peers' configs that `up` rewrote."""
    store.unlock()  # a sealed inventory asks for its passphrase before the progress display
    with locked(store.inventory):
        refreshed = [] if teardown else ops.refresh_peer_configs(store, mesh)
        runs = watch(hosts, lambda p: prepare(mesh, store, hosts, options, parallel, p, teardown))
        try:
            planned(runs)
            if not dry_run:
                runs = watch(hosts, lambda p: apply(runs, parallel, p))
        finally:
            close(runs)
    return runs, refreshed


def collect_status(mesh: Mesh, hosts: list[Host], options: remote.SSHOptions, parallel: int) -> list[st.HostStatus]:
    """`status`: the read-only probe on every host, in a bounded pool; an unreachable host is a status too."""

    def one(name: str, host: Host) -> st.HostStatus:
        conn = remote.connect(host, options)
        try:
            _, output, _ = remote.execute(conn, "sh -s", st.script(mesh, host).encode())
        finally:
            conn.close()
        return st.parse(mesh, host, output)

    outcomes = remote.for_each(((h.name, h) for h in hosts), one, parallel)
    return [o.value if isinstance(o.value, st.HostStatus) else st.HostStatus(o.host, False, o.error) for o in outcomes]
