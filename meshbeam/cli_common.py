"""What every command of the CLI shares: the consoles, the common options, the error handling, and
the inventory's secrets opened once per command (with the passphrase of a sealed one)."""

# No `from __future__ import annotations`: typer reads the option annotations (see cli.py).
import copy
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from . import ops
from .console import Console
from .errors import BUG_EXIT, InputError, MeshbeamError
from .inventory import Host, Mesh
from .keys import KeyStore

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


PASSPHRASE_ENV = "MESHBEAM_PASSPHRASE"


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def ask_passphrase(path: Path) -> str:
    """The passphrase of an existing sealed file: the environment, else typed on a terminal. The
    command's one KeyStore calls this at most once."""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not stdin_is_terminal():
        raise InputError(f"{path} is sealed: set {PASSPHRASE_ENV} or run in a terminal to type the passphrase")
    import getpass

    return getpass.getpass(f"passphrase for {path}: ")


def new_passphrase(path: Path) -> str:
    """A passphrase to seal with: the environment, else typed twice on a terminal."""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not stdin_is_terminal():
        raise InputError(f"sealing {path} needs a passphrase: set {PASSPHRASE_ENV} or run in a terminal")
    import getpass

    first = getpass.getpass(f"new passphrase for {path}: ")
    if not first:
        raise InputError("an empty passphrase seals nothing; nothing was written")
    if getpass.getpass("the same passphrase again: ") != first:
        raise InputError("the two passphrases differ; nothing was written")
    return first


def open_store(dir: Path, seal_with: str | None = None) -> KeyStore:
    """The command's KeyStore, passed down to everything that reads or writes a secret. Opening it
    reads nothing; a sealed inventory asks for its passphrase when a secret is first needed."""
    return KeyStore(dir, passphrase=ask_passphrase, seal_with=seal_with)


def add_hosts(dir: Path, specs: list[ops.HostSpec], source: str) -> None:
    """add-host --from and import ansible: every host in one change, and what happened."""
    added = ops.add_hosts(open_store(dir), specs)
    out.print(f"added {len(added.members)} hosts from {source}", markup=False)
    if added.members:
        first, last = added.members[0], added.members[-1]
        out.print(f"mesh addresses {first.address} to {last.address}; `meshbeam list` shows them all")
    print_notes(added.notes)
    out.print("run `meshbeam up` to apply")


def only_command(app: typer.Typer, word: str) -> typer.Typer:
    """`app`, or when `word` names one of its own commands, `app` with only that command: typer
    builds every command's parser at each start, and one command needs only its own."""
    for info in app.registered_commands:
        if info.callback is not None and (info.name or info.callback.__name__) == word:
            one = copy.copy(app)
            one.registered_commands, one.registered_groups = [info], []
            return one
    return app
