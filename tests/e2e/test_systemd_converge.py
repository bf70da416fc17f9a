"""`up`, `status` and `down` on hosts that boot real systemd: the mesh and the cluster come back after reboots with
no `up`, and EPMD and the distribution port are never reachable off the mesh while the hosts boot.

Three systemd servers and the laptop behind NAT, per backend. Each server runs its node as a systemd service of
its own (the application's unit, which knows nothing of the mesh; `add-host --service` names it).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from meshbeam import firewall, sandbox, units

from .conftest import Meshbeam, assert_ssh_still_works, eventually, laptop_up, mesh_ip, sh

pytestmark = pytest.mark.e2e

SERVERS = ("s1", "s2", "s3")
VM_ARGS = "/srv/app/vm.args"
USER_VM_ARGS = "## the application's own flags\n+K true\n"
NODE_UNIT = "app.service"
# The application's own unit: it knows nothing of the mesh (meshbeam's drop-in orders it).
NODE_SERVICE = f"""[Unit]
Description=test BEAM node

[Service]
Environment=HOME=/root
ExecStart=/usr/bin/erl -args_file {VM_ARGS} -noshell -noinput

[Install]
WantedBy=multi-user.target
"""
DIST_PORT = 9100
BACKENDS = {  # interface, mesh range, port
    "wireguard": ("mb0", "198.18.8.0/24", "51820"),
    "tinc": ("mb0", "198.18.9.0/24", "655"),
}
BOOT_DEADLINE = 60.0  # seconds from the reboot until the mesh and the cluster are whole
# Tries every target (ADDR:PORT arguments) every 100 ms, all at once (a host that is down makes a connect wait):
# prints each target it finds open, and a line per round.
SAMPLER = """
import select, socket, sys, time
targets = [(a, int(p)) for a, p in (t.rsplit(":", 1) for t in sys.argv[1:])]
while True:
    began = time.monotonic()
    pending = {}
    for t in targets:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(t)
        pending[s] = t
    while pending and (left := began + 0.05 - time.monotonic()) > 0:
        for s in select.select([], list(pending), [], left)[1]:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                print("open %s:%d" % pending[s], flush=True)
            del pending[s]
            s.close()
    for s in pending:
        s.close()
    print("round", flush=True)
    time.sleep(max(0.0, began + 0.1 - time.monotonic()))
"""


def put(box: sandbox.Sandbox, host: str, path: str, content: str, mode: str = "644") -> None:
    sandbox.run(box, host, ["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"',
                            "-", path, mode], input=content.encode())


def unit_files_list(box: sandbox.Sandbox, host: str) -> list[str]:
    """`systemctl list-unit-files` without the test's own unit, which the test enables itself."""
    out = sh(box, host, "systemctl list-unit-files --no-legend --no-pager").stdout.splitlines()
    return sorted(line.split()[0] + " " + line.split()[1] for line in out if line.split() and
                  line.split()[0] != NODE_UNIT)


@pytest.fixture(scope="module", params=list(BACKENDS))
def mb(request, tmp_path_factory) -> Iterator[Meshbeam]:
    backend = request.param
    interface, cidr, port = BACKENDS[backend]
    prefix = f"mbsc{backend[:2]}"
    box = sandbox.up(3, laptop=True, prefix=prefix, systemd=True)
    try:
        for h in SERVERS:
            put(box, h, VM_ARGS, USER_VM_ARGS)
            put(box, h, f"{units.UNIT_DIR}/{NODE_UNIT}", NODE_SERVICE)
            sh(box, h, "systemctl daemon-reload")
        mb = Meshbeam(tmp_path_factory.mktemp(f"systemd-{backend}") / "inv", box)
        mb.before = {h: unit_files_list(box, h) for h in SERVERS}  # what `down` must leave
        # identity none: plain inet_tcp distribution, so this test depends on no node-side module
        mb("init", "--backend", backend, "--interface", interface, "--cidr", cidr, "--port", port,
           "--identity", "none")
        for s in box.servers:
            mb("add-host", s.name, f"root@{s.address}", "--vm-args", VM_ARGS, "--service", NODE_UNIT)
        mb.join_line = next(l.strip() for l in mb("add-peer", "laptop").output.splitlines()
                            if l.strip().startswith("erl -name"))
        mb.backend = backend
        yield mb
        assert_ssh_still_works(mb.box)
    finally:
        sandbox.down(prefix=prefix, purge=True)


def node(mb: Meshbeam, host: str) -> str:
    return f"app@{mesh_ip(mb, host)}"


def pings_from(mb: Meshbeam, src: str) -> str:
    """From a short-lived control node (on the host's allow list), the host's node pings every other node."""
    others = ", ".join(f"'{node(mb, h)}'" for h in SERVERS if h != src)
    expr = (f"io:format(\"~p\", [[rpc:call('{node(mb, src)}', net_adm, ping, [N], 5000) || N <- [{others}]]]), "
            "halt().")
    argv = ["env", "HOME=/root", "erl", "-noshell", "-hidden", "-dist_listen", "false", "-start_epmd", "false",
            "-name", f"meshbeam_ctl@{mesh_ip(mb, src)}", "-eval", expr]
    return sandbox.run(mb.box, src, argv, timeout=30, check=False).stdout.strip()


def cluster_whole(mb: Meshbeam) -> bool:
    return all(pings_from(mb, h) == "[pong,pong]" for h in SERVERS)


def reaches_all(mb: Meshbeam, src: str) -> bool:
    """One ping from `src` to every other server's mesh address, all at once: a WireGuard peer whose session went
    with a rebooted server starts a new handshake only some seconds after its data went unanswered, so every
    server must get data in every round."""
    ips = [mesh_ip(mb, h) for h in SERVERS if h != src]
    script = 'for ip in "$@"; do (ping -c1 -W1 "$ip" >/dev/null 2>&1 || echo "down $ip") & done; wait'
    r = sandbox.run(mb.box, src, ["sh", "-c", script, "-", *ips], check=False)
    return r.returncode == 0 and not r.stdout.strip()


def mesh_whole(mb: Meshbeam, laptop: bool = True) -> bool:
    return all([reaches_all(mb, h) for h in SERVERS + (("laptop",) if laptop else ())])


def listeners(mb: Meshbeam, host: str, port: int) -> set[str]:
    local = [line.split()[3] for line in sh(mb.box, host, "ss -Htln").stdout.splitlines()]
    return {a for a in local if a.endswith(f":{port}")}


def laptop_join(mb: Meshbeam, target: str) -> str:
    sandbox.run(mb.box, "laptop", ["sh", "-c", "mkdir -p /root && umask 077 && cat > /root/.erlang.cookie"],
                input=(mb.dir / "keys" / "cookie").read_bytes())
    argv = mb.join_line.split() + ["-noshell", "-eval", f"io:format(\"~p\", [net_adm:ping('{target}')]), halt()."]
    return sandbox.run(mb.box, "laptop", ["env", "HOME=/root", *argv], timeout=30, check=False).stdout.strip()


# ---- sampling the underlay while hosts boot ------------------------------------------------------------------


@contextmanager
def _killed_after(p: subprocess.Popen, log: Path) -> Iterator[Path]:
    try:
        yield log
    finally:
        p.kill()
        p.wait()


def sampler_in(mb: Meshbeam, host: str, targets: list[str], log: Path):
    return _killed_after(sandbox.spawn(mb.box, host, ["python3", "-c", SAMPLER, *targets], log=log), log)


def sampler_here(targets: list[str], log: Path):
    """From the machine's own namespace, on the underlay bridge."""
    with open(log, "wb") as out:
        p = subprocess.Popen(["python3", "-c", SAMPLER, *targets], stdin=subprocess.DEVNULL, stdout=out)
    return _killed_after(p, log)


@contextmanager
def mesh_routes_via_underlay(mb: Meshbeam, hosts: list[str]) -> Iterator[None]:
    """Routes on the machine that send the hosts' mesh addresses over the underlay, as a neighbour on their LAN
    could: Linux accepts a packet for any local address on any interface, so only the table stops it."""
    routes = [[f"{mesh_ip(mb, h)}/32", "via", mb.box.host(h).address] for h in hosts]
    for r in routes:
        subprocess.run(["ip", "route", "add", *r], check=True)
    try:
        yield
    finally:
        for r in routes:
            subprocess.run(["ip", "route", "del", *r], check=True)


def _opened(log: Path) -> tuple[int, set[str]]:
    lines = log.read_text().splitlines()
    return sum(1 for l in lines if l == "round"), {l.split()[1] for l in lines if l.startswith("open ")}


def reboot(mb: Meshbeam, hosts: list[str]) -> None:
    """Reboot the hosts at once and wait until each has booted."""
    errors: list[BaseException] = []

    def one(h: str) -> None:
        try:
            sandbox.reboot(mb.box, h)
        except BaseException as e:  # noqa: BLE001 - reported below (a SandboxError names the host)
            errors.append(e)

    threads = [threading.Thread(target=one, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    mb.box = sandbox.load(prefix=mb.box.prefix)


def reboot_and_watch(mb: Meshbeam, hosts: list[str], tmp_path: Path) -> None:
    """Reboot `hosts` at once while samplers watch their underlay addresses from the laptop, from a server that
    stays up (if any) and from the machine; with no `up`, the mesh and the cluster are whole within the deadline."""
    underlay = [mb.box.host(h).address for h in hosts]
    closed = [f"{a}:{p}" for a in underlay for p in (firewall.EPMD_PORT, DIST_PORT)]
    mesh_via_underlay = [f"{mesh_ip(mb, h)}:{p}" for h in hosts for p in (firewall.EPMD_PORT, DIST_PORT)]
    control = f"{underlay[0]}:22"  # sshd: the samplers do see an open port
    neighbour = next((h for h in SERVERS if h not in hosts), None)
    with ExitStack() as stack:
        stack.enter_context(mesh_routes_via_underlay(mb, hosts))
        logs = {"laptop": stack.enter_context(sampler_in(mb, "laptop", closed + [control], tmp_path / "laptop.log"))}
        if neighbour:
            logs[neighbour] = stack.enter_context(sampler_in(mb, neighbour, closed + [control],
                                                             tmp_path / f"{neighbour}.log"))
        logs["machine"] = stack.enter_context(sampler_here(closed + mesh_via_underlay + [control],
                                                           tmp_path / "machine.log"))
        assert eventually(lambda: all(control in _opened(l)[1] for l in logs.values()), timeout=15), \
            "a sampler never saw sshd: it would not see an open port either"
        start = time.monotonic()
        reboot(mb, hosts)
        left = BOOT_DEADLINE - (time.monotonic() - start)
        whole = eventually(lambda: mesh_whole(mb) and cluster_whole(mb), timeout=max(left, 1), interval=1)
    for where, log in logs.items():  # an exposure is the worse failure: it is reported first
        rounds, opened = _opened(log)
        assert rounds >= 5, f"the sampler on {where} ran only {rounds} rounds"
        exposed = sorted(opened - {control})
        assert not exposed, f"reachable off the mesh from {where} while {hosts} booted: {exposed}"
    assert whole, f"not whole {BOOT_DEADLINE:g} s after the reboot of {hosts}"


# ---- the tests, in order: converge, reboots, status, down -----------------------------------------------------


def test_up_converges_and_the_nodes_run_as_services(mb):
    r = mb("up")
    assert "converged" in r.output and "does not run systemd" not in r.output, r.output
    for h in SERVERS:
        sh(mb.box, h, f"systemctl enable --now {NODE_UNIT}")
    assert eventually(lambda: mesh_whole(mb, laptop=False), timeout=60), "the mesh is not whole after up"
    assert eventually(lambda: cluster_whole(mb), timeout=60), [pings_from(mb, h) for h in SERVERS]
    unit = units.mesh_unit(mb.backend, "mb0")
    for h in SERVERS:
        active = sh(mb.box, h, f"systemctl is-enabled {units.FIREWALL_UNIT} {unit} {NODE_UNIT}; "
                               f"systemctl is-active {units.FIREWALL_UNIT} {unit} {units.EPMD_SOCKET} {NODE_UNIT}",
                    check=False).stdout.split()
        assert active == ["enabled"] * 3 + ["active"] * 4, (h, active)
        assert listeners(mb, h, firewall.EPMD_PORT) == {f"{mesh_ip(mb, h)}:4369", "127.0.0.1:4369"}
        assert listeners(mb, h, DIST_PORT) == {f"{mesh_ip(mb, h)}:{DIST_PORT}"}
    r = mb("up")
    assert "no changes" in r.output and "converged" not in r.output, r.output  # nothing restarted twice


def test_the_laptop_joins(mb):
    laptop_up(mb, "laptop")
    assert eventually(lambda: mesh_whole(mb), timeout=60), "the laptop does not reach every server"
    assert eventually(lambda: laptop_join(mb, node(mb, "s1")) == "pong", timeout=60)


def test_a_rebooted_host_comes_back_whole_and_never_exposes_epmd_or_the_dist_port(mb, tmp_path):
    reboot_and_watch(mb, ["s1"], tmp_path)
    assert listeners(mb, "s1", firewall.EPMD_PORT) == {f"{mesh_ip(mb, 's1')}:4369", "127.0.0.1:4369"}
    assert sh(mb.box, "s1", "nft list tables").stdout.split() == ["table", "inet", "meshbeam"]


def test_three_hosts_rebooted_at_once_come_back_whole(mb, tmp_path):
    reboot_and_watch(mb, list(SERVERS), tmp_path)
    assert eventually(lambda: laptop_join(mb, node(mb, "s2")) == "pong", timeout=30)


def test_a_changed_epmd_drop_in_is_rewritten_and_the_running_node_registers_again(mb):
    before = sh(mb.box, "s3", f"systemctl show -p MainPID --value {NODE_UNIT}").stdout.strip()
    sh(mb.box, "s3", f"echo '# edited by hand' >> {units.EPMD_DROPIN_PATH}")
    r = mb("up")
    assert "restart epmd.socket" in r.output, r.output
    assert sh(mb.box, "s3", f"systemctl show -p MainPID --value {NODE_UNIT}").stdout.strip() == before
    assert eventually(lambda: "name app at port 9100" in sh(mb.box, "s3", "epmd -names", check=False).stdout,
                      timeout=10), "the running node did not register with the restarted EPMD"
    assert eventually(lambda: cluster_whole(mb), timeout=30)


def test_status_reports_a_deleted_table_and_up_puts_it_back(mb):
    sh(mb.box, "s2", "nft delete table inet meshbeam")
    r = mb("status", ok=False)
    assert r.exit_code == 1 and "firewall table missing" in r.output, r.output
    r = mb("up")
    assert "load table inet meshbeam" in r.output, r.output
    assert sh(mb.box, "s2", "nft list tables").stdout.split() == ["table", "inet", "meshbeam"]
    assert eventually(lambda: mb("status", ok=False).exit_code == 0, timeout=30), mb.outputs[-1]


def test_down_then_a_reboot_leaves_nothing_of_meshbeam(mb):
    mb("down", "--yes")
    reboot(mb, list(SERVERS))
    for h in SERVERS:
        assert unit_files_list(mb.box, h) == mb.before[h], h
        left = sh(mb.box, h, f"find {units.UNIT_DIR} -name '*meshbeam*' -o -name 'epmd.*' -not -path '*.wants/*' "
                             f"-o -name 'tinc@*' -o -name '{NODE_UNIT}.d'; ls -d /etc/meshbeam 2>/dev/null",
                  check=False).stdout.split()
        assert not left, (h, left)
        assert not sh(mb.box, h, "nft list tables").stdout.strip(), h
        assert sh(mb.box, h, "ip link show mb0", check=False).returncode != 0, h
        assert listeners(mb, h, firewall.EPMD_PORT) == {"*:4369"}, h  # Debian's epmd.socket, every address
        assert sh(mb.box, h, f"systemctl is-active {units.EPMD_SOCKET}").stdout.strip() == "active"
