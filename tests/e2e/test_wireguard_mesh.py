"""The WireGuard mesh end to end: init, add-host x3, add-peer laptop, up, on real sshd + wireguard-go hosts."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest

from meshbeam import inventory, sandbox

from .conftest import Meshbeam, eventually, laptop_up, mesh_ip, ping, secrets_of, sh, tcp_session

pytestmark = pytest.mark.e2e
SANDBOX_PREFIX = "mbtwg"
SERVERS = ("s1", "s2", "s3")


@pytest.fixture(scope="module")
def mb(sb, tmp_path_factory) -> Meshbeam:
    mb = Meshbeam(tmp_path_factory.mktemp("wg") / "inv", sb)
    mb("init", "--cidr", "198.18.0.0/24")
    for s in sb.servers:
        mb("add-host", s.name, f"root@{s.address}")
    mb("add-peer", "laptop")
    r = mb("up")
    assert "converged" in r.output
    return mb


def assert_servers_ping_each_other(mb: Meshbeam) -> None:
    for a, b in itertools.permutations(SERVERS, 2):
        assert eventually(lambda: ping(mb.box, a, mesh_ip(mb, b))), f"{a} cannot ping {b} over the mesh"


def test_every_server_pings_every_other_over_the_mesh(mb):
    assert_servers_ping_each_other(mb)


def test_every_pair_has_a_handshake(mb):
    assert_servers_ping_each_other(mb)
    keys = {m.public_key: m.name for m in inventory.load(mb.dir).hosts}
    for s in SERVERS:
        out = sh(mb.box, s, "wg show mb0 latest-handshakes").stdout
        seen = {keys[k]: int(t) for k, t in (l.split() for l in out.splitlines()) if k in keys}
        for other in SERVERS:
            if other != s:  # 0: no handshake ever; the sandbox is new, so any other is this mesh's
                assert seen.get(other, 0) > 0, f"{s} has no handshake with {other}"


def test_config_on_host_is_0600_and_holds_no_foreign_private_key(mb):
    st = sh(mb.box, "s1", "stat -c '%a %U' /etc/wireguard/mb0.conf").stdout.split()
    assert st == ["600", "root"]
    conf = sh(mb.box, "s1", "cat /etc/wireguard/mb0.conf").stdout
    for other in ("s2", "s3", "laptop"):
        assert (mb.dir / "keys" / f"{other}.key").read_text().strip() not in conf
    running = sh(mb.box, "s1", "wg show mb0 private-key").stdout.strip()
    assert running == (mb.dir / "keys" / "s1.key").read_text().strip(), "clamped key as stored"


def test_laptop_behind_nat_reaches_every_server(mb):
    assert not ping(mb.box, "s1", "203.0.113.10"), "servers must not reach the laptop's LAN directly"
    laptop_up(mb, "laptop")
    for s in SERVERS:
        assert eventually(lambda: ping(mb.box, "laptop", mesh_ip(mb, s))), f"laptop cannot ping {s}"
    # and a server can now reach the laptop through the tunnel the laptop opened
    assert eventually(lambda: ping(mb.box, "s2", mesh_ip(mb, "laptop")))


def mtimes(mb: Meshbeam) -> dict[str, str]:
    return {s: sh(mb.box, s, "stat -c %Y.%Z /etc/wireguard/mb0.conf").stdout for s in SERVERS}


def test_second_up_changes_nothing(mb):
    before = mtimes(mb)
    r = mb("up")
    assert "no changes" in r.output and "converged" not in r.output
    assert mtimes(mb) == before


def test_adding_a_peer_keeps_a_live_tcp_connection(mb, tmp_path):
    with tcp_session(mb, "s1", "s2", tmp_path) as echo:
        assert echo("before") == "before"
        established = sh(mb.box, "s2", "ss -tnH state established dport 7777").stdout
        mb("add-peer", "laptop2")
        r = mb("up")
        assert re.search(r"wg syncconf mb0", r.output), r.output
        assert "wg-quick up" not in r.output, "a live interface is never taken down and up"
        assert echo("after") == "after"
        assert sh(mb.box, "s2", "ss -tnH state established dport 7777").stdout == established
    assert "laptop2" in sh(mb.box, "s3", "cat /etc/wireguard/mb0.conf").stdout


def ssh_config_with(mb: Meshbeam, tmp_path: Path, known_hosts: str, head: str = "") -> Path:
    """A copy of the sandbox's ssh_config that reads `known_hosts` instead, with `head` put first."""
    known, cfg = tmp_path / "known_hosts", tmp_path / "ssh_config"
    known.write_text(known_hosts)
    cfg.write_text(head + mb.box.ssh_config.read_text().replace(str(mb.box.known_hosts), str(known)))
    return cfg


def test_unknown_host_key_is_refused(mb, tmp_path):
    """An unknown host key is a clear error naming the host; the others still converge."""
    cfg = ssh_config_with(mb, tmp_path, "")
    r = mb("up", "--ssh-config", str(cfg), ok=False)
    assert r.exit_code == 1
    assert "host key of root@198.51.100.11:22 is unknown" in r.output


def test_changed_host_key_is_refused_as_a_possible_man_in_the_middle(mb, tmp_path):
    """known_hosts pairs s1's address with another key (s2's): s1 is refused, the others converge."""
    s1, s2 = mb.box.host("s1").address, mb.box.host("s2").address
    keys = {line.split()[0]: line.split()[1:] for line in mb.box.known_hosts.read_text().splitlines()}
    forged = "".join(f"{addr} {' '.join(keys[s2] if addr == s1 else key)}\n" for addr, key in keys.items())
    cfg = ssh_config_with(mb, tmp_path, forged)
    r = mb("up", "--ssh-config", str(cfg), ok=False)
    assert r.exit_code == 1
    assert f"host key of root@{s1}:22 does not match known_hosts: it CHANGED" in r.output, r.output
    assert re.search(r"s2\s+│ no changes", r.output) and re.search(r"s3\s+│ no changes", r.output), r.output
    assert (tmp_path / "known_hosts").read_text() == forged, "known_hosts is never written back"


def test_proxyjump_hops_have_their_host_keys_checked_too(mb, tmp_path):
    """s3 reached through s1 (ProxyJump in ssh_config): with s1's key missing from known_hosts the
    hop is refused, though s3's own key is known, and a direct connection would have worked."""
    s1, s3 = mb.box.host("s1").address, mb.box.host("s3").address
    jump = f"Host {s3}\n  ProxyJump root@{s1}\n"
    known = mb.box.known_hosts.read_text()
    cfg = ssh_config_with(mb, tmp_path, known, jump)
    assert mb("up", "--ssh-config", str(cfg)).exit_code == 0, "through the hop, with every key known"
    without_s1 = "".join(l for l in known.splitlines(keepends=True) if not l.startswith(f"{s1} "))
    cfg = ssh_config_with(mb, tmp_path, without_s1, jump)
    r = mb("up", "--ssh-config", str(cfg), ok=False)
    assert r.exit_code == 1
    assert f"s3: cannot plan: host key of root@{s1}:22 (ProxyJump hop to root@{s3}:22) is unknown" in r.output, \
        r.output
    assert re.search(r"s2\s+│ no changes", r.output), r.output


def test_a_dead_sshd_fails_only_its_host_and_a_rebooted_host_rejoins(mb):
    """One unreachable host never stops the others; after a reboot, `up` brings it back into the mesh."""
    sh(mb.box, "s3", "kill $(cat /run/sshd.pid)")
    mb("add-peer", "laptop3")
    r = mb("up", ok=False)
    assert r.exit_code == 1
    assert re.search(r"s3\s+│ failed\s+│ cannot reach root@198.51.100.13:22", r.output), r.output
    assert re.search(r"s1\s+│ converged", r.output) and re.search(r"s2\s+│ converged", r.output)
    laptop3 = inventory.load(mb.dir).member("laptop3").public_key
    assert laptop3 in sh(mb.box, "s1", "wg show mb0 peers").stdout.split(), "s1 knows laptop3 live"
    mb.box = sandbox.reboot(mb.box, "s3")  # its namespace rebuilt from the same disk: no interface any more
    assert sh(mb.box, "s3", "ip link show mb0", check=False).returncode != 0
    r = mb("up")
    assert re.search(r"s3\s+│ converged", r.output) and "wg-quick up mb0" in r.output
    assert re.search(r"s1\s+│ no changes", r.output)
    assert eventually(lambda: ping(mb.box, "s1", mesh_ip(mb, "s3")))


def test_a_revoked_laptop_can_no_longer_handshake(mb):
    laptop = inventory.load(mb.dir).member("laptop")
    assert eventually(lambda: ping(mb.box, "laptop", mesh_ip(mb, "s1")))
    mb("remove-peer", "laptop")
    for f in (mb.dir / "keys").iterdir():  # no key file of its own, no stored key naming it
        assert f.name != "laptop.key" and "laptop" not in f.read_text().split(), f"{f.name} still holds the laptop"
    r = mb("up")
    assert "wg syncconf mb0" in r.output
    for s in SERVERS:
        assert laptop.public_key not in sh(mb.box, s, "wg show mb0 peers").stdout, f"{s} still knows the laptop live"
        assert laptop.public_key not in sh(mb.box, s, "cat /etc/wireguard/mb0.conf").stdout
    assert not any(ping(mb.box, "laptop", laptop_ip) for laptop_ip in [mesh_ip(mb, s) for s in SERVERS])
    before = _handshakes(mb, "laptop")
    time.sleep(6)  # WireGuard retries a handshake every 5 s; none may succeed
    assert not ping(mb.box, "laptop", mesh_ip(mb, "s1"))
    assert _handshakes(mb, "laptop") == before


def _handshakes(mb, host: str) -> dict[str, str]:
    """Peer public key -> time of its latest handshake (wireguard-go lists peers in random order)."""
    out = sh(mb.box, host, "wg show mb0 latest-handshakes").stdout
    return dict(line.split("\t") for line in out.splitlines())


def test_no_secret_in_any_output_or_remote_command_line(mb):
    mb("up", "--dry-run")
    printed = "\n".join(mb.outputs)
    for secret in secrets_of(mb):
        assert secret not in printed
    # Nor on any command line: the hosts share the machine's process list (no PID namespace), so
    # one look at /proc covers every host, and a random secret matches nothing else.
    for p in Path("/proc").iterdir():
        try:
            argv = (p / "cmdline").read_bytes() if p.name.isdigit() else b""
        except OSError:
            continue
        for secret in secrets_of(mb):
            assert secret.encode() not in argv, f"pid {p.name} shows a secret on its command line"


def test_a_connection_cut_mid_transfer_leaves_no_half_written_file(mb):
    """The apply script is cut off in transit over a real SSH channel: nothing is written or left behind."""
    from meshbeam import remote
    from meshbeam.plan import HostPlan, Write

    target = "/etc/wireguard/cut-test.conf"
    plan = HostPlan("s1", (Write(target, b"PrivateKey = (test)\n" * 5000, 0o600, "root", True, "new"),))
    script = remote.apply_script(plan).render().encode()
    conn = remote.connect(inventory.load(mb.dir).host("s1"), remote.SSHOptions(mb.box.ssh_config))
    try:
        chan = conn.transport.open_session()
        chan.exec_command("sh -s")
        chan.sendall(script[: len(script) // 2])
        chan.close()  # the connection drops: no EOF was sent, the rest never arrives
    finally:
        conn.close()
    time.sleep(1)
    left = sh(mb.box, "s1", "ls -A /etc/wireguard").stdout.split()
    assert "cut-test.conf" not in left and not any(".meshbeam." in f for f in left), left
