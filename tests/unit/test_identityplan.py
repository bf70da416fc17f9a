"""identityplan: meshbeam_dist's files on a host, from facts in to writes and actions out (pure)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from dataclasses import replace

import pytest

from meshbeam import distbuild, distmod, identityplan, probes
from meshbeam.inventory import Host, Mesh
from meshbeam.errors import PlanError
from meshbeam.plan import Facts, FileFact, Query

HOST = Host("s1", "root@198.51.100.11", "198.18.0.1", "198.51.100.11:51820", "A" * 43 + "=",
            vm_args="/srv/app/vm.args")
RELEASE = replace(HOST, vm_args="/srv/rel/releases/0.1.0/vm.args", mix_release=True)
KEY, NONE = Mesh(cidr="198.18.0.0/24", identity="key"), Mesh(cidr="198.18.0.0/24", identity="none")
ALLOW = ("app@198.18.0.1", "app@198.18.0.2", "meshbeam_ctl@198.18.0.1")
STAMP = f"{hashlib.sha256(distmod.source()).hexdigest()}\n".encode()


BUILD = distmod.Build(erts="13.1.5", beam=b"FOR1 compiled here")


def facts(present: dict[str, bytes], erl_erts: tuple[str, ...] = ("13.1.5",),
          release: tuple[str, ...] = ()) -> Facts:
    """The host's files, the ERTS beside its erl, and the entries of RELEASE's root directory."""
    files = {p: FileFact(p, True, 0o644, "root", present[p]) if p in present else FileFact(p, False)
             for p in identityplan.PATHS + (HOST.vm_args, RELEASE.vm_args)}
    return Facts(files=files, erl_erts=erl_erts, listings={"/srv/rel": release})


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
    assert labels(identityplan.actions(KEY, HOST, f, None)) == want


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
    acts = identityplan.actions(NONE, HOST, facts(CONVERGED), BUILD)
    assert labels(acts) == ["remove meshbeam_dist (identity: none)"]
    assert all(f"rm -f -- {p}" in acts[0].script.render() for p in identityplan.PATHS)
    assert identityplan.actions(NONE, HOST, facts({}), BUILD) == []
    assert identityplan.vm_args_lines(NONE) == () and identityplan.vm_args_lines(KEY) == distmod.VM_ARGS_LINES


def test_teardown_removes_only_what_is_there():
    assert identityplan.teardown(facts({})) == []
    (act,) = identityplan.teardown(facts({distmod.ALLOWED_FILE: b"x"}))
    assert f"rm -f -- {distmod.ALLOWED_FILE}" in act.script.render()
    assert distmod.SOURCE_PATH not in act.script.render()


INSTALL = f"install {distmod.MODULE} compiled here (ERTS 13.1.5) into {distmod.EBIN_DIR}"
COMPILE = f"compile {distmod.MODULE} into {distmod.EBIN_DIR}"


@pytest.mark.parametrize("host, erl_erts, release, build, want, note", [
    (HOST, ("13.1.5",), (), BUILD, INSTALL, None),
    (HOST, ("13.2.2.5",), (), BUILD, INSTALL, None),  # a later patch release of the same major loads it
    (HOST, ("13.1.4",), (), BUILD, COMPILE, "its node runs ERTS 13.1.4, the erl here runs ERTS 13.1.5"),
    (HOST, ("14.0",), (), BUILD, COMPILE, "its node runs ERTS 14.0"),
    (HOST, (), (), BUILD, COMPILE, "its node runs ERTS (unknown)"),  # no erl found beside erlc
    (HOST, ("13.1.5", "14.0"), (), BUILD, COMPILE, "(unknown)"),  # two: which one runs is not known
    (HOST, ("13.1.5",), (), distmod.Build(why_not="no erl on this machine"), COMPILE, "no erl on this machine"),
    (HOST, ("13.1.5",), (), None, COMPILE, None),
    # a mix release runs its own bundled ERTS, whatever the host's erl is
    (RELEASE, ("14.0",), ("bin", "erts-13.1.5", "lib"), BUILD, INSTALL, None),
    (RELEASE, ("13.1.5",), ("bin", "erts-14.0"), BUILD, COMPILE, "its node runs ERTS 14.0"),
    (RELEASE, ("13.1.5",), ("bin", "lib"), BUILD, INSTALL, None),  # no ERTS bundled: the host's
])
def test_the_module_compiled_here_goes_where_the_node_loads_it(host, erl_erts, release, build, want, note):
    f = facts({}, erl_erts, release)
    (act,) = identityplan.actions(KEY, host, f, build)
    assert act.label == want
    notes = [n for n in identityplan.notes(KEY, host, f, False, build) if "its own erlc" in n]
    assert notes == ([] if note is None else [notes[0]]) and (note is None or note in notes[0]), notes
    if want == INSTALL:
        script = act.script.render()
        assert base64.b64encode(BUILD.beam).decode() in script and "erlc" not in script
        assert f"{hashlib.sha256(BUILD.beam).hexdigest()}  -" in script
    assert identityplan.actions(KEY, host, facts(CONVERGED, erl_erts, release), build) == []


def test_a_release_with_an_older_erts_than_the_hosts_erlc_is_refused_when_the_host_must_compile():
    f = facts({}, ("14.0",), ("erts-13.1.5",))
    with pytest.raises(PlanError, match="older ERTS than the host's erlc"):
        identityplan.actions(KEY, RELEASE, f, None)
    with pytest.raises(PlanError, match="older ERTS than the host's erlc"):
        identityplan.actions(KEY, RELEASE, f, distmod.Build(erts="14.0", beam=b"x"))
    assert labels(identityplan.actions(KEY, RELEASE, f, BUILD)) == [INSTALL]  # compiled here by its ERTS
    assert identityplan.listdirs(KEY, RELEASE) == ("/srv/rel",)
    assert identityplan.listdirs(KEY, HOST) == () and identityplan.listdirs(NONE, RELEASE) == ()


@pytest.mark.parametrize("erts, node, loads", [
    ("13.1.5", "13.1.5", True), ("13.1.5", "13.1.6", True), ("13.1.5", "13.1", False), ("13.1.5", "14.0", False),
    ("13.1.5", None, False), ("13.1.5", "", False), ("13.1.5", "13.x", False), ("", "13.1.5", False),
])
def test_a_build_loads_on_the_same_major_not_older(erts, node, loads):
    assert distmod.Build(erts=erts, beam=b"x").loads_on(node) is loads
    assert not distmod.Build(erts=erts).loads_on(node)  # no module: nothing loads


def test_the_erts_fact_and_the_compile_here_read_the_same_version_of_this_machines_erl():
    """The facts script run here by sh, and distbuild's compile with this machine's erl (Debian's
    erlang-base, which .ci/setup installs): two ways of asking, one answer."""
    q = Query("mb0", (), (), erl_erts=True)
    out = subprocess.run(["sh", "-c", probes.facts_script(q).render()], capture_output=True, text=True, check=True)
    built = distbuild.compile_here()
    assert built.beam.startswith(b"FOR1") and not built.why_not
    assert probes.parse_facts(out.stdout, q).erl_erts == (built.erts,)
    assert distbuild.compile_here().beam == built.beam  # deterministic: the same source, the same bytes


def test_a_running_node_is_told_it_changes_mode_at_its_next_restart():
    def with_vm(text: bytes) -> Facts:
        f = facts({})
        return replace(f, files={**f.files, HOST.vm_args: FileFact(HOST.vm_args, True, 0o644, "root", text)})
    (note,) = identityplan.notes(KEY, HOST, with_vm(b"+K true\n"), True, None)
    assert "from its next restart on" in note
    assert identityplan.notes(KEY, HOST, with_vm(b"-proto_dist meshbeam\n"), True, None) == []
    assert identityplan.notes(KEY, HOST, with_vm(b"+K true\n"), False, None) == []
    assert identityplan.notes(NONE, HOST, with_vm(b"+K true\n"), True, None) == []
