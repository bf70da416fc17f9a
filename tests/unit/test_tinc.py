"""tinc 1.0 rendering: pure checks, then real tincd daemons in two throwaway network namespaces (marked e2e)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from meshbeam import tinc
from meshbeam.tinc import Node
from tests.conftest import SETTLE

NET = "mbtest"
IFACE = "mbt0"
MESH = "198.18.9.0/24"
PORT = 6655
NS = ("mbtt1", "mbtt2")
UNDERLAY = ("198.51.100.201", "198.51.100.202")
SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="module")
def pems() -> list[str]:
    """Fixed test keys: generating RSA keys here would cost seconds and make every run differ."""
    return [(FIXTURES / f"tinc_rsa_{i}.pem").read_text() for i in (1, 2, 3)]


def _node(pems: list[str], i: int, name: str, server: bool) -> Node:
    endpoint = f"198.51.100.{200 + i}:{PORT}" if server else None
    return Node(name, f"198.18.9.{i}", tinc.public_pem(pems[i - 1]), endpoint)


def _members(pems: list[str]) -> tuple[Node, Node, Node]:
    return _node(pems, 1, "s1", True), _node(pems, 2, "web-2", True), _node(pems, 3, "lap-top", False)


def _render(pems: list[str], me: Node, others: list[Node]) -> dict[str, tuple[str, int]]:
    i = int(me.address.rsplit(".", 1)[1])
    return tinc.render(NET, IFACE, MESH, me, others, pems[i - 1], port=PORT)


# ---- pure ----------------------------------------------------------------------------------


def test_render_is_deterministic(pems):
    s1, s2, lap = _members(pems)
    assert _render(pems, s1, [lap, s2]) == _render(pems, s1, [s2, lap])
    assert _render(pems, lap, [s1, s2]) == _render(pems, lap, [s2, s1, lap])


def test_tinc_name_maps_dashes_and_rejects_the_rest():
    assert tinc.tinc_name("web-1") == "web_1"
    assert tinc.tinc_name("A_b-9") == "A_b_9"
    for bad in ("", "a.b", "a b", "é", "a/b", "$HOST"):
        with pytest.raises(ValueError) as e:
            tinc.tinc_name(bad)
        assert "\n" not in str(e.value)


def test_render_rejects_names_that_collide_after_mapping(pems):
    s1, s2, _ = _members(pems)
    clash = Node("web_2", "198.18.9.4", s2.public_pem, None)
    with pytest.raises(ValueError, match="both map to tinc name 'web_2'"):
        _render(pems, s1, [s2, clash])


def test_server_files(pems):
    s1, s2, lap = _members(pems)
    files = _render(pems, s1, [lap, s2])
    hosts = ["hosts/lap_top", "hosts/s1", "hosts/web_2"]
    assert sorted(files) == [*hosts, "rsa_key.priv", "tinc-down", "tinc-up", "tinc.conf"]
    assert files["tinc.conf"][0] == (
        f"# tinc.conf of s1 in net {NET}, written by meshbeam: edit the inventory, not this file\n"
        f"Name = s1\nInterface = {IFACE}\nMode = router\nAddressFamily = ipv4\nPort = {PORT}\n"
        "PingInterval = 10\nPingTimeout = 3\nKeyExpire = 30\nConnectTo = web_2\n"
    )
    assert "Address = 198.51.100.202 6655\n" in files["hosts/web_2"][0]
    assert "Address" not in files["hosts/lap_top"][0]
    assert "Subnet = 198.18.9.3/32\n" in files["hosts/lap_top"][0]
    assert files["hosts/lap_top"][0].endswith(lap.public_pem)
    assert 'ip addr add 198.18.9.1/24 dev "$INTERFACE"' in files["tinc-up"][0]
    assert 'ip addr del 198.18.9.1/24 dev "$INTERFACE"' in files["tinc-down"][0]
    modes = {path: mode for path, (_, mode) in files.items()}
    assert modes["rsa_key.priv"] == 0o600 and modes["tinc-up"] == modes["tinc-down"] == 0o755
    assert modes["tinc.conf"] == modes["hosts/s1"] == 0o644


def test_roaming_peer_listens_anywhere_and_dials_every_server(pems):
    s1, s2, lap = _members(pems)
    conf = _render(pems, lap, [s2, s1])["tinc.conf"][0]
    assert "Port = 0\n" in conf
    assert [l for l in conf.splitlines() if l.startswith("ConnectTo")] == ["ConnectTo = s1", "ConnectTo = web_2"]


def test_peer_bundle_adds_a_readme_with_the_start_command(pems):
    s1, s2, lap = _members(pems)
    bundle = tinc.peer_bundle(NET, IFACE, MESH, lap, [s1, s2], pems[2], port=PORT)
    assert {k: v for k, v in bundle.items() if k != "README"} == _render(pems, lap, [s1, s2])
    assert f"    tincd -n {NET}\n" in bundle["README"][0]
    with pytest.raises(ValueError, match="not a roaming peer"):
        tinc.peer_bundle(NET, IFACE, MESH, s1, [s2, lap], pems[0], port=PORT)


def test_bad_input_is_rejected(pems):
    s1, s2, lap = _members(pems)
    outside = Node("far", "10.1.2.3", lap.public_pem, None)
    v6 = Node("v6", "198.18.9.5", lap.public_pem, "[2001:db8::1]:655")
    for others, message in (([outside], "outside the mesh"), ([v6], "IPv4 only")):
        with pytest.raises(ValueError, match=message):
            _render(pems, s1, others)
    with pytest.raises(ValueError, match="at least 2048"):
        tinc.generate_private_pem(1024)


def test_generated_pems_have_tincd_headers_and_match_openssl(tmp_path):
    private = tinc.generate_private_pem()
    public = tinc.public_pem(private)
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert public.startswith("-----BEGIN RSA PUBLIC KEY-----\n")
    openssl = shutil.which("openssl")
    assert openssl, "openssl must be installed for this test"
    key = tmp_path / "k.pem"
    key.write_text(private)
    out = subprocess.run([openssl, "rsa", "-in", key, "-RSAPublicKey_out"], capture_output=True, text=True, check=True)
    assert out.stdout == public
    bits = subprocess.run([openssl, "rsa", "-in", key, "-noout", "-text"], capture_output=True, text=True, check=True)
    assert "Private-Key: (3072 bit, 2 primes)" in bits.stdout


def test_pem_headers_are_those_tincd_k_writes(tmp_path):
    tincd = shutil.which("tincd", path=SBIN)
    assert tincd, "tinc must be installed for this test (.ci/setup installs it)"
    (tmp_path / "hosts").mkdir()
    (tmp_path / "tinc.conf").write_text("Name = k\n")
    subprocess.run([tincd, "-c", tmp_path, "-K2048"], stdin=subprocess.DEVNULL, capture_output=True, check=True)
    assert "-----BEGIN RSA PRIVATE KEY-----" in (tmp_path / "rsa_key.priv").read_text().splitlines()
    assert "-----BEGIN RSA PUBLIC KEY-----" in (tmp_path / "hosts" / "k").read_text().splitlines()


# ---- real tincd ----------------------------------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _delete_namespaces() -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    for name in (line.split()[0] for line in listed.splitlines() if line.strip()):
        if name.startswith("mbtt"):
            _ip("netns", "delete", name)


class Daemons:
    """tincd processes started by this test, each in its own namespace, killed by PID."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.procs = tmp, {}
        self.tincd = shutil.which("tincd", path=SBIN)
        assert self.tincd, "tinc must be installed for this test (.ci/setup installs it)"

    def write(self, ns: str, files: dict[str, tuple[str, int]], only_changed: bool = False) -> None:
        for rel, (text, mode) in files.items():
            path = self.tmp / ns / "etc" / rel
            if only_changed and path.exists() and path.read_text() == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(mode)

    def start(self, ns: str) -> None:
        d = self.tmp / ns
        cmd = ["ip", "netns", "exec", ns, self.tincd, "-c", d / "etc", "-D", "-d3", f"--pidfile={d / 'pid'}"]
        with open(d / "log", "ab") as log:  # -D: stays in the foreground, so Popen's PID is tincd's
            self.procs[ns] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.wait_log(ns, "Ready")  # else a peer started right after finds no listener and waits 5 s

    def log(self, ns: str) -> str:
        return (self.tmp / ns / "log").read_text()

    def logs(self) -> str:
        return "\n".join(f"--- {ns} ---\n{self.log(ns)[-3000:]}" for ns in self.procs)

    def wait_log(self, ns: str, text: str, since: int = 0, within: float = 10) -> None:
        deadline = time.monotonic() + within
        while text not in self.log(ns)[since:]:
            assert time.monotonic() < deadline, f"{ns}: no {text!r} in the tincd log within {within} s:\n{self.logs()}"
            assert self.procs[ns].poll() is None, f"tincd exited in {ns}:\n{self.logs()}"
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def daemons(tmp_path):
    assert os.geteuid() == 0, "the tincd test needs root (network namespaces, /dev/net/tun)"
    _delete_namespaces()  # debris of a crashed earlier run
    d = Daemons(tmp_path)
    try:
        for ns, addr in zip(NS, UNDERLAY):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", NS[0], "link", "add", "mbttv", "type", "veth", "peer", "name", "mbttv", "netns", NS[1])
        for ns, addr in zip(NS, UNDERLAY):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "mbttv")
            _ip("-n", ns, "link", "set", "mbttv", "up")
        yield d
    finally:
        d.stop()
        for ns in NS:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def _pings(ns: str, address: str) -> bool:
    cmd = ["ip", "netns", "exec", ns, "ping", "-c1", "-W1", address]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True).returncode == 0


def _wait_mesh(d: Daemons, within: float = SETTLE) -> None:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if _pings(NS[0], "198.18.9.2") and _pings(NS[1], "198.18.9.1"):
            return
        dead = [ns for ns, p in d.procs.items() if p.poll() is not None]
        assert not dead, f"tincd exited in {dead}:\n{d.logs()}"
        time.sleep(0.2)
    pytest.fail(f"no ping over the tinc mesh within {within} s:\n{d.logs()}")


def _udp_port(ns: str) -> str:
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Huan"], capture_output=True, text=True, check=True).stdout
    return out.split()[3].rsplit(":", 1)[1]  # tincd owns the namespace's only UDP socket


@pytest.mark.e2e  # root: network namespaces and /dev/net/tun
@pytest.mark.parametrize("second", ["server", "roaming"])
def test_real_tincd_mesh_pings_and_survives_a_reload(daemons, pems, second):
    d = daemons
    s1 = _node(pems, 1, "s1", True)
    m2 = _node(pems, 2, "web-2", second == "server")
    m3 = _node(pems, 3, "lap-top", False)
    d.write(NS[0], _render(pems, s1, [m2]))
    d.write(NS[1], _render(pems, m2, [s1]))
    t0 = time.monotonic()
    for ns in NS:
        d.start(ns)
    _wait_mesh(d)
    up = time.monotonic() - t0
    assert (d.tmp / NS[0] / "pid").read_text().split()[0] == str(d.procs[NS[0]].pid)
    if second == "roaming":  # Port = 0: s1 learns the kernel-picked UDP port, so data goes direct
        d.wait_log(NS[0], f"UDP address of web_2 set to 198.51.100.202 port {_udp_port(NS[1])}\n")
    print(f"{second}: mesh up {up:.1f} s after the first start")

    # tincd drops connections whose hosts file is newer than its last (re)load, in whole seconds.
    time.sleep(1.1)
    # A new member: write only what changed (hosts/lap_top), then reload. The tunnel stays.
    mark = len(d.log(NS[0]))
    d.write(NS[0], _render(pems, s1, [m2, m3]), only_changed=True)
    d.procs[NS[0]].send_signal(signal.SIGHUP)
    d.wait_log(NS[0], "Got HUP signal", mark)
    for _ in range(5):
        assert _pings(NS[0], "198.18.9.2"), f"ping lost after the reload:\n{d.logs()}"
    assert "Closing connection" not in d.log(NS[0])[mark:], d.logs()

    # Rewriting a peer's hosts file (new mtime) makes tincd drop that connection on HUP; it redials.
    mark = len(d.log(NS[1]))
    d.write(NS[1], _render(pems, m2, [s1, m3]))
    subprocess.run([d.tincd, "-c", d.tmp / NS[1] / "etc", f"--pidfile={d.tmp / NS[1] / 'pid'}", "-kHUP"], check=True)
    t0 = time.monotonic()
    d.wait_log(NS[1], "Closing connection with s1", mark)
    _wait_mesh(d)
    back = time.monotonic() - t0
    print(f"{second}: mesh back {back:.1f} s after a full rewrite and HUP")
