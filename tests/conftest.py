"""Shared fixtures: a fresh inventory built through the real CLI, and golden files."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshbeam import tinc
from meshbeam.cli import app

# How long a freshly started mesh may take to be whole. WireGuard needs one handshake; tinc 1.0
# may need one key change (tinc.KEY_EXPIRE) to repair a stale packet key after simultaneous starts.
SETTLE = tinc.KEY_EXPIRE + 15
GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="write tests/golden/ from what the code renders now, instead of comparing (review the git diff)")


class Golden:
    """Compares rendered output with tests/golden/NAME byte for byte, or writes it with --update-golden."""

    def __init__(self, update: bool) -> None:
        self.update = update

    def __call__(self, name: str, actual: str | bytes) -> None:
        data = actual.encode() if isinstance(actual, str) else actual
        path = GOLDEN_DIR / name
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return
        assert path.is_file(), f"no golden file {path}: run pytest --update-golden, then review the new file"
        expected = path.read_bytes()
        if data != expected:
            diff = difflib.unified_diff(expected.decode(errors="replace").splitlines(keepends=True),
                                        data.decode(errors="replace").splitlines(keepends=True),
                                        f"golden/{name}", "rendered")
            pytest.fail(f"output differs from golden/{name}:\n{''.join(diff)}", pytrace=False)

    def tree(self, name: str, files: dict[str, str | bytes]) -> None:
        """A directory of files (relative path -> content): the same set of files, each byte for byte."""
        root = GOLDEN_DIR / name
        if self.update:
            shutil.rmtree(root, ignore_errors=True)
        else:
            have = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
            assert have == sorted(files), f"golden/{name} holds {have}, the renderer wrote {sorted(files)}"
        for rel, content in files.items():
            self(f"{name}/{rel}", content)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(request.config.getoption("--update-golden"))


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
