"""The README's demo command works end to end (it builds and tears down its own sandbox)."""

import os

import pytest
from typer.testing import CliRunner

from meshbeam import sandbox
from meshbeam.cli import app


def test_sandbox_demo_succeeds_and_cleans_up():
    assert os.geteuid() == 0, "the demo needs root (network namespaces)"
    r = CliRunner().invoke(app, ["sandbox", "demo"])
    assert r.exit_code == 0, r.output
    assert "[pong,pong]" in r.output and "demo succeeded" in r.output
    assert "sandbox torn down" in r.output
    with pytest.raises(sandbox.SandboxError):
        sandbox.load(prefix="mbdemo")  # gone
