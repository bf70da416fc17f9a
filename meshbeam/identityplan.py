"""The identity part of a BEAM host's plan (pure): meshbeam_dist's source, compiled module and allowed file.

With `identity: key` (the default) every node runs `-proto_dist meshbeam` (see distmod.py): a
connection may only claim a name whose host part is its source address, and only a name in
/etc/meshbeam/allowed. The host gets the .beam compiled on the operator's machine when its node
runs a matching ERTS (distmod.Build), and otherwise compiles the shipped source with its own erlc;
a stamp beside the .beam records which source it came from, so `up` installs or compiles again
only when the source changed or the .beam is gone. With `identity: none` these files are removed.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from collections.abc import Iterable

from . import distmod
from .command import Cmd, join, sh
from .inventory import Host, Mesh
from .errors import PlanError
from .plantypes import Action, Facts, Write, write_if_needed

STAMP_PATH = f"{distmod.EBIN_DIR}/{distmod.MODULE}.sha256"
TOOLS = ("erlc",)
PATHS = (distmod.SOURCE_PATH, distmod.ALLOWED_FILE, distmod.BEAM_PATH, STAMP_PATH)


def on(mesh: Mesh) -> bool:
    return mesh.identity == "key"


def vm_args_lines(mesh: Mesh) -> tuple[str, ...]:
    return distmod.VM_ARGS_LINES if on(mesh) else ()


def query_paths() -> tuple[str, ...]:
    """Read in both modes: switching to `identity: none` (or `down`) removes what is there."""
    return PATHS


def release_root(host: Host) -> str | None:
    """RELEASE of a mix release's RELEASE/releases/VSN/vm.args."""
    if not host.mix_release or not host.vm_args:
        return None
    return posixpath.dirname(posixpath.dirname(posixpath.dirname(host.vm_args)))


def listdirs(mesh: Mesh, host: Host) -> tuple[str, ...]:
    """A mix release's root in key mode: an erts-VSN directory there is the ERTS its node runs."""
    root = release_root(host)
    return (root,) if on(mesh) and root is not None else ()


def _only(versions: Iterable[str]) -> str | None:
    found = set(versions)
    return found.pop() if len(found) == 1 else None


def node_erts(host: Host, facts: Facts) -> str | None:
    """The ERTS version the host's node runs: a mix release's own erts-VSN when it bundles one, else
    the one beside the erl on the host's PATH; None when that is unknown or not one version."""
    root = release_root(host)
    bundled = [n.removeprefix("erts-") for n in facts.listings.get(root, ()) if n.startswith("erts-")] if root else []
    return _only(bundled) if bundled else _only(facts.erl_erts)


def module_current(facts: Facts) -> bool:
    """The host has a meshbeam_dist.beam whose stamp names this source (compiled here or there)."""
    stamp, beam = facts.files[STAMP_PATH], facts.files[distmod.BEAM_PATH]
    return beam.exists and stamp.exists and stamp.content == f"{_digest()}\n".encode()


def wants_build(mesh: Mesh, host: Host, facts: Facts) -> bool:
    """Whether this host's plan would use the module compiled on the operator's machine (distbuild)."""
    return on(mesh) and host.vm_args is not None and not module_current(facts)


def writes(mesh: Mesh, allow: tuple[str, ...], facts: Facts) -> list[Write]:
    if not on(mesh):
        return []
    out = [
        write_if_needed(facts.files[distmod.SOURCE_PATH], distmod.source(), 0o644, "root", secret=False),
        write_if_needed(facts.files[distmod.ALLOWED_FILE], distmod.render_allowed(allow).encode(), 0o644, "root",
                        secret=False),
    ]
    return [w for w in out if w]


def _digest() -> str:
    return hashlib.sha256(distmod.source()).hexdigest()


def _install(made: Cmd) -> Cmd:
    """`made` leaves the module in the apply script's private $work/ebin; root's 0644 copy and its stamp go in place.

    /etc/meshbeam and its ebin are made 0755: the node's run user reads the module and the
    allowed file from there (the backups beside them stay in their own 0700 directory).
    """
    return join([
        sh('mkdir -- "$work/ebin"'),
        made,
        sh("mkdir -p -- {}", distmod.EBIN_DIR),
        sh("chmod 755 -- {} {}", distmod.CONF_DIR, distmod.EBIN_DIR),
        sh('install -m 644 -- "$work/ebin/{}.beam" {}', distmod.MODULE, distmod.BEAM_PATH),
        sh("printf '%s\\n' {} | install -m 644 /dev/stdin {}", _digest(), STAMP_PATH),
    ])


def compile_script() -> Cmd:
    """The host compiles the source with its own erlc."""
    return _install(sh('run_logged erlc -o "$work/ebin" {}', distmod.SOURCE_PATH))


def install_script(beam: bytes) -> Cmd:
    """The .beam compiled on the operator's machine, checked against its hash once decoded."""
    name = f"{distmod.MODULE}.beam"
    return _install(join([
        sh('printf %s {} | base64 -d > "$work/ebin/"{}', base64.b64encode(beam).decode(), name),
        sh('[ "$(sha256sum < "$work/ebin/"{})" = {} ]', name, f"{hashlib.sha256(beam).hexdigest()}  -"),
    ]))


def actions(mesh: Mesh, host: Host, facts: Facts, build: distmod.Build | None) -> list[Action]:
    if not on(mesh):
        return _removal(facts, "remove meshbeam_dist (identity: none)")
    if module_current(facts):
        return []
    node_version = node_erts(host, facts)
    if build is not None and build.loads_on(node_version):
        return [Action(f"install {distmod.MODULE} compiled here (ERTS {build.erts}) into {distmod.EBIN_DIR}",
                       install_script(build.beam))]
    node, erlc = distmod.erts_version(node_version or ""), distmod.erts_version(_only(facts.erl_erts) or "")
    root = release_root(host)
    if root is not None and node and erlc and node[0] < erlc[0]:
        raise PlanError(f"{host.name}: the release under {root} bundles an older ERTS than the "
                        "host's erlc, which compiles meshbeam_dist: install the release's OTP version on the host, "
                        "run `up` where erl (or MESHBEAM_ERL) has the release's ERTS, or use `init --identity none`")
    return [Action(f"compile {distmod.MODULE} into {distmod.EBIN_DIR}", compile_script())]


def _removal(facts: Facts, label: str) -> list[Action]:
    """The action that removes those of PATHS the host has, and the ebin directory once empty."""
    there = [p for p in PATHS if facts.files[p].exists]
    if not there:
        return []
    return [Action(label, join([*(sh("rm -f -- {}", p) for p in there),
                                sh("rmdir -- {} 2>/dev/null || :", distmod.EBIN_DIR)]))]


def notes(mesh: Mesh, host: Host, facts: Facts, node_running: bool, build: distmod.Build | None) -> list[str]:
    if not on(mesh):
        return []
    out = []
    node = node_erts(host, facts)
    if build is not None and not module_current(facts) and not build.loads_on(node):
        here = build.why_not or f"the erl here runs ERTS {build.erts}"
        out.append(f"compiles {distmod.MODULE} with its own erlc: its node runs ERTS {node or '(unknown)'}, {here}")
    assert host.vm_args
    vm_args = facts.files[host.vm_args].content or b""
    if node_running and distmod.VM_ARGS_LINES[0].encode() not in vm_args:
        out.append(f"{host.node} is running: it binds node names to keys from its next restart on "
                   "(vm.args is read at boot); until then its allow list applies as before")
    if host.mix_release:
        out.append("env.sh sets RELEASE_MODE=interactive: in embedded mode the release could not load meshbeam_dist")
    return out


def teardown(facts: Facts) -> list[Action]:
    """`down`: the module, its stamp and the allowed file go. A node still running with meshbeam_dist then
    refuses every incoming connection (its allowed file is gone) until it restarts without it."""
    return _removal(facts, f"remove {distmod.MODULE} and {distmod.ALLOWED_FILE}")
