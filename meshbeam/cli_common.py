"""What every command of the CLI shares: the consoles, the common options, the error handling."""

# No `from __future__ import annotations`: typer reads the option annotations (see cli.py).
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from . import ops
from .console import Console
from .errors import BUG_EXIT, MeshbeamError
from .inventory import Host, Mesh

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, emoji=False)  # ":smile:" in a hostile value stays text

DirOpt = Annotated[
    Path, typer.Option("--dir", envvar="MESHBEAM_DIR", help="Inventory directory.", show_default=True)
]
DEFAULT_DIR = Path("inventory")
F = TypeVar("F", bound=Callable[..., Any])


run_options = {"debug": False}  # the options given before the command (cli._global_options)


def debugging() -> bool:
    return run_options["debug"]


def handles_errors(fn: F) -> F:
    """Print a domain error on one line and exit with its status; a bug on one line too (exit 3), or
    with its traceback under --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MeshbeamError as e:
            from rich.markup import escape

            err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as e:
            if debugging():
                raise
            err.print(f"internal error (a bug in meshbeam), {type(e).__name__}: {e}; `meshbeam --debug ...` shows "
                      "where", markup=False, soft_wrap=True)
            raise typer.Exit(BUG_EXIT) from None

    return wrapper  # type: ignore[return-value]


def print_notes(notes: list[str]) -> None:
    for note in notes:
        out.print(f"note: {note}", markup=False)


def parse_only(mesh: Mesh, only: str | None) -> list[Host]:
    if not only:
        return list(mesh.hosts)
    return [mesh.host(n.strip()) for n in only.split(",") if n.strip()]


SSHConfigOpt = Annotated[
    Path | None, typer.Option(envvar="MESHBEAM_SSH_CONFIG", help="SSH config file (default ~/.ssh/config).")
]
OnlyOpt = Annotated[str | None, typer.Option(metavar="NAME,...", help="Only these hosts.")]
ParallelOpt = Annotated[int, typer.Option(min=1, max=256, help="Hosts worked on at once.")]


def add_hosts(dir: Path, specs: list[ops.HostSpec], source: str) -> None:
    """add-host --from and import ansible: every host in one change, and what happened."""
    added = ops.add_hosts(dir, specs)
    out.print(f"added {len(added.members)} hosts from {source}", markup=False)
    if added.members:
        first, last = added.members[0], added.members[-1]
        out.print(f"mesh addresses {first.address} to {last.address}; `meshbeam list` shows them all")
    print_notes(added.notes)
    out.print("run `meshbeam up` to apply")
