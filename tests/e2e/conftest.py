"""The sandbox of real hosts (sshd, wireguard-go, erl) shared by the end-to-end tests.

These tests need root on Linux. They fail loudly where that is missing rather than skip.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshbeam import inventory, sandbox
from meshbeam.cli import app

@pytest.fixture(scope="module")
def sb(request: pytest.FixtureRequest) -> Iterator[sandbox.Sandbox]:
    """3 servers and a laptop behind NAT; each test module names its own prefix (SANDBOX_PREFIX)."""
    assert os.geteuid() == 0, "end-to-end tests need root (network namespaces); run them as root"
    prefix = request.module.SANDBOX_PREFIX
    box = sandbox.up(3, laptop=True, prefix=prefix)
    try:
        yield box
    finally:
        sandbox.down(prefix=prefix, purge=True)


class Meshbeam:
    """Runs the real CLI against one inventory and the sandbox's SSH config."""

    def __init__(self, directory: Path, box: sandbox.Sandbox) -> None:
        self.dir = directory
        self.box = box

    def __call__(self, *args: str, ok: bool = True):
        env = {"MESHBEAM_DIR": str(self.dir), "MESHBEAM_SSH_CONFIG": str(self.box.ssh_config), "COLUMNS": "200"}
        r = CliRunner().invoke(app, list(args), env=env)
        if ok:
            assert r.exit_code == 0, f"meshbeam {' '.join(args)} -> {r.exit_code}\n{r.output}\n{r.stderr}"
        return r


def sh(box: sandbox.Sandbox, host: str, cmd: str, **kw) -> subprocess.CompletedProcess:
    return sandbox.run(box, host, ["sh", "-c", cmd], **kw)


def eventually(check, timeout: float = 20.0, interval: float = 0.5):
    """Retry `check` until it returns truthy; return the last result (asserted by the caller)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def mesh_ip(mb: Meshbeam, name: str) -> str:
    return inventory.load(mb.dir).member(name).address


def ping(box: sandbox.Sandbox, host: str, ip: str) -> bool:
    return sh(box, host, f"ping -c1 -W1 {ip}", check=False).returncode == 0


def install_peer_config(mb: Meshbeam, peer: str) -> None:
    """Put a roaming peer's wg-quick config on the sandbox laptop, as its owner would."""
    conf = (mb.dir / "peers" / f"{peer}.conf").read_bytes()
    sandbox.run(mb.box, "laptop", ["sh", "-c", "umask 077; cat > /etc/wireguard/mb0.conf"], input=conf)
