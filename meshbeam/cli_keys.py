"""`meshbeam rotate-keys`, `seal` and `unseal`: the inventory's secrets."""

# No `from __future__ import annotations`: typer reads the option annotations (see cli.py).
from typing import Annotated

import typer

from . import ops
from .cli_common import (DEFAULT_DIR, DirOpt, ask_passphrase, handles_errors, new_passphrase, open_store, out,
                         print_notes)
from .errors import InputError

keys_app = typer.Typer()


@keys_app.command("rotate-keys")
@handles_errors
def rotate_keys(
    names: Annotated[list[str] | None, typer.Argument(help="Members to rotate.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Rotate every member's keypair and the preshared keys.")] = False,
    psk: Annotated[bool, typer.Option("--psk", help="A new preshared-key secret: every pair's key changes.")] = False,
    cookie: Annotated[bool, typer.Option("--cookie", help="A new cluster cookie: every node restarts to use it.")] = False,
    dir: DirOpt = DEFAULT_DIR,
) -> None:
    """New keypairs, preshared keys or cookie; `meshbeam up` then rolls them out, tunnels recover by themselves."""
    if names and all_:
        raise InputError("name the members to rotate, or pass --all (not both)")
    if not (names or all_ or psk or cookie):
        raise InputError("name the members to rotate, or pass --all, --psk or --cookie")
    mesh, rewritten, notes = ops.rotate_keys(open_store(dir), None if all_ else (names or []), psk=psk or all_,
                                             cookie=cookie)
    done = [f"new keypairs for {'every member' if all_ else ', '.join(names or [])}"] if names or all_ else []
    if psk or all_:
        done.append("a new preshared key for every pair")
    if cookie:
        done.append("a new cluster cookie")
    out.print(f"{' and '.join(done)}; the old keys are destroyed. Run `meshbeam up` to roll them out")
    if cookie:
        out.print("a node reads the cookie when it boots: restart every node after `up` (a node on the old cookie "
                  "and one on the new cannot connect); roaming peers need the new keys/cookie too")
    print_notes(notes)
    for path in rewritten:
        out.print(f"rewrote {path}: copy it to that peer again, or it cannot reach the mesh")


@keys_app.command()
@handles_errors
def seal(dir: DirOpt = DEFAULT_DIR) -> None:
    """Encrypt DIR/keys/ into DIR/keys.sealed with a passphrase (prompt or MESHBEAM_PASSPHRASE)."""
    from .sealing import seal_inventory

    path = seal_inventory(dir, ask=ask_passphrase, ask_new=new_passphrase)
    out.print(f"sealed the secrets into {path}; {dir / 'keys'} is gone")
    if any((dir / "peers").glob("*")):
        out.print(f"note: {dir / 'peers'} still holds roaming peers' configs with their private keys in clear; "
                  "copy them to the peers, then delete them or keep them out of git")


@keys_app.command()
@handles_errors
def unseal(dir: DirOpt = DEFAULT_DIR) -> None:
    """Decrypt DIR/keys.sealed back into DIR/keys/ (0700, files 0600)."""
    from .sealing import unseal_inventory

    path = unseal_inventory(dir, ask=ask_passphrase)
    out.print(f"unsealed the secrets into {path}; {dir / 'keys.sealed'} is gone")
