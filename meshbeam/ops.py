"""Inventory operations behind init / add-host / add-peer / remove-* / rotate-keys / render.

Each change runs in one transaction (store.py): the inventory is locked before it is read,
all input is checked before anything is written, and the keys, mesh.yaml and peer configs
are published together. Bad input leaves the inventory directory byte-identical.

Each operation takes the command's KeyStore, opened once by the CLI: the inventory is its
directory, and a sealed one is decrypted (its passphrase asked for) once per command.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import backends, fields, forked, inventory, meshfile
from .errors import InputError, MeshbeamError
from .fsutil import atomic_write
from .inventory import Host, Mesh, Peer
from .keys import KeyStore, new_keypair
from .store import Transaction, inside, settle, transaction


def peer_config_path(directory: Path, mesh: Mesh, name: str) -> Path:
    """A WireGuard peer gets one wg-quick file; a tinc peer a directory for /etc/tinc/NET/."""
    return directory / "peers" / (name if backends.of(mesh.backend).peer_bundle_dir else f"{name}.conf")


def peer_files(mesh: Mesh, peer: Peer, target: Path, store: KeyStore) -> dict[Path, tuple[str, int]]:
    files = backends.layer(mesh.backend).peer_files(mesh, peer, store)
    return {(target / rel if rel else target): content for rel, content in files.items()}


def _stale_peer_files(mesh: Mesh, store: KeyStore) -> dict[Path, dict[Path, tuple[str, int]]]:
    """Roaming peers' configs under DIR/peers follow the server list: those that differ now."""
    stale = {}
    for p in mesh.peers:
        target = peer_config_path(store.inventory, mesh, p.name)
        files = peer_files(mesh, p, target, store)
        if target.exists() and any(not f.exists() or f.read_text() != text for f, (text, _) in files.items()):
            stale[target] = files
    return stale


def refresh_peer_configs(store: KeyStore, mesh: Mesh) -> list[Path]:
    """Rewrite stale peer configs (for `up`, which holds the lock but changes no inventory)."""
    stale = _stale_peer_files(mesh, store)
    for files in stale.values():
        for path, (text, mode) in files.items():
            atomic_write(path, text, mode)
    return list(stale)


# Secrets in clear never go into git by accident: keys/ (keys.sealed may be committed) and the
# roaming peers' configs. Written by init only where the directory has no .gitignore yet.
GITIGNORE = "# written by `meshbeam init`: these hold private keys in clear\n/keys/\n/peers/\n"


def init(store: KeyStore, mesh: Mesh, *, force: bool) -> None:
    """A new inventory in the store's directory, sealed if the store was given `seal_with`. With
    `force` an existing one is replaced and its keys destroyed first (interrupted then, `init
    --force` again starts over)."""
    directory = store.inventory
    inventory.validate(mesh)
    if inventory.exists(directory) and not force:
        raise InputError(f"an inventory already exists at {directory}; use --force to replace it")
    with transaction(store, new=True) as txn:
        if force:
            for sub in ("keys", "keys.sealed", "peers"):
                path = directory / sub
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        txn.keys.create()
        txn.mesh = mesh
        if not (directory / ".gitignore").exists():
            txn.write(directory / ".gitignore", GITIGNORE, 0o644)


@dataclass(frozen=True)
class HostSpec:
    """A host to add, as the user gave it (command line, or one row of an import file)."""

    name: str
    ssh: str
    endpoint: str | None = None
    vm_args: str | None = None
    node_name: str = "app"
    run_user: str = "root"
    mix_release: bool = False
    service: str | None = None
    where: str = ""  # for errors: "hosts.csv: row 7", empty on the command line


@dataclass
class Added:
    members: list[Host | Peer]
    notes: list[str] = field(default_factory=list)


def _free_addresses(mesh: Mesh) -> Iterator[str]:
    """The free host addresses of the mesh CIDR, lowest first."""
    used = {m.address for m in mesh.members}  # canonical dotted quads (validate)
    net = mesh.network
    for n in range(int(net.network_address) + 1, int(net.broadcast_address)):
        text = ".".join(map(str, n.to_bytes(4, "big")))  # no address object: a large mesh walks past many
        if text not in used:
            yield text
    raise InputError(f"the mesh CIDR {mesh.cidr} is exhausted: no free address for another member")


def _endpoint(spec: HostSpec, mesh: Mesh) -> str:
    if spec.endpoint is None:
        host, port = fields.parse_ssh_target(spec.ssh)[1], None
    else:
        host, port = fields.split_host_port(spec.endpoint, "endpoint")
    return fields.format_host_port(host, port or mesh.port)


# The fields of a host in the order they are checked; a row's error names the first bad one.
SPEC_FIELDS = ("name", "ssh", "endpoint", "vm_args", "node_name", "run_user", "mix_release", "service")


def _check_spec(mesh: Mesh, spec: HostSpec, address: str, public_key: str) -> Host:
    """The host of `spec`, validated alone against the mesh settings. On error, the fields are
    tried one at a time over a known-good host, so that the message names the bad one."""
    def build(s: HostSpec) -> Host:
        return Host(name=s.name, ssh=s.ssh, address=address, endpoint=_endpoint(s, mesh), public_key=public_key,
                    node_name=s.node_name, vm_args=s.vm_args, run_user=s.run_user, mix_release=s.mix_release,
                    service=s.service)

    def check(s: HostSpec) -> Host:
        host = build(s)
        inventory.validate(replace(mesh, hosts=(host,), peers=()))
        return host

    try:
        return check(spec)
    except InputError as whole:
        good = HostSpec(name="x", ssh="127.0.0.1")
        for name in SPEC_FIELDS:
            one = {name: getattr(spec, name)}
            if name in ("mix_release", "service"):
                one["vm_args"] = spec.vm_args
            try:
                check(replace(good, **one))
            except InputError as e:
                raise _at(spec, name, _reason(e)) from None
        raise _at(spec, None, _reason(whole)) from None


def _reason(e: InputError) -> str:
    """The validator's message without the location it prefixes (mesh.yaml, hosts[0])."""
    text = str(e)
    for marker in ("invalid ", "Erlang node"):
        if marker in text:
            return text[text.index(marker):]
    return text


def _at(spec: HostSpec, field_name: str | None, message: str) -> InputError:
    """An error about a spec: from a file, with the row and the field; on the command line, as is."""
    if not spec.where:
        return InputError(message)
    return InputError(f"{spec.where}: field {field_name!r}: {message}" if field_name else f"{spec.where}: {message}")


def add_hosts(store: KeyStore, specs: Sequence[HostSpec]) -> Added:
    """Add every host of `specs` in one transaction: all or nothing. Every spec is checked
    before the first key is made; a bad one is named by its `where` and field."""
    directory = store.inventory
    with transaction(store) as txn:
        mesh = txn.mesh
        assert mesh is not None
        existing, names = {m.name for m in mesh.members}, {m.name for m in mesh.members}
        addresses = _free_addresses(mesh)
        hosts, placeholder = [], _placeholder_key(mesh)
        for spec in specs:
            if spec.name in existing:
                raise _at(spec, "name", f"the name {spec.name!r} is already used in {inventory.mesh_path(directory)}")
            if spec.name in names:
                raise _at(spec, "name", f"the name {spec.name!r} appears twice")
            hosts.append(_check_spec(mesh, spec, next(addresses), placeholder))
            names.add(spec.name)
        if backends.of(mesh.backend).underscore_names:
            taken = inventory.tinc_forms(mesh)
            for spec in specs:
                try:
                    inventory.claim_tinc_name(spec.name, taken)
                except InputError as e:
                    raise _at(spec, "name", str(e)) from None
        hosts = [_with_new_key(txn, h) for h in hosts]
        txn.mesh = replace(mesh, hosts=mesh.hosts + tuple(hosts))
    return Added(hosts, txn.notes)


def _placeholder_key(mesh: Mesh) -> str:
    """A valid public key to check a new member with before its own key is made (RSA keys
    for tinc take a while; a bad row must not wait for the keys of the good ones)."""
    if backends.of(mesh.backend).rsa_keys:
        return next((m.public_key for m in mesh.members), None) or new_keypair(mesh.backend)[1]
    return "A" * 43 + "="


def _with_new_key(txn: Transaction, member: Host | Peer) -> Host | Peer:
    private, public = new_keypair(txn.mesh.backend if txn.mesh else "wireguard")
    txn.keys.put_member_key(member.name, private)
    return replace(member, public_key=public)


def add_host(store: KeyStore, spec: HostSpec) -> Added:
    return add_hosts(store, [spec])


def add_peer(store: KeyStore, name: str, out: Path | None) -> tuple[Mesh, Peer, Path, list[str]]:
    """A roaming peer and its config: under DIR/peers/ in the same transaction; at `out`
    elsewhere, written just after the commit (a failure there leaves the peer added, and
    `rotate-keys NAME` rewrites the file). Returns the new mesh, the peer, its config's path
    and notes."""
    directory = store.inventory
    with transaction(store) as txn:
        mesh = txn.mesh
        assert mesh is not None
        inventory.check_name(name, "member name")
        if any(m.name == name for m in mesh.members):
            raise InputError(f"the name {name!r} is already used in {inventory.mesh_path(directory)}")
        if backends.of(mesh.backend).underscore_names:
            inventory.claim_tinc_name(name, inventory.tinc_forms(mesh))
        target = out or peer_config_path(directory, mesh, name)
        if target.exists():
            raise InputError(f"{target} already exists; choose another --out or remove it")
        peer = Peer(name=name, address=next(_free_addresses(mesh)), public_key=_placeholder_key(mesh))
        inventory.validate(replace(mesh, hosts=(), peers=(peer,)))
        peer = _with_new_key(txn, peer)
        assert isinstance(peer, Peer)
        txn.mesh = new = inventory.with_member(mesh, peer)
        files = peer_files(new, peer, target, txn.keys)
        outside = inside(directory, target) is None
        if not outside:
            for path, (text, mode) in files.items():
                txn.write(path, text, mode)
    if outside:
        for path, (text, mode) in files.items():
            atomic_write(path, text, mode)
    return new, peer, target, txn.notes


def remove(store: KeyStore, name: str, kind: type[Host] | type[Peer]) -> tuple[Mesh, list[str]]:
    """Drop a member: its entry, its private key and (for a peer) its config under DIR/peers.
    Its preshared keys were derived from its public key, so they go with it."""
    directory = store.inventory
    with transaction(store) as txn:
        mesh = txn.mesh
        assert mesh is not None
        member = mesh.member(name)
        if not isinstance(member, kind):
            other = "remove-peer" if isinstance(member, Peer) else "remove-host"
            raise InputError(f"{name!r} is not a {'host' if kind is Host else 'peer'}; use `meshbeam {other}`")
        txn.keys.unlock()  # a wrong passphrase must stop us before the first write
        txn.mesh = inventory.without_member(mesh, name)
        txn.keys.drop_member_key(name)
        target = peer_config_path(directory, mesh, name)
        if target.exists() or target.is_symlink():
            txn.remove(target)
    return txn.mesh, txn.notes


RENDER_MARK = ".meshbeam-render"  # OUT holds render output: later renders may prune it


def render_to(store: KeyStore, out: Path) -> tuple[int, int]:
    """Write every member's files under OUT/NAME/ without touching any host.

    The same text `up` would push: the wg-quick config (or the tinc directory), and for hosts
    that run a node the vm.args block and the nftables table. Each file is written as soon
    as it is rendered, so memory holds one config at a time, besides the keys of the pairs
    within a process's share of the members (KeyStore.psk_rows). Then files of an earlier
    render that this one did not write are removed: a removed member's config or tinc hosts
    file left behind would still be deployed, and trusted, by whoever copies OUT. So OUT must
    be new, empty, or an earlier render's (marked); anything else is refused before the first
    write. Returns the counts of files written and removed.
    """
    directory = store.inventory
    settle(directory)
    mesh = meshfile.load(directory)
    store.unlock()  # a wrong passphrase must stop us before the first write
    mark = out / RENDER_MARK
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is not a directory")
    if out.is_dir() and not mark.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty and holds no earlier `meshbeam render` output; "
                         "give a new or empty directory")
    # Marked first, so that an interrupted render can be run again into the same directory.
    _write(mark, "written by `meshbeam render`; it removes files here that the mesh no longer has\n", 0o644)
    rules = None
    if any(h.vm_args for h in mesh.hosts):
        from . import firewallplan

        rules = firewallplan.ruleset(mesh)  # the table file `up` writes
    names = [m.name for m in mesh.members]
    # A large mesh's render is CPU-bound (preshared keys, joins, the kernel's copy of each file),
    # and threads share one core (the GIL): so the members are dealt out to one process per core.
    processes = max(1, min(os.cpu_count() or 1, RENDER_PROCESSES, len(names)))

    def share(k: int, shares: int) -> list[str]:
        return _render_members(mesh, store, out, set(names[k::shares]), rules)

    written = set(forked.in_processes(share, processes))
    return len(written), _prune(out, written | {str(mark)})


RENDER_PROCESSES = 8  # at most: each holds the mesh and its share's keys, and all write to one file system


def _render_members(mesh: Mesh, store: KeyStore, out: Path, names: set[str], rules: str | None) -> list[str]:
    """Render and write the files of the members in `names`; the paths written."""
    written = []
    for name, rel, data, mode in backends.layer(mesh.backend).render_files(mesh, store, names):
        written.append(_write(out / name / rel, data, mode))
    if rules is not None:
        from . import beamplan, vmargs

        for h in mesh.hosts:
            if h.vm_args and h.name in names:
                written.append(_write(out / h.name / "vm.args.block", vmargs.render_block(beamplan.settings(mesh, h)),
                                      0o644))
                written.append(_write(out / h.name / "nftables.nft", rules, 0o644))
    return written


def _write(path: Path, data: bytes | str, mode: int) -> str:
    """Write one rendered file (regenerable: no fsync); its path. A failure is one line."""
    try:
        atomic_write(path, data, mode, durable=False)
    except OSError as e:
        blocker = f"{e.filename}: " if e.filename in map(str, path.parents) else ""  # e.g. a file where a directory goes
        raise MeshbeamError(f"cannot write {path}: {blocker}{e.strerror or e}") from None
    return str(path)


def _prune(out: Path, kept: set[str]) -> int:
    """Remove everything under `out` but the paths in `kept` and the directories that hold them."""
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


def rotate_keys(store: KeyStore, names: list[str] | None, *, psk: bool = False,
                cookie: bool = False) -> tuple[Mesh, list[Path], list[str]]:
    """New keypairs for NAMES (or every member, `names=None`), with `psk` a new preshared-key
    secret (every pair's key changes), with `cookie` a new cluster cookie.

    Only the inventory changes here; `meshbeam up` rolls the keys out. Returns the new mesh,
    the roaming peers' config files that were rewritten (they must be copied again) and notes.
    """
    with transaction(store) as txn:
        mesh = txn.mesh
        assert mesh is not None
        chosen = [mesh.member(n) for n in names] if names is not None else list(mesh.members)
        txn.keys.unlock()
        fresh = {m.name: new_keypair(mesh.backend) for m in chosen}
        for name, (private, _) in fresh.items():
            txn.keys.put_member_key(name, private)
        if psk:
            txn.keys.new_psk_secret()
        if cookie:
            txn.keys.new_cookie()
        new = replace(
            mesh,
            hosts=tuple(replace(h, public_key=fresh[h.name][1]) if h.name in fresh else h for h in mesh.hosts),
            peers=tuple(replace(p, public_key=fresh[p.name][1]) if p.name in fresh else p for p in mesh.peers),
        )
        txn.mesh = new
        stale = _stale_peer_files(new, txn.keys)
        for files in stale.values():
            for path, (text, mode) in files.items():
                txn.write(path, text, mode)
    return new, list(stale), txn.notes
