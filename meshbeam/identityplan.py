"""The identity part of a BEAM host's plan (pure): meshbeam_dist's source, compiled module and allowed file.

With `identity: key` (the default) every node runs `-proto_dist meshbeam` (see distmod.py): a
connection may only claim a name whose host part is its source address, and only a name in
/etc/meshbeam/allowed. The host compiles the shipped source with its own erlc; a stamp beside
the .beam records which source it was compiled from, so `up` compiles again only when the
source changed or the .beam is gone. With `identity: none` these files are removed.
"""

from __future__ import annotations

import hashlib
import posixpath

from . import distmod
from .command import Cmd, join, sh
from .inventory import Host, Mesh
from .errors import PlanError
from .plantypes import Action, Facts, Flag, Write, write_if_needed

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


def _release_erts_older(mesh: Mesh, host: Host) -> Cmd:
    """The release bundles an ERTS of an older major version than the host's erlc.

    A .beam loads in the ERTS that compiled it and later ones, not reliably in earlier ones. Only
    the names of the release's erts-VSN directories are read (a glob), never a file in them.
    """
    root = release_root(host)
    assert root is not None  # asked only of a mix release (probes)
    return sh(
        'r=$(for d in {}/erts-*; do [ -d "$d" ] && echo "${d##*/erts-}"; done | head -n 1); '
        'e=$(readlink -f "$(command -v erl)"); '
        'h=$(for d in "${e%/bin/erl}"/erts-*; do [ -d "$d" ] && echo "${d##*/erts-}"; done | head -n 1); '
        '[ -n "$r" ] && [ -n "$h" ] && [ "${r%%.*}" -lt "${h%%.*}" ] 2>/dev/null', root)


RELEASE_ERTS_OLDER = Flag("release-erts-older", _release_erts_older)


def probes(mesh: Mesh, host: Host) -> tuple[Flag, ...]:
    """RELEASE_ERTS_OLDER, for a mix release in key mode (the host compiles meshbeam_dist)."""
    return (RELEASE_ERTS_OLDER,) if on(mesh) and release_root(host) is not None else ()


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


def compile_script() -> Cmd:
    """Compile in the apply script's private work directory, then install root's 0644 copy.

    /etc/meshbeam and its ebin are made 0755: the node's run user reads the module and the
    allowed file from there (the backups beside them stay in their own 0700 directory).
    """
    return join([
        sh('mkdir -- "$work/ebin"'),
        sh('run_logged erlc -o "$work/ebin" {}', distmod.SOURCE_PATH),
        sh("mkdir -p -- {}", distmod.EBIN_DIR),
        sh("chmod 755 -- {} {}", distmod.CONF_DIR, distmod.EBIN_DIR),
        sh('install -m 644 -- "$work/ebin/{}.beam" {}', distmod.MODULE, distmod.BEAM_PATH),
        sh("printf '%s\\n' {} | install -m 644 /dev/stdin {}", _digest(), STAMP_PATH),
    ])


def actions(mesh: Mesh, host: Host, facts: Facts) -> list[Action]:
    if not on(mesh):
        return _removal(facts, "remove meshbeam_dist (identity: none)")
    if RELEASE_ERTS_OLDER in probes(mesh, host) and facts.has(RELEASE_ERTS_OLDER):
        raise PlanError(f"{host.name}: the release under {release_root(host)} bundles an older ERTS than the "
                        "host's erlc, which compiles meshbeam_dist: install the release's OTP version on the host, "
                        "or use `init --identity none`")
    stamp, beam = facts.files[STAMP_PATH], facts.files[distmod.BEAM_PATH]
    if beam.exists and stamp.exists and stamp.content == f"{_digest()}\n".encode():
        return []
    return [Action(f"compile {distmod.MODULE} into {distmod.EBIN_DIR}", compile_script())]


def _removal(facts: Facts, label: str) -> list[Action]:
    """The action that removes those of PATHS the host has, and the ebin directory once empty."""
    there = [p for p in PATHS if facts.files[p].exists]
    if not there:
        return []
    return [Action(label, join([*(sh("rm -f -- {}", p) for p in there),
                                sh("rmdir -- {} 2>/dev/null || :", distmod.EBIN_DIR)]))]


def notes(mesh: Mesh, host: Host, facts: Facts, node_running: bool) -> list[str]:
    if not on(mesh):
        return []
    out = []
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
