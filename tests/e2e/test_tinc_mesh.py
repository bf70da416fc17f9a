"""The same mesh on tinc 1.0, end to end, with a laptop behind NAT and a relayed path."""

from __future__ import annotations

import itertools

import pytest

from tests.conftest import SETTLE

from .conftest import Meshbeam, eventually, laptop_up, mesh_ip, ping, sh, tcp_session

pytestmark = pytest.mark.e2e
SANDBOX_PREFIX = "mbttc"
SERVERS = ("s1", "s2", "s3")


@pytest.fixture(scope="module")
def mb(sb, tmp_path_factory) -> Meshbeam:
    mb = Meshbeam(tmp_path_factory.mktemp("tinc") / "inv", sb)
    mb("init", "--backend", "tinc", "--cidr", "198.18.2.0/24", "--port", "655")
    for s in sb.servers:
        mb("add-host", s.name, f"root@{s.address}")
    mb("add-peer", "laptop")
    r = mb("up")
    assert "tincd -n mb0" in r.output and "converged" in r.output
    return mb


def test_every_server_pings_every_other_over_the_mesh(mb):
    for a, b in itertools.permutations(SERVERS, 2):
        assert eventually(lambda: ping(mb.box, a, mesh_ip(mb, b)), timeout=SETTLE), f"{a} cannot ping {b} over tinc"


def test_files_and_modes_on_a_host(mb):
    out = sh(mb.box, "s1", "cd /etc/tinc/mb0 && stat -c '%n %a' tinc.conf rsa_key.priv tinc-up hosts/*").stdout
    modes = dict(line.split() for line in out.splitlines())
    assert modes["rsa_key.priv"] == "600" and modes["tinc-up"] == "755"
    assert sorted(k for k in modes if k.startswith("hosts/")) == ["hosts/laptop", "hosts/s1", "hosts/s2", "hosts/s3"]


def test_laptop_behind_nat_reaches_every_server(mb):
    laptop_up(mb, "laptop")
    for s in SERVERS:
        assert eventually(lambda: ping(mb.box, "laptop", mesh_ip(mb, s)), timeout=SETTLE), f"laptop cannot ping {s}"


def test_second_up_changes_nothing(mb):
    stamp = "stat -c %Y.%Z /etc/tinc/mb0/tinc.conf /etc/tinc/mb0/hosts/*"
    before = {s: sh(mb.box, s, stamp).stdout for s in SERVERS}
    r = mb("up")
    assert "no changes" in r.output and "converged" not in r.output
    assert {s: sh(mb.box, s, stamp).stdout for s in SERVERS} == before


def test_adding_a_peer_reloads_and_keeps_a_live_tcp_connection(mb, tmp_path):
    with tcp_session(mb, "s1", "s2", tmp_path) as echo:
        assert echo("before") == "before"
        mb("add-peer", "laptop2")
        r = mb("up")
        assert "reload tincd -n mb0 (HUP)" in r.output and "converged" in r.output
        assert echo("after") == "after"
    assert sh(mb.box, "s3", "test -f /etc/tinc/mb0/hosts/laptop2").returncode == 0


def test_removed_peer_hosts_file_is_deleted(mb):
    mb("add-peer", "laptop4")
    mb("up")
    assert sh(mb.box, "s1", "test -f /etc/tinc/mb0/hosts/laptop4").returncode == 0
    mb("remove-peer", "laptop4")
    mb("up")
    for s in SERVERS:
        assert sh(mb.box, s, "test -e /etc/tinc/mb0/hosts/laptop4", check=False).returncode != 0


def test_blocked_underlay_path_is_relayed_through_a_third_server(mb):
    s3 = mb.box.host("s3").address
    sh(mb.box, "s1", f"nft add table inet mbtest; nft add chain inet mbtest c '{{ type filter hook input priority -10; }}'; "
       f"nft add rule inet mbtest c ip saddr {s3} drop; "
       f"nft add chain inet mbtest o '{{ type filter hook output priority -10; }}'; "
       f"nft add rule inet mbtest o ip daddr {s3} drop")
    try:
        assert sh(mb.box, "s1", f"ping -c1 -W1 {s3}", check=False).returncode != 0, "underlay s1-s3 is blocked"
        # Each side notices the dead meta connection after its own PingInterval + PingTimeout
        # (the timers are not in phase) and then routes via s2: wait for both directions.
        assert eventually(lambda: ping(mb.box, "s1", mesh_ip(mb, "s3")), timeout=90, interval=2)
        assert eventually(lambda: ping(mb.box, "s3", mesh_ip(mb, "s1")), timeout=90, interval=2)
    finally:
        sh(mb.box, "s1", "nft delete table inet mbtest")
