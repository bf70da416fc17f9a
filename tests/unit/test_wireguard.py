import os
import shutil
import subprocess
from pathlib import Path

from meshbeam import inventory, wireguard
from meshbeam.keys import KeyStore


def _render_all(inv: Path) -> dict[str, str]:
    mesh = inventory.load(inv)
    store = KeyStore(inv)
    return {m.name: wireguard.render(mesh, m, store) for m in mesh.members}


def test_render_is_deterministic(inv):
    assert _render_all(inv) == _render_all(inv)


def test_server_config_lists_servers_with_endpoints_and_peers_without(inv):
    conf = _render_all(inv)["s1"]
    assert "ListenPort = 51820" in conf
    assert conf.count("[Peer]") == 3
    assert "Endpoint = 198.51.100.12:51999" in conf
    laptop = conf.split("# laptop")[1]
    assert "Endpoint" not in laptop and "AllowedIPs = 198.18.0.4/32" in laptop
    assert "PersistentKeepalive" not in conf


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
    assert wg_quick, "wireguard-tools must be installed for this test (.ci/run installs it)"
    for name, conf in _render_all(inv).items():
        path = tmp_path / "mb0.conf"
        path.write_text(conf)
        os.chmod(path, 0o600)
        r = subprocess.run([wg_quick, "strip", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, (name, r.stderr)
        assert "Address" not in r.stdout and "[Interface]" in r.stdout


def test_render_all_is_byte_identical_to_render(inv):
    mesh = inventory.load(inv)
    store = KeyStore(inv)
    assert dict(wireguard.render_all(mesh, store)) == _render_all(inv)
