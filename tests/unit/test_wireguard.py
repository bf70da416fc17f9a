import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from meshbeam import inventory, wireguard
from meshbeam.errors import InputError
from meshbeam.keys import KeyStore
from tests.conftest import build_inventory


def _render_all(inv: Path) -> dict[str, str]:
    mesh = inventory.load(inv)
    store = KeyStore(inv)
    return {m.name: wireguard.render(mesh, m, store) for m in mesh.members}


def test_server_config_lists_servers_with_endpoints_and_peers_without(inv):
    conf = _render_all(inv)["s1"]
    assert "ListenPort = 51820" in conf
    assert conf.count("[Peer]") == 3
    assert "Endpoint = 198.51.100.12:51999" in conf
    laptop = conf.split("# laptop")[1]
    assert "Endpoint" not in laptop and "AllowedIPs = 198.18.0.4/32" in laptop
    assert "PersistentKeepalive" not in conf


def test_servers_set_the_mesh_mtu_and_no_routes_a_roaming_peer_keeps_wg_quicks_own(inv):
    """Table = off and MTU skip wg-quick's per-peer steps on servers; a laptop's networks change."""
    mesh, store = replace(inventory.load(inv), mtu=1380), KeyStore(inv)
    server, laptop = wireguard.render(mesh, mesh.host("s1"), store), wireguard.render(mesh, mesh.member("laptop"), store)
    assert "\nTable = off\nMTU = 1380\n" in server.split("[Peer]")[0]
    assert "Table" not in laptop and "MTU" not in laptop


def test_roaming_peer_dials_every_server_with_keepalive(inv):
    conf = _render_all(inv)["laptop"]
    assert "ListenPort" not in conf
    assert conf.count("[Peer]") == 3 and conf.count("PersistentKeepalive = 25") == 3
    assert conf.count("Endpoint = ") == 3


def test_allowed_ips_are_always_slash_32(inv):
    for conf in _render_all(inv).values():
        allowed = [l for l in conf.splitlines() if l.startswith("AllowedIPs")]
        assert allowed and all(l.endswith("/32") for l in allowed)


def test_both_sides_of_a_pair_share_one_psk(inv):
    confs = _render_all(inv)

    def psk_for(conf: str, name: str) -> str:
        block = conf.split(f"# {name}\n")[1]
        return next(l for l in block.splitlines() if l.startswith("PresharedKey")).split(" = ")[1]

    assert psk_for(confs["s1"], "s2") == psk_for(confs["s2"], "s1")
    assert psk_for(confs["s1"], "laptop") == psk_for(confs["laptop"], "s1")


def test_wg_quick_strip_accepts_every_config(inv, tmp_path):
    wg_quick = shutil.which("wg-quick")
    assert wg_quick, "wireguard-tools must be installed for this test (.ci/setup installs it)"
    for name, conf in _render_all(inv).items():
        path = tmp_path / "mb0.conf"
        path.write_text(conf)
        os.chmod(path, 0o600)
        # wg-quick re-runs itself through sudo unless its UID is 0: a user namespace maps us to 0.
        r = subprocess.run(["unshare", "--map-root-user", wg_quick, "strip", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, (name, r.stderr)
        assert "Address" not in r.stdout and "[Interface]" in r.stdout


def test_render_all_is_byte_identical_to_render(inv):
    mesh = inventory.load(inv)
    store = KeyStore(inv)
    assert dict(wireguard.render_all(mesh, store)) == {name: conf.encode() for name, conf in _render_all(inv).items()}


def test_render_all_matches_render_when_names_are_not_in_sorted_order(tmp_path):
    """Members in inventory order ≠ name order, with roaming peers sorting between hosts."""
    d = build_inventory(tmp_path / "inv", ("init", "--cidr", "198.18.0.0/24"), ("add-host", "zeta", "198.51.100.11"),
                        ("add-peer", "beta"), ("add-host", "alpha", "198.51.100.12"), ("add-peer", "aaa"),
                        ("add-host", "mid", "198.51.100.13"), ("add-peer", "zz"))
    mesh = inventory.load(d)
    assert [m.name for m in mesh.members] != sorted(m.name for m in mesh.members)
    store = KeyStore(d)
    assert dict(wireguard.render_all(mesh, store)) == {m.name: wireguard.render(mesh, m, store).encode()
                                                       for m in mesh.members}


def test_render_all_refuses_a_damaged_preshared_key_secret_before_the_first_config(inv):
    (inv / "keys" / "psk-secret").write_text("too short\n")
    with pytest.raises(InputError, match="psk-secret is damaged") as e:
        next(wireguard.render_all(inventory.load(inv), KeyStore(inv)))
    assert "\n" not in str(e.value)
