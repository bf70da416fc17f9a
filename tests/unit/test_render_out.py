"""`meshbeam render --out`: the files `up` would push, with their modes, for both backends."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from meshbeam import beamplan, inventory, tincplan, vmargs, wireguard
from meshbeam.keys import KeyStore
from meshbeam.ops import RENDER_MARK
from tests.conftest import invoke


def _files(out: Path) -> dict[str, tuple[bytes, int]]:
    return {str(f.relative_to(out)): (f.read_bytes(), stat.S_IMODE(f.stat().st_mode))
            for f in sorted(out.rglob("*")) if f.is_file() and f.name != RENDER_MARK}


def _tinc_files(d: Path) -> dict[str, tuple[bytes, int]]:
    """What render should write for the tinc inventory at `d`: each member's directory, as `up` pushes it."""
    mesh, store = inventory.load(d), KeyStore(d)
    return {f"{m.name}/mb0/{rel}": (text.encode(), mode)
            for m in mesh.members for rel, (text, mode) in tincplan.files(mesh, m, store).items()}


def test_wireguard_render_writes_what_up_would_push(inv, tmp_path):
    out = tmp_path / "out"
    r = invoke("render", "--out", str(out), "--dir", str(inv))
    assert r.exit_code == 0, r.output
    mesh, store = inventory.load(inv), KeyStore(inv)
    want = {f"{m.name}/mb0.conf": (wireguard.render(mesh, m, store).encode(), 0o600) for m in mesh.members}
    s3 = mesh.member("s3")  # the only host with --vm-args
    want["s3/vm.args.block"] = (vmargs.render_block(beamplan.settings(mesh, s3)).encode(), 0o644)
    got = _files(out)
    assert {k: v for k, v in got.items() if k != "s3/nftables.nft"} == want
    assert got["s3/nftables.nft"][1] == 0o644 and b"table inet meshbeam" in got["s3/nftables.nft"][0]
    assert f"wrote {len(got)} files" in r.output


def test_tinc_render_writes_each_member_directory(tinc_inv, tmp_path):
    d, out = tinc_inv, tmp_path / "out"
    assert invoke("render", "--out", str(out), "--dir", str(d)).exit_code == 0
    want = _tinc_files(d)
    assert _files(out) == want
    assert want["s1/mb0/rsa_key.priv"][1] == 0o600


def test_a_new_render_removes_what_the_mesh_no_longer_has(inv, tmp_path):
    out = tmp_path / "out"
    assert invoke("render", "--out", str(out), "--dir", str(inv)).exit_code == 0
    before = _files(out)
    (out / "s1" / ".mb0.conf.x1y2.tmp").write_text("left by a killed render")
    assert invoke("remove-peer", "laptop", "--dir", str(inv)).exit_code == 0
    r = invoke("render", "--out", str(out), "--dir", str(inv))
    assert r.exit_code == 0, r.output
    assert "removed 2 stale" in r.output  # laptop/mb0.conf and the temp file
    assert not (out / "laptop").exists()
    after = _files(out)
    assert set(after) == set(before) - {"laptop/mb0.conf"}
    assert b"# laptop" not in after["s1/mb0.conf"][0]
    assert invoke("render", "--out", str(out), "--dir", str(inv)).output.strip().endswith(f"under {out}")
    assert _files(out) == after, "an unchanged mesh renders the same bytes"


def test_a_removed_tinc_member_leaves_no_hosts_file_behind(tinc_inv, tmp_path):
    d, out = tinc_inv, tmp_path / "out"
    assert invoke("render", "--out", str(out), "--dir", str(d)).exit_code == 0
    assert (out / "s1" / "mb0" / "hosts" / "lap").exists()
    assert invoke("remove-peer", "lap", "--dir", str(d)).exit_code == 0
    assert invoke("render", "--out", str(out), "--dir", str(d)).exit_code == 0
    assert not (out / "s1" / "mb0" / "hosts" / "lap").exists() and not (out / "lap").exists()
    assert _files(out) == _tinc_files(d)


def test_a_directory_that_render_did_not_make_is_refused_untouched(inv, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8")
    r = invoke("render", "--out", str(out), "--dir", str(inv))
    assert r.exit_code == 2
    assert [line for line in r.stderr.splitlines() if line.strip()] == [
        f"error: {out} is not empty and holds no earlier `meshbeam render` output; give a new or empty directory"]
    assert sorted(p.name for p in out.iterdir()) == ["holiday.jpg"]


def test_pruning_removes_symlinks_and_never_follows_them(inv, tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("not meshbeam's")
    assert invoke("render", "--out", str(out), "--dir", str(inv)).exit_code == 0
    (out / "s1" / "linked-dir").symlink_to(victim, target_is_directory=True)
    (out / "linked-file").symlink_to(victim / "keep.txt")
    r = invoke("render", "--out", str(out), "--dir", str(inv))
    assert r.exit_code == 0 and "removed 2 stale" in r.output, r.output
    assert not (out / "s1" / "linked-dir").is_symlink() and not (out / "linked-file").is_symlink()
    assert (victim / "keep.txt").read_text() == "not meshbeam's"


@pytest.fixture
def two_processes(monkeypatch):
    """Render in two processes whatever this machine's cores: members 0 and 2 (s1, s3) here,
    1 and 3 (s2, laptop) in the forked child."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


def test_a_render_in_shares_writes_the_same_files_as_in_one(inv, tmp_path, monkeypatch, two_processes):
    assert invoke("render", "--out", str(tmp_path / "two"), "--dir", str(inv)).exit_code == 0
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert invoke("render", "--out", str(tmp_path / "one"), "--dir", str(inv)).exit_code == 0
    two = _files(tmp_path / "two")
    assert two == _files(tmp_path / "one") and len(two) == 6


@pytest.mark.parametrize("member", ["s1", "s2"])  # written by this process, by the child
def test_a_file_that_cannot_be_written_fails_the_render_on_one_line(inv, tmp_path, member, two_processes):
    out = tmp_path / "out"
    assert invoke("render", "--out", str(out), "--dir", str(inv)).exit_code == 0
    shutil.rmtree(out / member)
    (out / member).write_text("in the way")  # refused even to root, unlike a read-only directory
    r = invoke("render", "--out", str(out), "--dir", str(inv))
    assert r.exit_code == 1
    assert [line for line in r.stderr.splitlines() if line.strip()] == [
        f"error: cannot write {out / member / 'mb0.conf'}: {out / member}: File exists"]
    assert (out / member).read_text() == "in the way"
    assert (out / "laptop" / "mb0.conf").exists(), "nothing pruned after a failure"
