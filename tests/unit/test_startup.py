"""Start-up stays light: help and list never import the SSH stack or the crypto libraries."""

import subprocess
import sys

import pytest

# pydantic: typer >= 0.29 imports it for every command (pyproject pins typer below that)
HEAVY = ("fabric", "paramiko", "invoke", "nacl", "cryptography", "rich.markdown", "pydantic")

RUNNER = """
import sys
from meshbeam.cli import app
try:
    app(sys.argv[1:], prog_name="meshbeam")
except SystemExit:
    pass
print("LOADED", " ".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["up", "--help"], ["sandbox", "--help"], ["list"]])
def test_no_heavy_imports(args, inv):
    if args == ["list"]:
        args = ["list", "--dir", str(inv)]
    r = subprocess.run([sys.executable, "-c", RUNNER.format(heavy=HEAVY), *args], capture_output=True, text=True)
    loaded = r.stdout.rsplit("LOADED", 1)[1].split()
    assert loaded == [], f"meshbeam {' '.join(args)} imported {loaded}"
