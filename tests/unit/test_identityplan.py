"""identityplan: meshbeam_dist's files on a host, from facts in to writes and actions out (pure)."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import replace

import pytest

from meshbeam import distmod, identityplan
from meshbeam.inventory import Host, Mesh
from meshbeam.errors import PlanError
from meshbeam.plan import Facts, FileFact

HOST = Host("s1", "root@198.51.100.11", "198.18.0.1", "198.51.100.11:51820", "A" * 43 + "=",
            vm_args="/srv/app/vm.args")
RELEASE = replace(HOST, vm_args="/srv/rel/releases/0.1.0/vm.args", mix_release=True)
KEY, NONE = Mesh(cidr="198.18.0.0/24", identity="key"), Mesh(cidr="198.18.0.0/24", identity="none")
ALLOW = ("app@198.18.0.1", "app@198.18.0.2", "meshbeam_ctl@198.18.0.1")
STAMP = f"{hashlib.sha256(distmod.source()).hexdigest()}\n".encode()


def facts(present: dict[str, bytes], flags: frozenset[str] = frozenset()) -> Facts:
    files = {p: FileFact(p, True, 0o644, "root", present[p]) if p in present else FileFact(p, False)
             for p in identityplan.PATHS + (HOST.vm_args, RELEASE.vm_args)}
    return Facts(flags=flags, files=files)


CONVERGED = {distmod.SOURCE_PATH: distmod.source(), distmod.ALLOWED_FILE: distmod.render_allowed(ALLOW).encode(),
             distmod.BEAM_PATH: b"FOR1...", identityplan.STAMP_PATH: STAMP}


def labels(actions) -> list[str]:
    return [a.label for a in actions]


@pytest.mark.parametrize("present, writes, compiles", [
    ({}, [distmod.SOURCE_PATH, distmod.ALLOWED_FILE], True),  # a fresh host
    (CONVERGED, [], False),
    ({**CONVERGED, distmod.ALLOWED_FILE: b"app@198.18.0.1\n"}, [distmod.ALLOWED_FILE], False),  # a member left
    ({**CONVERGED, identityplan.STAMP_PATH: b"0" * 64 + b"\n"}, [], True),  # the .beam is of another source
    ({k: v for k, v in CONVERGED.items() if k != distmod.BEAM_PATH}, [], True),  # the .beam was deleted
    ({**CONVERGED, distmod.SOURCE_PATH: b"-module(x).\n"}, [distmod.SOURCE_PATH], False),  # the stamp decides
])
def test_key_mode_writes_the_module_and_list_and_compiles_only_when_needed(present, writes, compiles):
    f = facts(present)
    assert [w.path for w in identityplan.writes(KEY, ALLOW, f)] == writes
    want = [f"compile {distmod.MODULE} into {distmod.EBIN_DIR}"] if compiles else []
    assert labels(identityplan.actions(KEY, HOST, f)) == want


def test_written_files_are_roots_and_readable_by_the_node():
    for w in identityplan.writes(KEY, ALLOW, facts({})):
        assert (w.owner, w.mode, w.secret) == ("root", 0o644, False)
    allowed = identityplan.writes(KEY, ALLOW, facts({}))[1]
    assert allowed.content.decode().splitlines()[1:] == sorted(ALLOW)


def test_the_compile_script_installs_from_the_private_work_dir_and_stamps_last():
    script = identityplan.compile_script().render()
    steps = script.strip().splitlines()
    assert steps[1] == f'run_logged erlc -o "$work/ebin" {distmod.SOURCE_PATH}'
    assert steps[3] == f"chmod 755 -- {distmod.CONF_DIR} {distmod.EBIN_DIR}"
    assert steps[-1] == f"printf '%s\\n' {STAMP.decode().strip()} | install -m 644 /dev/stdin {identityplan.STAMP_PATH}"


def test_none_mode_writes_nothing_and_removes_what_key_mode_left():
    assert identityplan.writes(NONE, ALLOW, facts(CONVERGED)) == []
    acts = identityplan.actions(NONE, HOST, facts(CONVERGED))
    assert labels(acts) == ["remove meshbeam_dist (identity: none)"]
    assert all(f"rm -f -- {p}" in acts[0].script.render() for p in identityplan.PATHS)
    assert identityplan.actions(NONE, HOST, facts({})) == []
    assert identityplan.vm_args_lines(NONE) == () and identityplan.vm_args_lines(KEY) == distmod.VM_ARGS_LINES


def test_teardown_removes_only_what_is_there():
    assert identityplan.teardown(facts({})) == []
    (act,) = identityplan.teardown(facts({distmod.ALLOWED_FILE: b"x"}))
    assert f"rm -f -- {distmod.ALLOWED_FILE}" in act.script.render()
    assert distmod.SOURCE_PATH not in act.script.render()


def test_a_release_with_an_older_erts_than_the_hosts_erlc_is_refused():
    assert identityplan.probes(KEY, HOST) == () and identityplan.probes(NONE, RELEASE) == ()
    assert identityplan.probes(KEY, RELEASE) == (identityplan.RELEASE_ERTS_OLDER,)
    name, probe = identityplan.RELEASE_ERTS_OLDER.probe(KEY, RELEASE)
    assert name == "release-erts-older" and "/srv/rel/erts-*" in probe.render()
    with pytest.raises(PlanError, match="older ERTS than the host's erlc"):
        identityplan.actions(KEY, RELEASE, facts({}, frozenset({name})))
    assert identityplan.notes(KEY, RELEASE, facts({}), False) and not identityplan.notes(NONE, RELEASE, facts({}), False)


def test_a_running_node_is_told_it_changes_mode_at_its_next_restart():
    def with_vm(text: bytes) -> Facts:
        f = facts({})
        return replace(f, files={**f.files, HOST.vm_args: FileFact(HOST.vm_args, True, 0o644, "root", text)})
    (note,) = identityplan.notes(KEY, HOST, with_vm(b"+K true\n"), node_running=True)
    assert "from its next restart on" in note
    assert identityplan.notes(KEY, HOST, with_vm(b"-proto_dist meshbeam\n"), node_running=True) == []
    assert identityplan.notes(KEY, HOST, with_vm(b"+K true\n"), node_running=False) == []
    assert identityplan.notes(NONE, HOST, with_vm(b"+K true\n"), node_running=True) == []


@pytest.mark.parametrize("bundled, older", [("erts-1.0", True), ("erts-999.0.1", False), (None, False)])
def test_the_erts_probe_compares_major_versions_with_the_hosts_erl(tmp_path, bundled, older):
    """Run here with a local sh against this machine's erl (Debian's erlang-base, which .ci/setup installs)."""
    rel = tmp_path / "rel"
    (rel / "releases" / "0.1.0").mkdir(parents=True)
    if bundled:
        (rel / bundled).mkdir()
    host = replace(RELEASE, vm_args=f"{rel}/releases/0.1.0/vm.args")
    _, probe = identityplan.RELEASE_ERTS_OLDER.probe(KEY, host)
    assert (subprocess.run(["sh", "-c", probe.render()]).returncode == 0) == older
