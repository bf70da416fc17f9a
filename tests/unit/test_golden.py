"""Renderers against golden files in tests/golden (byte for byte; `pytest --update-golden` rewrites them).

Inputs are fixed: X25519 keys derived from the member's name, RSA keys from tests/fixtures, a
probe output recorded on a sandbox host. So the same code renders the same bytes, and any change
to a renderer shows up as a diff of a golden file to review.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from meshbeam import firewall, inventory, keys, status, tinc, wireguard
from meshbeam.inventory import Host, Mesh, Peer
from meshbeam.keys import KeyStore

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _fixed(label: str) -> bytes:
    return hashlib.sha256(f"meshbeam golden {label}".encode()).digest()


def _private(name: str) -> str:
    return base64.b64encode(keys.clamp(_fixed(name))).decode()


def _wireguard_mesh() -> Mesh:
    def host(name: str, i: int, endpoint: str, **kw) -> Host:
        return Host(name, f"root@198.51.100.1{i}", f"198.18.0.{i}", endpoint, keys.public_key(_private(name)), **kw)

    return Mesh(
        hosts=(host("s1", 1, "198.51.100.11:51820"),
               host("s2", 2, "198.51.100.12:51999", vm_args="/srv/app/vm.args", node_name="web")),
        peers=(Peer("laptop", "198.18.0.3", keys.public_key(_private("laptop"))),),
    )


@pytest.fixture
def wg(tmp_path: Path) -> tuple[Mesh, KeyStore]:
    """The fixed mesh, with its secrets in a real keystore directory."""
    mesh = _wireguard_mesh()
    store = tmp_path / "keys"
    store.mkdir(mode=0o700)
    for m in mesh.members:
        (store / f"{m.name}.key").write_text(_private(m.name) + "\n")
    (store / keys.PSK_SECRET_FILE).write_text(base64.b64encode(_fixed("psk-secret")).decode() + "\n")
    return mesh, KeyStore(tmp_path)


@pytest.mark.parametrize("name", ["s1", "s2", "laptop"])
def test_wireguard_config(wg, golden, name):
    mesh, store = wg
    golden(f"wireguard_{name}.conf", wireguard.render(mesh, mesh.member(name), store))


def test_wireguard_render_all_writes_the_golden_configs(wg, golden):
    mesh, store = wg
    for name, conf in wireguard.render_all(mesh, store):
        golden(f"wireguard_{name}.conf", conf)


def _pem(i: int) -> str:
    return (FIXTURES / f"tinc_rsa_{i}.pem").read_text()  # test-only keys: never generated at test time


def _tinc_nodes() -> tuple[tinc.Node, tinc.Node, tinc.Node]:
    return (tinc.Node("s1", "198.18.2.1", tinc.public_pem(_pem(1)), "198.51.100.11:655"),
            tinc.Node("web-2", "198.18.2.2", tinc.public_pem(_pem(2)), "198.51.100.12:6655"),
            tinc.Node("lap-top", "198.18.2.3", tinc.public_pem(_pem(3)), None))


def test_tinc_files_of_a_server(golden):
    s1, web2, laptop = _tinc_nodes()
    files = tinc.render("mb0", "mb0", "198.18.2.0/24", s1, [laptop, web2], _pem(1), port=655)
    golden.tree("tinc_s1", {path: text for path, (text, _) in files.items()})


def test_tinc_bundle_of_a_roaming_peer(golden):
    s1, web2, laptop = _tinc_nodes()
    files = tinc.peer_bundle("mb0", "mb0", "198.18.2.0/24", laptop, [web2, s1], _pem(3), port=655)
    golden.tree("tinc_lap_top", {path: text for path, (text, _) in files.items()})


@pytest.mark.parametrize("name, kw", [
    ("ipv4", dict(interface="mb0", cidr="198.18.0.0/24", dist_port=9100, listen_port=51820)),
    ("ipv6_own_table", dict(interface="wg-x.1", cidr="fd00:18::/64", dist_port=4370, listen_port=655, table="mb_test")),
])
def test_nftables_ruleset(golden, name, kw):
    golden(f"nftables_{name}.nft", firewall.ruleset(**kw))


def test_nftables_delete_ruleset(golden):
    golden("nftables_delete.nft", firewall.delete_ruleset())


@pytest.mark.parametrize("probe", ["probe_s1", "probe_s1_broken"])
def test_status_of_a_probe_output(golden, probe):
    """probe_s1.txt was recorded on sandbox host s1 (3 servers running nodes, a laptop never
    connected); probe_s1_broken.txt is that output edited: EPMD on 0.0.0.0, s2's port blocked,
    s3 answering TCP but refusing the cookie."""
    rec = FIXTURES / "status"
    mesh = inventory.load(rec / "inventory")
    parsed = status.parse(mesh, mesh.host("s1"), (rec / f"{probe}.txt").read_text())
    golden(f"status_{probe}.json", json.dumps(status.to_json([parsed]), indent=2, sort_keys=True) + "\n")
