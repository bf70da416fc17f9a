"""No value reaches a host's shell unquoted, facts cannot be forged, and the scripts are golden.

The hostile values go straight into the dataclasses (dataclasses.replace), past the inventory's
validation, so these tests hold even if validation missed something. Here one value that holds
every kind of injection runs through every script once per backend; the full matrix (each
hostile value in each field alone) and the checks that need root to act as another user are in
tests/e2e/test_hostile_scripts.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from meshbeam import plan, probes, remote
from meshbeam.command import B64, Cmd, Secret, Sh, sh
from meshbeam.errors import PlanError
from meshbeam.inventory import Host, Mesh
from meshbeam.keys import KeyStore
from meshbeam.plan import FileFact
from tests.stubsh import (BACKENDS, Renamed, assert_no_value_runs, converged_facts, every_script, fixed_mesh,
                          fresh_facts, run_stubbed, stub_calls)

# Every way out of a quoted word, a heredoc or a command at once: if any one context quotes
# the value wrongly, one of these creates CANARY.
EVERY_ESCAPE = ("$(: >CANARY)`: >CANARY`'; : >CANARY; '\"; : >CANARY; \"a|: >CANARY&&: >CANARY\n: >CANARY\n"
                "MESHBEAM_EOF\n: >CANARY\n\\$(: >CANARY)${IFS}*-rf")


@pytest.fixture(params=BACKENDS)
def fixed(request, tmp_path) -> tuple[Mesh, KeyStore]:
    return fixed_mesh(request.param, tmp_path / "store")


def _together(mesh: Mesh, store: KeyStore, value: str) -> Iterator[tuple[str, Mesh, Host]]:
    """s2 with `value` in every field that only reaches scripts and that this backend's renderers
    accept (tinc refuses such a name or endpoint), so one set of scripts covers them all."""
    host, fields = mesh.host("s2"), []
    for field, change in (("vm_args", dict(vm_args=f"/srv/{value}/vm.args", run_user=value)),
                          ("endpoint", dict(endpoint=value)), ("name", dict(name=value))):
        candidate = replace(host, **change)
        try:
            list(every_script(replace(mesh, hosts=(mesh.hosts[0], candidate)), candidate, Renamed(store, value)))
        except (PlanError, ValueError):
            continue
        host, fields = candidate, fields + [field]
    assert fields[:1] == ["vm_args"], f"{mesh.backend}: a hostile vm_args path was refused: nothing reaches a script"
    yield "_".join(fields), replace(mesh, hosts=(mesh.hosts[0], host)), host


def test_no_hostile_value_runs_in_any_script(fixed, tmp_path):
    mesh, store = fixed
    assert_no_value_runs(mesh, store, EVERY_ESCAPE, _together(mesh, store, EVERY_ESCAPE), tmp_path / "runs")


def test_the_live_allow_script_quotes_its_names(fixed, tmp_path):
    mesh, store = fixed
    mesh = replace(mesh, identity="none")  # see stubsh.every_script: the keyed apply script writes under /etc
    host = mesh.host("s2")
    q = plan.query(mesh, host)
    p = plan.build(mesh, host, store, fresh_facts(q, {"iface", "tincd", "node-running"}))
    allow = [a for a in p.actions if "allow list" in a.label]
    assert allow and "read_owned /srv/mbapp-home/.erlang.cookie" in allow[0].script.render()
    r = run_stubbed(remote.apply_script(p), tmp_path / "run")
    erl = [c for c in stub_calls(tmp_path / "run") if c[0] == "erl"]
    assert r.returncode == 0, r.stderr.decode()
    assert erl and erl[0][-2] == "-eval" and "net_kernel, allow" in erl[0][-1]


# ---- the command type ---------------------------------------------------------------------------


def test_values_are_quoted_and_secrets_masked():
    c = sh("printf %s {} {} {}", "a b$(x)", Secret("s3cr3t"), 7) + Cmd(Sh("\n"), B64(b"key", secret=True))
    assert c.render() == "printf %s 'a b$(x)' s3cr3t 7\na2V5"
    assert c.shown() == "printf %s 'a b$(x)' '***' 7\n(secret, 3 bytes)"
    with pytest.raises(TypeError):
        Cmd(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        Cmd("a\0b")
    with pytest.raises(ValueError, match="slots"):
        sh("{} {}", "one")


# ---- facts: a hostile name cannot forge a record; links are reported, never read ---------------


def test_a_forged_line_is_an_error():
    q = plan.Query("mb0", ("/a",), ())
    with pytest.raises(remote.RemoteError, match="unexpected output"):
        probes.parse_facts("nofile 0\nfile /etc/passwd\n", q)


def test_a_link_is_refused_by_the_plan_naming_host_and_path(fixed):
    mesh, store = fixed
    host = mesh.host("s2")
    facts = fresh_facts(plan.query(mesh, host))
    key = "~mbapp/.erlang.cookie"
    facts.files[key] = FileFact(key, True, problem="is a symbolic link", actor="mbapp")
    for planner in (plan.build, plan.teardown):
        with pytest.raises(PlanError, match=r"s2: ~mbapp/\.erlang\.cookie is a symbolic link"):
            planner(mesh, host, store, facts)


# ---- golden scripts ------------------------------------------------------------------------------


def test_golden_scripts(fixed, golden):
    mesh, store = fixed
    host = mesh.host("s2")
    q = plan.query(mesh, host)
    build = plan.build(mesh, host, store, fresh_facts(q, {"iface", "tincd", "node-running"}))
    down = plan.teardown(mesh, host, store, converged_facts(mesh, host, store))
    golden(f"apply_script_{mesh.backend}.sh", remote.apply_script(build).shown())
    golden(f"teardown_script_{mesh.backend}.sh", remote.apply_script(down).shown())
