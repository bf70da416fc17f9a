"""Shared fixtures: a fresh inventory built through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshbeam import tinc
from meshbeam.cli import app

# How long a freshly started mesh may take to be whole. WireGuard needs one handshake; tinc 1.0
# may need one key change (tinc.KEY_EXPIRE) to repair a stale packet key after simultaneous starts.
SETTLE = tinc.KEY_EXPIRE + 15


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    d = tmp_path / "inv"
    for args in (
        ("init", "--cidr", "198.18.0.0/24"),
        ("add-host", "s1", "root@198.51.100.11"),
        ("add-host", "s2", "root@198.51.100.12:2222", "--endpoint", "198.51.100.12:51999"),
        ("add-host", "s3", "198.51.100.13", "--vm-args", "/srv/app/vm.args", "--node-name", "web"),
        ("add-peer", "laptop"),
    ):
        r = invoke(*args, "--dir", str(d))
        assert r.exit_code == 0, r.output
    return d
