"""`meshbeam sandbox ...`: real hosts on this machine for the demo and the tests (Linux, root)."""

# No `from __future__ import annotations`: typer reads the option annotations (see cli.py).
from typing import Annotated

import typer

from .cli_common import handles_errors, out

sandbox_app = typer.Typer(help="A local sandbox of real hosts (network namespaces; Linux, root).", no_args_is_help=True)
PrefixOpt = Annotated[str, typer.Option(help="Name prefix of the sandbox's namespaces and links.")]


@sandbox_app.command("up")
@handles_errors
def sandbox_up(
    n: Annotated[int, typer.Argument(min=1, max=50, help="Number of servers.")] = 3,
    laptop: Annotated[bool, typer.Option(help="Add a roaming laptop behind a NAT router.")] = False,
    systemd: Annotated[
        bool, typer.Option(help="Servers boot the machine's systemd as PID 1 (ssh.service, epmd.socket...).")
    ] = False,
    prefix: PrefixOpt = "mbx",
) -> None:
    """Start N servers (each its own network, mount and UTS namespace with sshd) on 198.51.100.0/24."""
    from . import sandbox

    box = sandbox.up(n, laptop=laptop, prefix=prefix, systemd=systemd)
    out.print(f"sandbox {box.prefix}: {len(box.servers)} {'systemd ' if systemd else ''}servers"
              + (", laptop behind NAT" if box.laptop else ""))
    out.print(f"  export MESHBEAM_SSH_CONFIG={box.ssh_config}")
    out.print("  meshbeam init --cidr 198.18.0.0/24")
    for h in box.servers:
        out.print(f"  meshbeam add-host {h.name} root@{h.address}")
    if box.laptop:
        out.print(f"  (the laptop is at {box.laptop.address}; enter it with: nsenter -t {box.laptop.holder_pid} -n -m -u)")


@sandbox_app.command("down")
@handles_errors
def sandbox_down(prefix: PrefixOpt = "mbx") -> None:
    """Stop the sandbox's processes and remove its namespaces and links."""
    from . import sandbox

    sandbox.down(prefix=prefix, purge=True)
    out.print(f"sandbox {prefix} removed")


@sandbox_app.command("reboot")
@handles_errors
def sandbox_reboot(
    name: Annotated[str, typer.Argument(help="The host, e.g. s1.")],
    prefix: PrefixOpt = "mbx",
) -> None:
    """Reboot one host from its own disk: fresh /run and network state (a systemd host runs its shutdown)."""
    from . import sandbox

    sandbox.reboot(sandbox.load(prefix=prefix), name)
    out.print(f"sandbox host {name} rebooted")


@sandbox_app.command("demo")
@handles_errors
def sandbox_demo() -> None:
    """Sandbox with 3 servers and a laptop; init, add-host, add-peer, up; show it working; tear down."""
    from .demo import run_demo

    if not run_demo(lambda line: out.print(line, markup=False)):
        raise typer.Exit(1)
