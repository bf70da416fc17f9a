"""Inventory operations behind init / add-host / add-peer / remove-*: validate fully, then write.

Every function checks all of its input before the first write, so bad input leaves the
inventory directory byte-identical.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from . import inventory, wireguard
from .errors import InputError
from .fsutil import atomic_write, locked
from .inventory import Host, Mesh, Peer
from .keys import KeyStore, new_keypair


def peer_config_path(directory: Path, mesh: Mesh, name: str) -> Path:
    """A WireGuard peer gets one wg-quick file; a tinc peer a directory for /etc/tinc/NET/."""
    return directory / "peers" / (name if mesh.backend == "tinc" else f"{name}.conf")


def peer_files(directory: Path, mesh: Mesh, peer: Peer, target: Path) -> dict[Path, tuple[str, int]]:
    store = KeyStore(directory)
    if mesh.backend == "tinc":
        from . import tincplan

        return {target / rel: content for rel, content in tincplan.files(mesh, peer, store).items()}
    return {target: (wireguard.render(mesh, peer, store), 0o600)}


def write_peer_config(directory: Path, mesh: Mesh, peer: Peer, target: Path) -> None:
    _write_all(peer_files(directory, mesh, peer, target))


def _write_all(files: dict[Path, tuple[str, int]]) -> None:
    for path, (text, mode) in files.items():
        atomic_write(path, text, mode)


def refresh_peer_configs(directory: Path, mesh: Mesh) -> list[Path]:
    """Roaming peers' configs under DIR/peers follow the server list; rewrite stale ones."""
    changed = []
    for p in mesh.peers:
        target = peer_config_path(directory, mesh, p.name)
        files = peer_files(directory, mesh, p, target)
        if target.exists() and any(not f.exists() or f.read_text() != text for f, (text, _) in files.items()):
            _write_all(files)  # already rendered above
            changed.append(target)
    return changed


# Secrets in clear never go into git by accident: keys/ (keys.sealed may be committed) and the
# roaming peers' configs. Written by init only where the directory has no .gitignore yet.
GITIGNORE = "# written by `meshbeam init`: these hold private keys in clear\n/keys/\n/peers/\n"


def init(directory: Path, mesh: Mesh, *, force: bool, store: KeyStore | None = None) -> None:
    inventory.validate(mesh)
    if inventory.exists(directory) and not force:
        raise InputError(f"an inventory already exists at {directory}; use --force to replace it")
    if force:
        for sub in ("keys", "peers"):
            shutil.rmtree(directory / sub, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    store = store or KeyStore(directory)  # init --sealed passes a KeyStore(seal_with=passphrase)
    store.create_dir()
    store.create_cookie()
    inventory.save(directory, mesh)
    if not (directory / ".gitignore").exists():
        atomic_write(directory / ".gitignore", GITIGNORE)


def _add(directory: Path, mesh: Mesh, build: type[Host] | type[Peer], **fields: object) -> tuple[Mesh, Host | Peer]:
    """Shared by add-host and add-peer: allocate an address, make a key, validate, write."""
    name = inventory.check_name(str(fields["name"]), "member name")
    if any(m.name == name for m in mesh.members):
        raise InputError(f"the name {name!r} is already used in {inventory.mesh_path(directory)}")
    store = KeyStore(directory)
    if store.has_member_key(name):
        raise InputError(f"a private key for {name!r} already exists in {store.dir}; remove it first")
    private, public = new_keypair(mesh.backend)
    member = build(address=inventory.next_address(mesh), public_key=public, **fields)
    new = inventory.with_member(mesh, member)
    inventory.validate(new)
    with locked(directory):
        store.store_member_key(name, private)
        store.sync_psks(m.name for m in new.members)
        inventory.save(directory, new)
    return new, member


def add_host(
    directory: Path,
    name: str,
    ssh: str,
    *,
    endpoint: str | None,
    vm_args: str | None,
    node_name: str,
    run_user: str,
    mix_release: bool = False,
) -> Host:
    _, address, _ = inventory.parse_ssh_target(ssh)
    mesh = inventory.load(directory)
    if endpoint is None:
        ep_host, ep_port = address, None
    else:
        ep_host, ep_port = inventory.split_host_port(endpoint, "endpoint")
    ep = inventory.format_host_port(ep_host, ep_port or mesh.port)
    _, host = _add(
        directory,
        mesh,
        Host,
        name=name,
        ssh=ssh,
        endpoint=ep,
        vm_args=vm_args,
        node_name=node_name,
        run_user=run_user,
        mix_release=mix_release,
    )
    assert isinstance(host, Host)
    return host


def add_peer(directory: Path, name: str, out: Path | None) -> tuple[Peer, Path]:
    mesh = inventory.load(directory)
    target = out or peer_config_path(directory, mesh, name)
    if target.exists():
        raise InputError(f"{target} already exists; choose another --out or remove it")
    mesh, peer = _add(directory, mesh, Peer, name=name)
    assert isinstance(peer, Peer)
    write_peer_config(directory, mesh, peer, target)
    return peer, target


def remove(directory: Path, name: str, kind: type[Host] | type[Peer]) -> Mesh:
    mesh = inventory.load(directory)
    member = mesh.member(name)
    if not isinstance(member, kind):
        other = "remove-peer" if isinstance(member, Peer) else "remove-host"
        raise InputError(f"{name!r} is not a {'host' if kind is Host else 'peer'}; use `meshbeam {other}`")
    new = inventory.without_member(mesh, name)
    store = KeyStore(directory)
    store.unlock()  # a wrong passphrase must stop us before the first write
    with locked(directory):
        inventory.save(directory, new)
        store.forget(name, (m.name for m in new.members))
        target = peer_config_path(directory, mesh, name)
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    return new


RENDER_MARK = ".meshbeam-render"  # OUT holds render output: later renders may prune it


def render_to(directory: Path, out: Path) -> tuple[int, int]:
    """Write every member's files under OUT/NAME/ without touching any host.

    The same text `up` would push: the wg-quick config (or the tinc directory), and for hosts
    that run a node the vm.args block and the nftables table. Each file is written as soon
    as it is rendered, so memory stays near one config, whatever the mesh size. Then files
    of an earlier render that this one did not write are removed: a removed member's config
    or tinc hosts file left behind would still be deployed, and trusted, by whoever copies
    OUT. So OUT must be new, empty, or an earlier render's (marked); anything else is refused
    before the first write. Returns the counts of files written and removed.
    """
    mesh = inventory.load(directory)
    store = KeyStore(directory)
    store.unlock()  # a wrong passphrase must stop us before the first write
    mark = out / RENDER_MARK
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is not a directory")
    if out.is_dir() and not mark.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty and holds no earlier `meshbeam render` output; "
                         "give a new or empty directory")
    # Marked first, so that an interrupted render can be run again into the same directory.
    atomic_write(mark, "written by `meshbeam render`; it removes files here that the mesh no longer has\n",
                 durable=False)
    written = {mark}
    # Rendering holds the GIL and writing mostly sits in the kernel (page cache), so writer
    # threads overlap the two; a few files in flight keep memory bounded. At 1000 hosts the
    # writing was the longer of the two: 2 writers beat 1 (median 1.02 s against 1.20 s).
    writer = ThreadPoolExecutor(max_workers=2)
    in_flight: deque[Future[None]] = deque()

    def write(path: Path, data: bytes | str, mode: int) -> None:
        in_flight.append(writer.submit(atomic_write, path, data, mode, durable=False))  # regenerable: no fsync
        if len(in_flight) > 4:
            in_flight.popleft().result()
        written.add(path)

    with writer:
        if mesh.backend == "tinc":
            from . import tincplan

            for m in mesh.members:
                for rel, (text, mode) in tincplan.files(mesh, m, store).items():
                    write(out / m.name / mesh.interface / rel, text, mode)
        else:
            for name, data in wireguard.render_all(mesh, store):
                write(out / name / f"{mesh.interface}.conf", data, 0o600)
        if any(h.vm_args for h in mesh.hosts):
            from . import beamcfg, beamplan, firewall

            rules = firewall.ruleset(interface=mesh.interface, cidr=mesh.cidr, dist_port=mesh.dist_port,
                                     listen_port=mesh.port)
            for h in mesh.hosts:
                if h.vm_args:
                    write(out / h.name / "vm.args.block", beamcfg.render_block(beamplan.settings(mesh, h)), 0o644)
                    write(out / h.name / "nftables.nft", rules, 0o644)
        for done in in_flight:
            done.result()  # a failed write raises here
    return len(written) - 1, _prune(out, written)


def _prune(out: Path, keep: set[Path]) -> int:
    """Remove everything under `out` but `keep` and the directories that hold it."""
    kept = {str(path) for path in keep}
    removed = 0
    for root, dirs, files in os.walk(out, topdown=False):  # symlinks are removed, never followed
        for name in files:
            if (path := os.path.join(root, name)) not in kept:
                os.unlink(path)
                removed += 1
        for name in dirs:
            path = os.path.join(root, name)
            try:
                os.rmdir(path)  # succeeds only where everything below was removed
            except NotADirectoryError:  # a symlink
                os.unlink(path)
                removed += 1
            except OSError as e:
                if e.errno != errno.ENOTEMPTY:
                    raise
    return removed


def rotate_keys(directory: Path, names: list[str] | None) -> tuple[Mesh, list[Path]]:
    """New keypairs for NAMES (or every member) and new preshared keys for their pairs.

    Only the inventory changes here; `meshbeam up` rolls the keys out. Returns the new mesh
    and the roaming peers' config files that were rewritten (they must be copied again).
    """
    mesh = inventory.load(directory)
    chosen = [mesh.member(n) for n in names] if names else list(mesh.members)
    store = KeyStore(directory)
    store.unlock()
    fresh = {m.name: new_keypair(mesh.backend) for m in chosen}
    new = replace(
        mesh,
        hosts=tuple(replace(h, public_key=fresh[h.name][1]) if h.name in fresh else h for h in mesh.hosts),
        peers=tuple(replace(p, public_key=fresh[p.name][1]) if p.name in fresh else p for p in mesh.peers),
    )
    inventory.validate(new)
    with locked(directory):
        store.rotate({n: private for n, (private, _) in fresh.items()}, (m.name for m in new.members))
        inventory.save(directory, new)
        rewritten = refresh_peer_configs(directory, new)
    return new, rewritten
