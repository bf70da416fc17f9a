"""The command line: parse, confirm, print. Errors map to exit codes: input 2, run 1, bug 3 (cli_common).

Commands on secrets are cli_keys', on local files cli_files', the sandbox's cli_sandbox'; tables and
progress displays are views'.
"""

# No `from __future__ import annotations` here: typer reads every command's annotations at each
# start, and as strings it would have to eval each one again (most of its own start-up cost).
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import backends, inventory, meshfile, ops
from .cli_common import (DEFAULT_DIR, DirOpt, OnlyOpt, ParallelOpt, SSHConfigOpt, add_hosts, handles_errors,
                         new_passphrase, only_command, open_store, out, parse_only, print_notes, run_options)
from .cli_files import files_app
from .cli_keys import keys_app
from .cli_sandbox import sandbox_app
from .errors import InputError
from .inventory import Host, Mesh

# Modules that only some commands need (rich's markup and tables, Fabric, crypto, the planners)
# are imported inside those commands: every import here is paid by each `add-host`.

app = typer.Typer(
    help="A private WireGuard mesh for Erlang/Elixir clusters, with distribution bound to it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help formatter imports markdown-it and pygments
)
@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an internal error.")] = False,
) -> None:
    """A private WireGuard mesh for Erlang/Elixir clusters, with distribution bound to it."""
    run_options["debug"] = debug


@app.command()
@handles_errors
def init(
    dir: DirOpt = DEFAULT_DIR,
    cidr: Annotated[str, typer.Option(help="Mesh address range.")] = inventory.DEFAULT_CIDR,
    backend: Annotated[str, typer.Option(help="Mesh backend: wireguard or tinc (1.0).")] = "wireguard",
    interface: Annotated[str, typer.Option(help="Mesh interface name on every member.")] = "mb0",
    port: Annotated[str, typer.Option(help="UDP port servers listen on.")] = "51820",
    dist_port: Annotated[str, typer.Option(help="Erlang distribution port (listen min = max).")] = "9100",
    mtu: Annotated[str, typer.Option(help="MTU of the servers' WireGuard interfaces (1280-9000).")] = "1420",
    epmd: Annotated[str, typer.Option(help="'mesh': EPMD bound to the mesh address; 'none': no EPMD.")] = "mesh",
    identity: Annotated[
        str, typer.Option(help="'key': a node name is bound to its member's key (meshbeam_dist); "
                          "'none': plain inet_tcp_dist with net_kernel:allow.")
    ] = "key",
    force: Annotated[bool, typer.Option(help="Replace an existing inventory (its keys are destroyed).")] = False,
    sealed: Annotated[
        bool, typer.Option(help="Encrypt the secrets into DIR/keys.sealed (passphrase: prompt or MESHBEAM_PASSPHRASE).")
    ] = False,
) -> None:
    """Create an inventory: DIR/mesh.yaml for the members, DIR/keys/ for secrets."""
    mesh = Mesh(
        backend=backend,
        cidr=inventory.parse_cidr(cidr),
        interface=interface,
        port=inventory.parse_port(port, "port"),  # digits only: int() would take '+51_820'
        dist_port=inventory.parse_port(dist_port, "dist_port"),
        mtu=inventory.parse_mtu(mtu),
        epmd=epmd,
        identity=identity,
    )
    seal_with = None
    if sealed:
        from .keyfiles import SEALED_FILE

        # Fail on bad options before the passphrase is typed twice, and before anything is written.
        inventory.validate(mesh)
        if inventory.exists(dir) and not force:
            raise InputError(f"an inventory already exists at {dir}; `meshbeam seal` seals it, --force replaces it")
        seal_with = new_passphrase(dir / SEALED_FILE)
    ops.init(open_store(dir, seal_with), mesh, force=force)
    out.print(f"created {inventory.mesh_path(dir)} ({backend}, {mesh.cidr}, interface {interface}, port {port})")
    out.print("next: meshbeam add-host NAME [USER@]ADDRESS")


@app.command("add-host")
@handles_errors
def add_host(
    name: Annotated[str | None, typer.Argument(help="Member name.", show_default=False)] = None,
    ssh: Annotated[
        str | None,
        typer.Argument(metavar="[USER@]ADDRESS[:SSHPORT]", help="How to reach it over SSH.", show_default=False),
    ] = None,
    dir: DirOpt = DEFAULT_DIR,
    endpoint: Annotated[
        str | None, typer.Option(metavar="HOST[:PORT]", help="Where other members dial it (default: the SSH address).")
    ] = None,
    vm_args: Annotated[str | None, typer.Option(help="Path of the node's vm.args on the host.")] = None,
    node_name: Annotated[str, typer.Option(help="Erlang node base name (before the @).")] = "app",
    run_user: Annotated[str, typer.Option(help="OS user that runs the Erlang node (owns the cookie).")] = "root",
    mix_release: Annotated[
        bool, typer.Option(help="--vm-args is RELEASE/releases/VSN/vm.args of a mix release (env.sh, releases/COOKIE).")
    ] = False,
    service: Annotated[
        str | None, typer.Option(metavar="NAME.service", help="The systemd unit that runs the node: it is started "
                                 "after the mesh and meshbeam's firewall.")
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from", metavar="FILE", help="Add every host of a CSV (header row) or YAML list, all or none; "
                     f"fields: {', '.join(ops.SPEC_FIELDS)}."),
    ] = None,
) -> None:
    """Add a server managed over SSH; it gets the lowest free mesh address and a new keypair.

    With --from FILE, add every host the file lists in one change: each row is checked first,
    and one bad row (named with its field) adds none.
    """
    if from_file is not None:
        if name or ssh or endpoint or vm_args or node_name != "app" or run_user != "root" or mix_release or service:
            raise InputError("--from FILE takes every field from the file: give no NAME, ADDRESS or host options")
        from .importer import read_hosts

        add_hosts(dir, read_hosts(from_file), str(from_file))
        return
    if not name or not ssh:
        raise InputError("give NAME and [USER@]ADDRESS[:SSHPORT], or --from FILE")
    spec = ops.HostSpec(name=name, ssh=ssh, endpoint=endpoint, vm_args=vm_args, node_name=node_name,
                        run_user=run_user, mix_release=mix_release, service=service)
    added = ops.add_host(open_store(dir), spec)
    host = added.members[0]
    assert isinstance(host, Host)
    out.print(f"added host {host.name}: mesh {host.address}, endpoint {host.endpoint}, ssh {host.ssh}")
    print_notes(added.notes)
    out.print("run `meshbeam up` to apply")


@app.command("add-peer")
@handles_errors
def add_peer(
    name: Annotated[str, typer.Argument(help="Member name, e.g. laptop.")],
    dir: DirOpt = DEFAULT_DIR,
    out_file: Annotated[Path | None, typer.Option("--out", help="Where to write its wg-quick config.")] = None,
) -> None:
    """Add a roaming peer (a laptop behind NAT) and write its wg-quick config."""
    store = open_store(dir)
    mesh, peer, path, notes = ops.add_peer(store, name, out_file)
    from .vmargs import join_commands

    out.print(f"added peer {peer.name}: mesh {peer.address}")
    print_notes(notes)
    if backends.of(mesh.backend).peer_bundle_dir:  # tinc: a directory for /etc/tinc/NET/
        out.print(f"wrote {path}/ (rsa_key.priv 0600); copy it to {peer.name} as /etc/tinc/{mesh.interface}/, then as root:")
        out.print(f"  tincd -n {mesh.interface}")
    else:
        out.print(f"wrote {path} (mode 0600); on {peer.name}, as root:")
        out.print(f"  install -m 600 {path.name} /etc/wireguard/{mesh.interface}.conf")
        out.print(f"  wg-quick up {mesh.interface}")
    out.print("the servers learn about it at the next `meshbeam up`; then join the cluster from it as a hidden node")
    out.print(f"(copy the cluster cookie, {store.dir / 'cookie'}, to {peer.name} as cookie first; "
              "`meshbeam unseal` shows it if the inventory is sealed):")
    for line in join_commands(mesh, peer.node, "cookie"):
        out.print(f"  {line}")
    if mesh.identity == "key":
        out.print(f"the servers accept it only as {peer.node}: its name is bound to its mesh key. Joining as above "
                  "needs nothing more; for it to accept connections too, `meshbeam export dist-module` prints the "
                  "module to compile there and start it with -proto_dist meshbeam -pa DIR", markup=False)


def _remove(dir: Path, name: str, kind: type) -> None:
    mesh, notes = ops.remove(open_store(dir), name, kind)
    out.print(f"removed {name}; its keys are destroyed. Run `meshbeam up` so that the other hosts forget it")
    if kind is Host:  # meshbeam no longer reaches it, so it keeps what `up` put there
        out.print(f"{name} itself still has meshbeam's interface, files and firewall table, as meshbeam no longer "
                  f"reaches it; `meshbeam down --only {name}` before `remove-host` cleans a host")
    print_notes(notes)
    if not mesh.members:
        out.print("the mesh has no members left")


@app.command("remove-host")
@handles_errors
def remove_host(name: str, dir: DirOpt = DEFAULT_DIR) -> None:
    """Remove a server from the inventory (hosts forget it at the next `up`).

    The server itself is no longer reached: run `meshbeam down --only NAME` first to clean it.
    """
    _remove(dir, name, Host)


@app.command("remove-peer")
@handles_errors
def remove_peer(name: str, dir: DirOpt = DEFAULT_DIR) -> None:
    """Remove a roaming peer from the inventory (hosts forget it at the next `up`)."""
    _remove(dir, name, inventory.Peer)


@app.command("list")
@handles_errors
def list_members(dir: DirOpt = DEFAULT_DIR) -> None:
    """List members, their mesh addresses and endpoints."""
    mesh = meshfile.load(dir)
    rows = [("name", "kind", "mesh address", "endpoint", "ssh", "node")]
    rows += [(h.name, "host", h.address, h.endpoint, h.ssh, h.node) for h in mesh.hosts]
    rows += [(p.name, "peer", p.address, "(roaming)", "-", p.node) for p in mesh.peers]
    # Plain aligned columns, never truncated to the terminal: `list | grep`/`awk` see whole
    # values, and a thousand rows print at once (a rich table spends far longer laying them out).
    widths = [max(map(len, column)) for column in zip(*rows)]
    typer.echo(f"{mesh.backend} mesh {mesh.cidr} on {mesh.interface}, port {mesh.port}")
    typer.echo("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows))


@app.command()
@handles_errors
def up(
    dir: DirOpt = DEFAULT_DIR,
    dry_run: Annotated[bool, typer.Option(help="Connect and show the plan with diffs; change nothing.")] = False,
    only: OnlyOpt = None,
    parallel: ParallelOpt = 10,
    ssh_config: SSHConfigOpt = None,
) -> None:
    """Converge every server: show the plan, apply it in parallel, print a result table."""
    _converge(dir, only, parallel, ssh_config, dry_run, teardown=False)


@app.command()
@handles_errors
def down(
    dir: DirOpt = DEFAULT_DIR,
    dry_run: Annotated[bool, typer.Option(help="Connect and show what would be removed; change nothing.")] = False,
    only: OnlyOpt = None,
    parallel: ParallelOpt = 10,
    ssh_config: SSHConfigOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove meshbeam from hosts: interface, configs, firewall table, vm.args block, cookie."""
    if not dry_run and not yes:
        typer.confirm("take the mesh down on the selected hosts?", abort=True)
    _converge(dir, only, parallel, ssh_config, dry_run, teardown=True)


def _converge(dir: Path, only: str | None, parallel: int, ssh_config: Path | None, dry_run: bool, teardown: bool) -> None:
    from . import converge, remote, views

    mesh = meshfile.load(dir)
    hosts = parse_only(mesh, only)
    if not hosts:
        raise InputError("the inventory has no hosts: add one with `meshbeam add-host`")
    if ssh_config is not None and not ssh_config.is_file():
        raise InputError(f"SSH config {ssh_config} does not exist")
    runs, refreshed = converge.run(open_store(dir), mesh, hosts, remote.SSHOptions(ssh_config), parallel,
                                   dry_run=dry_run, teardown=teardown, watch=views.with_progress,
                                   planned=lambda runs: views.print_plans(runs, show_diff=dry_run))
    views.print_results(runs, dry_run)
    for path in refreshed:
        out.print(f"updated {path}: the server list changed; copy it to that peer again")
    if any(r.error for r in runs):
        raise typer.Exit(1)


@app.command()
@handles_errors
def status(
    dir: DirOpt = DEFAULT_DIR,
    json_out: Annotated[bool, typer.Option("--json", help="Stable JSON for scripts.")] = False,
    only: OnlyOpt = None,
    parallel: ParallelOpt = 10,
    ssh_config: SSHConfigOpt = None,
) -> None:
    """Health of every host and every pair: tunnel, handshakes, pings, listeners, Erlang links."""
    import json

    from . import converge, remote, views
    from . import status as st

    mesh = meshfile.load(dir)
    statuses = converge.collect_status(mesh, parse_only(mesh, only), remote.SSHOptions(ssh_config), parallel)
    if json_out:
        typer.echo(json.dumps(st.to_json(statuses), sort_keys=True, indent=2))
    else:
        views.print_status(mesh, statuses)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


# After the commands above, in this order in `meshbeam --help`.
app.add_typer(keys_app)
app.add_typer(files_app)
app.add_typer(sandbox_app, name="sandbox")


def main() -> None:
    only_command(app, sys.argv[1] if len(sys.argv) > 1 else "")(prog_name="meshbeam")
