"""How the CLI shows plans, results and status: rich tables and a progress display, loaded only here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cli_common import debugging, err, out
from .inventory import Host, Mesh


def with_progress(hosts: list[Host], work: Callable[[Callable[[str, str], None]], Any]) -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.fields[host]:<16} {task.description}"), TimeElapsedColumn(),
        console=err.rich, transient=True, disable=not err.is_terminal,
    ) as progress:
        tasks = {h.name: progress.add_task("waiting", host=h.name) for h in hosts}
        return work(lambda host, stage: progress.update(tasks[host], description=stage))


def print_plans(runs: list[Any], show_diff: bool) -> None:
    from rich.markup import escape

    from . import plan as planning

    for r in runs:
        if r.error:
            out.print(f"[bold]{r.host.name}[/bold]: [red]cannot plan[/red]: {escape(r.error)}")
        elif r.plan.empty:
            out.print(f"[bold]{r.host.name}[/bold]: no changes")
        else:
            out.print(f"[bold]{r.host.name}[/bold]:")
            for w in r.plan.writes:
                out.print(f"  write {w.path} ({w.reason}, mode {w.mode:04o})")
                if show_diff:
                    out.print(planning.diff(w), markup=False, end="")
            for path in r.plan.removes:
                out.print(f"  remove {path}")
            for a in r.plan.actions:
                out.print(f"  run   {a.label}")
        for note in (r.plan.notes if r.plan else ()):
            out.print(f"  note: {escape(note)}")


def print_results(runs: list[Any], dry_run: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="dry run: nothing was changed" if dry_run else "result")
    table.add_column("host")
    table.add_column("status")
    table.add_column("detail")
    colours = {"failed": "red", "converged": "green", "no changes": "cyan", "planned": "yellow"}
    for r in runs:
        detail = r.error or (
            f"{len(r.plan.writes) + len(r.plan.removes)} file(s), {len(r.plan.actions)} action(s)" if r.plan else ""
        )
        table.add_row(r.host.name, f"[{colours[r.status]}]{r.status}[/]", escape(detail))
    out.print(table)
    for r in runs:
        if r.trace and debugging():
            err.print(f"{r.host.name}: {r.trace}", markup=False)
    if all(r.status == "no changes" for r in runs):
        out.print("no changes")


def print_status(mesh: Mesh, statuses: list[Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{mesh.backend} mesh {mesh.cidr} on {mesh.interface}")
    for col in ("host", "ssh", "interface", "peers (handshake age, rx/tx)", "erlang links", "findings"):
        table.add_column(col)
    for s in statuses:
        peers = ", ".join(
            f"{p.name} {'never' if p.handshake_age is None else f'{p.handshake_age}s'} {p.rx}/{p.tx}" for p in s.peers
        )
        table.add_row(
            s.name,
            "[green]ok[/]" if s.ssh else f"[red]{escape(s.error or '')}[/]",
            ("[green]up[/]" if s.iface_up else "[red]down[/]") if s.ssh else "-",
            peers or "-",
            " ".join(s.connected_nodes) or "-",
            "; ".join(s.findings) or "-",
        )
    out.print(table)
    names = [h.name for h in mesh.hosts]
    matrix = Table(title="mesh ping matrix (row reaches column)")
    matrix.add_column("from \\ to")
    for n in names:
        matrix.add_column(n)
    for s in statuses:
        cells = {p.dst: ("[green]ok[/]" if p.ok else f"[red]{p.label}[/]") for p in s.pairs}
        matrix.add_row(s.name, *(cells.get(n, "-") for n in names))
    out.print(matrix)
    for s in statuses:
        if s.dist:
            out.print(f"{s.name}: distribution {s.dist}_dist", markup=False)
        for r in s.refused:
            out.print(f"{s.name}: refused {r.count}x a connection claiming {r.claimed} from {r.source}", markup=False)
    out.print("the mesh is whole" if all(s.healthy for s in statuses) else "[red]the mesh is NOT whole[/]")
