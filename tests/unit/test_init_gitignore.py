"""`init` keeps the inventory's secrets in clear out of git, as real git sees it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import invoke


def ignored(repo: Path, rel: str) -> bool:
    git = shutil.which("git")
    assert git, "git must be installed for this test"
    return subprocess.run([git, "-C", str(repo), "check-ignore", "-q", rel]).returncode == 0


def test_keys_and_peer_configs_are_ignored_and_the_yaml_is_not(inv):
    subprocess.run(["git", "init", "-q", str(inv)], check=True)
    assert (inv / "peers" / "laptop.conf").exists() and (inv / "keys" / "cookie").exists()
    for secret in ("keys/cookie", "keys/s1.key", "keys/preshared", "peers/laptop.conf"):
        assert ignored(inv, secret), secret
    for public in ("mesh.yaml", "keys.sealed"):
        assert not ignored(inv, public), public


def test_an_existing_gitignore_is_left_alone(tmp_path):
    d = tmp_path / "inv"
    d.mkdir()
    (d / ".gitignore").write_text("*.bak\n")
    assert invoke("init", "--cidr", "198.18.0.0/24", "--dir", str(d)).exit_code == 0
    assert (d / ".gitignore").read_text() == "*.bak\n"
