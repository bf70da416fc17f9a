"""meshbeam's systemd units on hosts that boot real systemd: the firewall, the mesh, EPMD and the node come back
by themselves after a reboot, and EPMD and the distribution port are never reachable off the mesh on the way.

The units are installed here by the test itself (the files units.py renders, written with sandbox.run), with a
hand-made two-host wg-quick mesh, so the units are tested apart from `up`; test_systemd_converge.py tests them as
`up` installs them and `down` removes them.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from meshbeam import firewall, sandbox, units

from .conftest import eventually, sh

pytestmark = pytest.mark.e2e

SANDBOX_PREFIX = "mbsdu"
IFACE, CIDR, DIST_PORT, WG_PORT = "mb0", "198.18.7.0/24", 9100, 51820
MESH = {"s1": "198.18.7.1", "s2": "198.18.7.2"}
COOKIE = "meshbeamSystemdUnitsTestCookie0123456789"
NODE_UNIT = "app.service"
# The user's own unit for the node, as a user of `--service` would have it: it knows nothing of the mesh.
NODE_SERVICE = """[Unit]
Description=test BEAM node

[Service]
Environment=HOME=/root
ExecStart=/usr/bin/erl -noshell -noinput -name app@{ip} -kernel inet_dist_use_interface {{{tuple}}} \\
  -kernel inet_dist_listen_min {port} inet_dist_listen_max {port}

[Install]
WantedBy=multi-user.target
"""
# A short-lived node on the mesh that pings another: prints pong or pang.
PING = ('HOME=/root erl -noshell -name "ctl$$@$1" -kernel inet_dist_use_interface "{$(echo "$1" | tr . ,)}" '
        '-eval "io:format(\\"~p~n\\", [net_adm:ping(list_to_atom(\\"$2\\"))]), halt()."')


def put(box: sandbox.Sandbox, host: str, path: str, content: str, mode: str = "644") -> None:
    sandbox.run(box, host, ["sh", "-c", 'umask 077; mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"',
                            "-", path, mode], input=content.encode())


def wg_keys() -> tuple[str, str]:
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()
    public = subprocess.run(["wg", "pubkey"], input=private, capture_output=True, text=True, check=True).stdout.strip()
    return private, public


def install(box: sandbox.Sandbox, host: str, keys: dict[str, tuple[str, str]]) -> None:
    """What `up` will install on a server, by hand: the mesh config, the table file, the units and drop-ins."""
    me = box.host(host)
    peers = "".join(f"\n[Peer]\nPublicKey = {keys[h.name][1]}\nAllowedIPs = {MESH[h.name]}/32\n"
                    f"Endpoint = {h.address}:{WG_PORT}\nPersistentKeepalive = 25\n" for h in box.servers if h is not me)
    put(box, host, f"/etc/wireguard/{IFACE}.conf", f"[Interface]\nPrivateKey = {keys[host][0]}\n"
        f"Address = {MESH[host]}/24\nListenPort = {WG_PORT}\n{peers}", "600")
    put(box, host, units.FIREWALL_RULES_PATH,
        firewall.ruleset(interface=IFACE, cidr=CIDR, dist_port=DIST_PORT, listen_port=WG_PORT))
    for f in units.host_files(backend="wireguard", interface=IFACE, mesh_ip=MESH[host], epmd="mesh",
                              service=NODE_UNIT):
        put(box, host, f.path, f.content, oct(f.mode)[2:])
    put(box, host, f"/etc/systemd/system/{NODE_UNIT}",
        NODE_SERVICE.format(ip=MESH[host], tuple=MESH[host].replace(".", ","), port=DIST_PORT))
    put(box, host, "/root/.erlang.cookie", COOKIE + "\n", "400")
    sh(box, host, f"systemctl daemon-reload && systemctl enable --now {units.FIREWALL_UNIT} wg-quick@{IFACE} "
       f"&& systemctl restart {units.EPMD_SOCKET} && systemctl enable --now {NODE_UNIT}")


@pytest.fixture(scope="module")
def box() -> Iterator[sandbox.Sandbox]:
    sb = sandbox.up(2, prefix=SANDBOX_PREFIX, systemd=True)
    try:
        keys = {h.name: wg_keys() for h in sb.servers}
        for h in sb.servers:
            install(sb, h.name, keys)
        assert eventually(lambda: pong(sb, "s1", "s2") and pong(sb, "s2", "s1"), timeout=60), "no cluster"
        yield sb
    finally:
        sandbox.down(prefix=SANDBOX_PREFIX, purge=True)


def pong(box: sandbox.Sandbox, src: str, dst: str) -> bool:
    out = sandbox.run(box, src, ["sh", "-c", PING, "-", MESH[src], f"app@{MESH[dst]}"], check=False).stdout
    return out.strip() == "pong"


def listeners(box: sandbox.Sandbox, host: str, port: int) -> set[str]:
    local = [line.split()[3] for line in sh(box, host, "ss -Htln").stdout.splitlines()]
    return {a for a in local if a.endswith(f":{port}")}


def node_pid(box: sandbox.Sandbox, host: str) -> str:
    return sh(box, host, f"systemctl show -p MainPID --value {NODE_UNIT}").stdout.strip()


def connects(addr: tuple[str, int]) -> bool:
    s = socket.socket()
    s.settimeout(0.05)
    try:
        s.connect(addr)
        return True
    except OSError:  # refused, timed out, or no route while the host is down
        return False
    finally:
        s.close()


@contextmanager
def sampling(targets: list[tuple[str, int]]) -> Iterator[dict]:
    """From the machine's namespace (the underlay), try every target every 100 ms until the block ends."""
    seen: dict = {"samples": 0, "open": []}
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            seen["open"] += [t for t in targets if connects(t)]
            seen["samples"] += 1
            stop.wait(0.1)

    t = threading.Thread(target=loop)
    t.start()
    try:
        yield seen
    finally:
        stop.set()
        t.join()


@contextmanager
def mesh_route_via_underlay(box: sandbox.Sandbox, host: str) -> Iterator[None]:
    """A route on the machine that sends the host's mesh address over the underlay, as a neighbour on its LAN
    could: Linux accepts a packet for any local address on any interface, so only the table stops it."""
    route = [f"{MESH[host]}/32", "via", box.host(host).address]
    subprocess.run(["ip", "route", "add", *route], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "route", "del", *route], check=True)


def test_units_have_no_ordering_cycle(box):
    for h in box.servers:
        out = sh(box, h.name, "systemd-analyze verify --man=no multi-user.target 2>&1 || true").stdout
        assert "cycle" not in out and "meshbeam" not in out and "epmd" not in out, out


def test_epmd_listens_on_the_mesh_address_and_loopback_only(box):
    for h in box.servers:
        assert listeners(box, h.name, firewall.EPMD_PORT) == {f"{MESH[h.name]}:4369", "127.0.0.1:4369"}
        assert listeners(box, h.name, DIST_PORT) == {f"{MESH[h.name]}:{DIST_PORT}"}


def test_a_reboot_brings_everything_back_and_never_exposes_epmd_or_the_dist_port(box):
    s1 = box.host("s1")
    targets = [(addr, port) for addr in (s1.address, MESH["s1"]) for port in (firewall.EPMD_PORT, DIST_PORT)]
    with mesh_route_via_underlay(box, "s1"):
        with sampling(targets + [(s1.address, 22)]) as seen:
            assert eventually(lambda: (s1.address, 22) in seen["open"], timeout=10)  # the sampler does see an open port
            seen["open"].clear()
            seen["samples"] = 0
            box = sandbox.reboot(box, "s1")
            assert eventually(lambda: pong(box, "s2", "s1") and pong(box, "s1", "s2"), timeout=60)
        # Sampled all along the reboot (each sample tries every target, so a few a second on a busy machine).
        assert seen["samples"] >= 2, seen
        exposed = [t for t in seen["open"] if t in targets]
        assert not exposed, f"reachable off the mesh during the reboot: {exposed}"
    assert sh(box, "s1", f"systemctl is-active {units.FIREWALL_UNIT} wg-quick@{IFACE} {units.EPMD_SOCKET} "
              f"{NODE_UNIT}").stdout.split() == ["active"] * 4
    assert listeners(box, "s1", firewall.EPMD_PORT) == {f"{MESH['s1']}:4369", "127.0.0.1:4369"}
    assert "name app at port 9100" in sh(box, "s1", "epmd -names").stdout


def test_a_mesh_restart_keeps_the_node_running(box):
    before = node_pid(box, "s1")
    sh(box, "s1", f"systemctl restart wg-quick@{IFACE}")
    assert node_pid(box, "s1") == before
    assert eventually(lambda: pong(box, "s2", "s1"), timeout=30)


def test_a_firewall_reload_keeps_the_node_and_a_deleted_table_comes_back(box):
    before = node_pid(box, "s1")
    sh(box, "s1", "nft delete table inet meshbeam")
    # The unit still says active: only the table itself tells whether the firewall is there.
    assert sh(box, "s1", f"systemctl is-active {units.FIREWALL_UNIT}").stdout.strip() == "active"
    sh(box, "s1", f"systemctl reload {units.FIREWALL_UNIT}")
    assert sh(box, "s1", "nft list tables").stdout.split() == ["table", "inet", "meshbeam"]
    assert node_pid(box, "s1") == before


def test_restarting_epmd_socket_under_a_running_node_keeps_it_registered(box):
    before = node_pid(box, "s1")
    sh(box, "s1", f"systemctl restart {units.EPMD_SOCKET}")
    assert node_pid(box, "s1") == before
    assert eventually(lambda: "name app at port 9100" in sh(box, "s1", "epmd -names").stdout, timeout=30)
    assert eventually(lambda: pong(box, "s2", "s1"), timeout=30)


def test_epmd_none_masks_epmd_and_teardown_restores_debians_default(box):
    """--epmd none: epmd.socket and epmd.service masked, nothing on 4369 after a reboot. Then what `down`
    will do: drop-ins and units gone, EPMD unmasked, and after a reboot nothing of meshbeam is left."""
    sh(box, "s2", f"systemctl disable --now {NODE_UNIT} && rm -rf {units.EPMD_DROPIN_PATH.rsplit('/', 1)[0]} "
       f"&& systemctl mask --now {units.EPMD_SOCKET} {units.EPMD_SERVICE} && systemctl daemon-reload")
    box = sandbox.reboot(box, "s2")
    assert not listeners(box, "s2", firewall.EPMD_PORT)
    assert sh(box, "s2", f"systemctl is-system-running; systemctl is-enabled {units.EPMD_SOCKET}",
              check=False).stdout.split() == ["running", "masked"]

    dropin_dir = units.node_dropin_path(NODE_UNIT).rsplit("/", 1)[0]
    sh(box, "s2", f"systemctl unmask {units.EPMD_SOCKET} {units.EPMD_SERVICE} && rm -rf {dropin_dir} "
       f"&& systemctl daemon-reload && systemctl disable --now {units.FIREWALL_UNIT} wg-quick@{IFACE} "
       f"&& rm -f {units.FIREWALL_UNIT_PATH} {units.FIREWALL_RULES_PATH} && systemctl daemon-reload "
       f"&& systemctl start {units.EPMD_SOCKET}")
    box = sandbox.reboot(box, "s2")
    assert listeners(box, "s2", firewall.EPMD_PORT) == {"*:4369"}
    assert not sh(box, "s2", "nft list tables").stdout.strip()
    assert sh(box, "s2", f"ip link show {IFACE}", check=False).returncode != 0
    # Debian's own enablement links (sockets.target.wants/epmd.socket, multi-user.target.wants/epmd.service) stay.
    left = sh(box, "s2", "find /etc/systemd/system -name '*meshbeam*' -o -name 'epmd.*' -not -path '*.wants/*'").stdout
    assert not left.split(), left
