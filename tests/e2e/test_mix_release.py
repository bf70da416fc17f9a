"""A mix release end to end: env.sh, releases/COOKIE and vm.args of a real release (Debian's elixir)."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess

import pytest

from meshbeam import sandbox
from tests.conftest import SETTLE

from .conftest import Meshbeam, eventually, mesh_ip, sh

pytestmark = pytest.mark.e2e
SANDBOX_PREFIX = "mbtmx"
SERVERS = ("s1", "s2", "s3")
REL = "/srv/demo"
VM_ARGS = f"{REL}/releases/0.1.0/vm.args"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> bytes:
    """`mix new demo` + `MIX_ENV=prod mix release`, offline (no dependencies); returns it as a tar stream."""
    assert shutil.which("mix"), "Debian's elixir must be installed for this test (.ci/setup installs it)"
    work = tmp_path_factory.mktemp("mix")
    env = {**os.environ, "HOME": str(work), "MIX_HOME": str(work / ".mix"), "MIX_ENV": "prod"}
    subprocess.run(["mix", "new", "demo"], cwd=work, env=env, check=True, capture_output=True)
    subprocess.run(["mix", "release", "--quiet"], cwd=work / "demo", env=env, check=True, capture_output=True)
    rel = work / "demo" / "_build" / "prod" / "rel" / "demo"
    return subprocess.run(["tar", "-C", str(rel), "-c", "."], check=True, capture_output=True).stdout


def rpc(mb: Meshbeam, host: str, call: str) -> str:
    """Evaluate a call on the host's release node through its allowed control name."""
    ip = mesh_ip(mb, host)
    home = "/srv/probe-home"
    sh(mb.box, host, f"mkdir -p {home} && install -m 400 {REL}/releases/COOKIE {home}/.erlang.cookie")
    expr = f"io:format(\"~p\", [rpc:call('demo@{ip}', {call})]), halt()."
    argv = ["env", f"HOME={home}", "erl", "-noshell", "-hidden", "-dist_listen", "false", "-start_epmd", "false",
            "-name", f"meshbeam_ctl@{ip}", "-eval", expr]
    return sandbox.run(mb.box, host, argv, timeout=30).stdout.strip()


@pytest.fixture(scope="module")
def mb(sb, release, tmp_path_factory):
    for h in SERVERS:
        sandbox.run(sb, h, ["sh", "-c", f"mkdir -p {REL} && tar -C {REL} -x"], input=release)
    mb = Meshbeam(tmp_path_factory.mktemp("mix") / "inv", sb)
    mb("init", "--cidr", "198.18.4.0/24")
    for s in sb.servers:
        mb("add-host", s.name, f"root@{s.address}", "--vm-args", VM_ARGS, "--mix-release", "--node-name", "demo")
    mb.up_output = mb("up").output
    logs = tmp_path_factory.mktemp("mix-logs")
    nodes = [sandbox.spawn(sb, h, ["env", "HOME=/root", f"{REL}/bin/demo", "start"], log=logs / f"{h}.log")
             for h in SERVERS]
    for h in SERVERS:
        assert eventually(lambda: rpc(mb, h, "erlang, node, []") == f"'demo@{mesh_ip(mb, h)}'", timeout=40), \
            (logs / f"{h}.log").read_text()
    for a, b in itertools.permutations(SERVERS, 2):  # the mesh is whole before any test looks at it
        assert eventually(lambda: rpc(mb, a, f"net_adm, ping, ['demo@{mesh_ip(mb, b)}']") == "pong", timeout=SETTLE), \
            f"{a} -> {b} before the tests"
    yield mb
    for p in nodes:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_env_sh_names_the_node_and_vm_args_has_no_name(mb):
    env = sh(mb.box, "s1", f"cat {REL}/releases/0.1.0/env.sh").stdout
    assert "export RELEASE_DISTRIBUTION=name" in env
    assert f"export RELEASE_NODE=demo@{mesh_ip(mb, 's1')}" in env
    vm = sh(mb.box, "s1", f"cat {VM_ARGS}").stdout
    assert "-kernel inet_dist_use_interface {198,18,4,1}" in vm
    assert not any(line.startswith("-name") for line in vm.splitlines())


def test_cookie_is_the_release_cookie(mb):
    st = sh(mb.box, "s2", f"stat -c '%a' {REL}/releases/COOKIE").stdout.strip()
    assert st == "400"
    assert sh(mb.box, "s2", f"cat {REL}/releases/COOKIE").stdout == (mb.dir / "keys" / "cookie").read_text().strip()


def test_release_nodes_cluster_over_the_mesh(mb):
    for a, b in itertools.permutations(SERVERS, 2):
        assert rpc(mb, a, f"net_adm, ping, ['demo@{mesh_ip(mb, b)}']") == "pong", f"{a} -> {b}"


def test_up_says_plainly_that_the_stock_script_shows_the_cookie(mb):
    assert "passes the cookie as --cookie, so it shows in ps" in mb.up_output


def test_second_up_changes_nothing(mb):
    r = mb("up")
    assert "converged" not in r.output and "no changes" in r.output
