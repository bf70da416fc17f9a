"""meshbeam_dist end to end with real Erlang nodes on loopback addresses (no sandbox needed).

Node a@127.0.0.2 runs the module with an allowed file listing b@127.0.0.3. Peers are short-lived
probe nodes (`-dist_listen false`, so they neither listen nor register) that choose their
source address with inet_dist_connect_options, the way a WireGuard peer's address is its own
/32. The nodes use an EPMD of the test's own on a free port, started and killed here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshbeam import distmod

from .conftest import eventually

pytestmark = pytest.mark.e2e

A = "a@127.0.0.2"
B = "b@127.0.0.3"
FROM_1 = ()  # loopback connections leave from 127.0.0.1 unless told otherwise
FROM_3 = ("-kernel", "inet_dist_connect_options", "[{ip,{127,0,0,3}}]")
MESHBEAM = ("-proto_dist", distmod.PROTO)
WAIT = 30  # seconds any one node start or probe may take

# Probe modes, run as `-run mb_probe MODE TARGET`: print what the target answered, then halt.
PROBE = r"""
-module(mb_probe).
-export([ping/1, refused/1, loop/1]).

ping([Target]) ->
    io:format("~p~n", [net_adm:ping(list_to_atom(Target))]),
    halt().

refused([Target]) ->
    T = list_to_atom(Target),
    pong = net_adm:ping(T),
    io:format("~p~n", [rpc:call(T, meshbeam_dist, refused, [])]),
    halt().

loop([Target]) ->
    T = list_to_atom(Target),
    io:format("~p~n", [net_adm:ping(T)]),
    erlang:disconnect_node(T),
    timer:sleep(50),
    loop([Target]).
"""


@dataclass
class Erl:
    ebin: Path
    env: dict[str, str]
    epmd_port: int

    def start(self, name: str, log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(log, "wb") as out:
            return subprocess.Popen(["erl", "-noshell", "-start_epmd", "false", "-name", name, "-pa", str(self.ebin),
                                     *args], env=env or self.env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def probe(self, name: str, mode: str, *args: str, target: str = A, env: dict[str, str] | None = None) -> str:
        r = subprocess.run(["erl", "-noshell", "-start_epmd", "false", "-dist_listen", "false", "-name", name,
                            "-pa", str(self.ebin), *args, "-run", "mb_probe", mode, target],
                           env=env or self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=WAIT)
        assert r.returncode == 0, f"probe {name} {mode}: {r.stdout}{r.stderr}"
        return r.stdout.strip()


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=WAIT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int, ip: str | None = None) -> bool:
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return any(ip is None or line.split()[3] == f"{ip}:{port}" for line in out.splitlines())


@pytest.fixture(scope="module")
def erl(tmp_path_factory) -> Iterator[Erl]:
    for tool in ("erl", "erlc", "epmd", "ss"):
        assert shutil.which(tool), f"{tool} is missing: these tests need Erlang/OTP (erlang-base) and iproute2"
    d = tmp_path_factory.mktemp("meshbeam-dist")
    ebin = d / "ebin"
    ebin.mkdir()
    (d / f"{distmod.MODULE}.erl").write_bytes(distmod.source())
    (d / "mb_probe.erl").write_text(PROBE)
    for src in (f"{distmod.MODULE}.erl", "mb_probe.erl"):
        r = subprocess.run(["erlc", "-Wall", "-o", str(ebin), str(d / src)], capture_output=True, text=True)
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), f"erlc {src}: {r.stdout}{r.stderr}"
    home = d / "home"  # the nodes' cookie file, so no cookie appears on a command line
    home.mkdir()
    cookie = home / ".erlang.cookie"
    cookie.write_text("meshbeamdisttestcookie")
    cookie.chmod(0o400)
    port = free_port()
    env = {**os.environ, "HOME": str(home), "ERL_EPMD_PORT": str(port)}
    epmd = subprocess.Popen(["epmd", "-port", str(port), "-address", "127.0.0.1,127.0.0.2,127.0.0.3"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert eventually(lambda: listening(port), timeout=WAIT, interval=0.1), "the test's EPMD did not start"
        yield Erl(ebin, env, port)
    finally:
        epmd.kill()
        epmd.wait(timeout=WAIT)


@dataclass
class NodeA:
    proc: subprocess.Popen
    log: Path
    allowed: Path

    def logged(self) -> str:
        return self.log.read_text(errors="replace")

    def refusals(self, name: str, ip: str) -> int:
        return self.logged().count(f"meshbeam_dist: refused {name} from {ip}\n")


def allow(path: Path, *names: str) -> None:
    """Replace the allowed file the way `up` does: a new file renamed over the old one."""
    tmp = path.with_suffix(".new")
    tmp.write_text(distmod.render_allowed(names))
    tmp.rename(path)


def registered(erl: Erl, name: str) -> bool:
    r = subprocess.run(["epmd", "-port", str(erl.epmd_port), "-names"], env=erl.env, capture_output=True, text=True)
    return f"name {name} at port" in r.stdout


def start_a(erl: Erl, tmp: Path, *args: str, env: dict[str, str] | None = None) -> NodeA:
    allowed = tmp / "allowed"
    if not allowed.exists():
        allow(allowed, B)
    log = tmp / "a.log"
    proc = erl.start(A, log, *MESHBEAM, "-meshbeam", "allowed_file", str(allowed), *args, env=env)
    return NodeA(proc, log, allowed)


def wait_registered(erl: Erl, a: NodeA) -> None:
    assert eventually(lambda: registered(erl, "a") or a.proc.poll() is not None, timeout=WAIT, interval=0.1)
    assert a.proc.poll() is None, f"a@127.0.0.2 did not start:\n{a.logged()}"


@pytest.fixture
def node_a(erl: Erl, tmp_path: Path) -> Iterator[NodeA]:
    a = start_a(erl, tmp_path)
    try:
        wait_registered(erl, a)
        yield a
    finally:
        stop(a.proc)


def test_a_listed_name_from_another_address_is_refused_and_logged_with_both(erl: Erl, node_a: NodeA):
    assert erl.probe(B, "ping", *FROM_1) == "pang"
    assert eventually(lambda: node_a.refusals(B, "127.0.0.1") == 1), node_a.logged()
    assert erl.probe(B, "refused", *FROM_3) == '[{<<"b@127.0.0.3">>,{127,0,0,1},1}]'


@pytest.mark.parametrize("proto", [(), MESHBEAM], ids=["peer-inet_tcp", "peer-meshbeam"])
def test_a_listed_name_from_its_own_address_is_let_in(erl: Erl, node_a: NodeA, proto: tuple[str, ...]):
    assert erl.probe(B, "ping", *FROM_3, *proto) == "pong"
    assert "refused" not in node_a.logged()


def test_an_unlisted_name_is_refused_even_from_its_own_address(erl: Erl, node_a: NodeA):
    assert erl.probe("c@127.0.0.1", "ping", *FROM_1) == "pang"
    assert eventually(lambda: node_a.refusals("c@127.0.0.1", "127.0.0.1") == 1), node_a.logged()


def test_a_name_dropped_from_the_file_is_refused_from_its_next_connection_without_a_restart(erl: Erl, node_a: NodeA):
    assert erl.probe(B, "ping", *FROM_3) == "pong"
    allow(node_a.allowed, "d@127.0.0.4")
    assert erl.probe(B, "ping", *FROM_3) == "pang"
    assert eventually(lambda: node_a.refusals(B, "127.0.0.3") == 1), node_a.logged()
    allow(node_a.allowed, B)
    assert erl.probe(B, "ping", *FROM_3) == "pong"
    assert node_a.proc.poll() is None


def test_a_missing_allowed_file_refuses_everyone_and_is_logged_once(erl: Erl, node_a: NodeA):
    node_a.allowed.unlink()
    assert erl.probe(B, "ping", *FROM_3) == "pang"
    assert erl.probe(B, "ping", *FROM_3) == "pang"
    assert eventually(lambda: node_a.refusals(B, "127.0.0.3") == 2), node_a.logged()
    assert node_a.logged().count("meshbeam_dist: cannot read") == 1, node_a.logged()


def test_net_kernel_allow_narrows_the_file_further(erl: Erl, tmp_path: Path):
    allow(tmp_path / "allowed", B, "d@127.0.0.3")
    a = start_a(erl, tmp_path, "-eval", "ok = net_kernel:allow(['d@127.0.0.3']), io:format(\"allow set~n\")")
    try:
        wait_registered(erl, a)
        assert eventually(lambda: "allow set\n" in a.logged(), timeout=WAIT), a.logged()
        assert erl.probe("d@127.0.0.3", "ping", *FROM_3) == "pong"
        assert erl.probe(B, "ping", *FROM_3) == "pang"
        assert eventually(lambda: a.refusals(B, "127.0.0.3") == 1), a.logged()
    finally:
        stop(a.proc)


def test_no_connection_is_let_in_while_the_node_boots(erl: Erl, tmp_path: Path):
    """A peer that tries every 50 ms from before the node starts never gets in: the list
    applies from the first accepted connection, not from some later -eval."""
    intruder_log = tmp_path / "intruder.log"
    intruder = erl.start("c@127.0.0.1", intruder_log, "-dist_listen", "false", "-run", "mb_probe", "loop", A)
    a = None
    try:
        assert eventually(lambda: intruder_log.read_text().count("pang") >= 3, timeout=WAIT), intruder_log.read_text()
        a = start_a(erl, tmp_path)
        assert eventually(lambda: a.refusals("c@127.0.0.1", "127.0.0.1") >= 10, timeout=WAIT), a.logged()
    finally:
        stop(intruder)
        if a is not None:
            stop(a.proc)
    answers = intruder_log.read_text().split()
    assert "pong" not in answers and "pang" in answers, answers


def test_without_epmd(erl: Erl, tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in erl.env.items() if k != "ERL_EPMD_PORT"}  # no EPMD to ask
    no_epmd = ("-erl_epmd_port", str(port))
    a = start_a(erl, tmp_path, *no_epmd, "-kernel", "inet_dist_use_interface", "{127,0,0,2}", env=env)
    try:
        assert eventually(lambda: listening(port, "127.0.0.2") or a.proc.poll() is not None, timeout=WAIT,
                          interval=0.1)
        assert a.proc.poll() is None, a.logged()
        assert erl.probe(B, "ping", *FROM_3, *MESHBEAM, *no_epmd, env=env) == "pong"
        assert erl.probe(B, "ping", *FROM_1, *MESHBEAM, *no_epmd, env=env) == "pang"
        assert eventually(lambda: a.refusals(B, "127.0.0.1") == 1), a.logged()
    finally:
        stop(a.proc)
