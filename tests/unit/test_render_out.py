"""`meshbeam render --out`: the files `up` would push, with their modes, for both backends."""

from __future__ import annotations

import stat
from pathlib import Path

from meshbeam import beamcfg, beamplan, inventory, tincplan, wireguard
from meshbeam.keys import KeyStore
from tests.conftest import invoke


def _files(out: Path) -> dict[str, tuple[bytes, int]]:
    return {str(f.relative_to(out)): (f.read_bytes(), stat.S_IMODE(f.stat().st_mode))
            for f in sorted(out.rglob("*")) if f.is_file()}


def test_wireguard_render_writes_what_up_would_push(inv, tmp_path):
    out = tmp_path / "out"
    r = invoke("render", "--out", str(out), "--dir", str(inv))
    assert r.exit_code == 0, r.output
    mesh, store = inventory.load(inv), KeyStore(inv)
    want = {f"{m.name}/mb0.conf": (wireguard.render(mesh, m, store).encode(), 0o600) for m in mesh.members}
    s3 = mesh.member("s3")  # the only host with --vm-args
    want["s3/vm.args.block"] = (beamcfg.render_block(beamplan.settings(mesh, s3)).encode(), 0o644)
    got = _files(out)
    assert {k: v for k, v in got.items() if k != "s3/nftables.nft"} == want
    assert got["s3/nftables.nft"][1] == 0o644 and b"table inet meshbeam" in got["s3/nftables.nft"][0]
    assert f"wrote {len(got)} files" in r.output


def test_tinc_render_writes_each_member_directory(tmp_path):
    d, out = tmp_path / "inv", tmp_path / "out"
    for args in (("init", "--backend", "tinc", "--cidr", "198.18.0.0/24", "--port", "655"),
                 ("add-host", "s1", "198.51.100.11"), ("add-host", "s2", "198.51.100.12"), ("add-peer", "lap")):
        assert invoke(*args, "--dir", str(d)).exit_code == 0
    assert invoke("render", "--out", str(out), "--dir", str(d)).exit_code == 0
    mesh, store = inventory.load(d), KeyStore(d)
    want = {f"{m.name}/mb0/{rel}": (text.encode(), mode)
            for m in mesh.members for rel, (text, mode) in tincplan.files(mesh, m, store).items()}
    assert _files(out) == want
    assert want["s1/mb0/rsa_key.priv"][1] == 0o600
