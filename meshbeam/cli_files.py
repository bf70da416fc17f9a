"""Commands that work on files of this machine and touch no host: render, lint, export, import."""

# No `from __future__ import annotations`: typer reads the option annotations (see cli.py).
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import meshfile, ops
from .cli_common import DEFAULT_DIR, DirOpt, add_hosts, handles_errors, open_store, out

files_app = typer.Typer()


@files_app.command()
@handles_errors
def render(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the rendered files (OUT/NAME/...).")],
    dir: DirOpt = DEFAULT_DIR,
) -> None:
    """Write every member's configs locally (wg-quick, vm.args block, firewall); touch no host.

    OUT must be new, empty or an earlier render's: files there that the mesh no longer has
    (a removed member's) are deleted, so that OUT can be copied as it is.
    """
    written, removed = ops.render_to(open_store(dir), out_dir)
    out.print(f"wrote {written} files under {out_dir}" + (f", removed {removed} stale" if removed else ""))


@files_app.command()
@handles_errors
def lint(
    path: Annotated[Path, typer.Argument(help="A vm.args file.", exists=True, dir_okay=False)],
    bind_address: Annotated[
        str | None, typer.Option(help="The address distribution should bind to (checks -name).")
    ] = None,
) -> None:
    """Check a vm.args, and the files it pulls in with -args_file, for the traps that silently weaken
    distribution. Exit 1 with findings."""
    from . import vmargs_includes, vmargs_lint

    text = path.read_text()
    included = vmargs_includes.gather(text, _read_or_none)
    findings = vmargs_lint.lint(text, bind_address=bind_address, included=included)
    for f in findings:
        out.print(f"{path}:{f.line}: {f.code}: {f.message}", markup=False)
    if findings:
        raise typer.Exit(1)
    out.print(f"{path}: no findings")


def _read_or_none(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


export_app = typer.Typer(help="Print the cluster for other tools.", no_args_is_help=True)
files_app.add_typer(export_app, name="export")


@export_app.command("libcluster")
@handles_errors
def export_libcluster(dir: DirOpt = DEFAULT_DIR) -> None:
    """A Cluster.Strategy.Epmd topology with every node's full name (Elixir config)."""
    from . import libcluster

    out.print(libcluster.libcluster_topology(meshfile.load(dir).nodes()), markup=False)


@export_app.command("dist-module")
def export_dist_module() -> None:
    """The Erlang source of meshbeam_dist, for a peer that should accept connections too (`erlc` it there)."""
    from . import distmod

    sys.stdout.write(distmod.source().decode())


import_app = typer.Typer(help="Add hosts from another tool's inventory.", no_args_is_help=True)
files_app.add_typer(import_app, name="import")


@import_app.command("ansible")
@handles_errors
def import_ansible(
    source: Annotated[Path, typer.Argument(metavar="INVENTORY", help="An Ansible inventory file, INI or YAML.")],
    dir: DirOpt = DEFAULT_DIR,
) -> None:
    """Add every host of an Ansible inventory, all or none (ansible_host, ansible_user,
    ansible_port; host or group vars meshbeam_vm_args or vm_args, node_name)."""
    from .importer import read_ansible

    add_hosts(dir, read_ansible(source), str(source))
