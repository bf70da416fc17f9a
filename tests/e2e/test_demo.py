"""The README's demo command works end to end (it builds and tears down its own sandbox)."""

import os
import re

import pytest
from typer.testing import CliRunner

from meshbeam import demo, sandbox
from meshbeam.cli import app

pytestmark = pytest.mark.e2e


def test_sandbox_demo_succeeds_says_one_line_per_check_and_cleans_up():
    assert os.geteuid() == 0, "the demo needs root (network namespaces)"
    r = CliRunner().invoke(app, ["sandbox", "demo"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output and "NOT as intended" not in r.output, r.output
    assert "pings the other nodes over the mesh: [pong,pong]" in r.output
    for port in (9100, 4369):
        assert re.search(rf"^{port} on 198\.51\.100\.11 from s2: closed \([^)\n]+\), as intended$", r.output, re.M), \
            r.output
    assert "demo succeeded" in r.output and "sandbox torn down" in r.output
    with pytest.raises(sandbox.SandboxError):
        sandbox.load(prefix=demo.PREFIX)  # gone
