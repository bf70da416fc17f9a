"""Shared fixtures: a fresh inventory built through the real CLI, and golden files."""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
import typer.testing
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


@pytest.fixture(scope="session", autouse=True)
def _one_click_command() -> Iterator[None]:
    """CliRunner rebuilds the click command from meshbeam's functions on every invoke, which costs
    more than most commands themselves; the command is the same each time, so it is built once."""
    built = {id(app): typer.main.get_command(app)}
    build = typer.testing._get_command
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typer.testing, "_get_command", lambda a: built.get(id(a)) or build(a))
        yield


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


INV_STEPS = (
    ("init", "--cidr", "198.18.0.0/24"),
    ("add-host", "s1", "root@198.51.100.11"),
    ("add-host", "s2", "root@198.51.100.12:2222", "--endpoint", "198.51.100.12:51999"),
    ("add-host", "s3", "198.51.100.13", "--vm-args", "/srv/app/vm.args", "--node-name", "web"),
    ("add-peer", "laptop"),
)


TINC_INV_STEPS = (
    ("init", "--backend", "tinc", "--cidr", "198.18.0.0/24", "--port", "655"),
    ("add-host", "s1", "198.51.100.11"),
    ("add-host", "s2", "198.51.100.12"),
    ("add-peer", "lap"),
)


def build_inventory(d: Path, *steps: tuple[str, ...]) -> Path:
    """An inventory made through the real CLI, one command per step, each of which must succeed."""
    for args in steps:
        r = invoke(*args, "--dir", str(d))
        assert r.exit_code == 0, f"{' '.join(args)}: {r.output}"
    return d


def _copy(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "inv", symlinks=True))  # modes kept: snapshots compare them


@pytest.fixture(scope="session")
def _inv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_inventory(tmp_path_factory.mktemp("wireguard") / "inv", *INV_STEPS)


@pytest.fixture(scope="session")
def _tinc_inv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_inventory(tmp_path_factory.mktemp("tinc") / "inv", *TINC_INV_STEPS)


# Each inventory is built once through the CLI and copied for every test that asks for it: a
# test changes its own copy freely, and hundreds of cases do not each pay for key generation.
@pytest.fixture
def inv(_inv_template: Path, tmp_path: Path) -> Path:
    """WireGuard: hosts s1, s2 (SSH port 2222, endpoint port 51999), s3 (a node, vm.args), peer laptop."""
    return _copy(_inv_template, tmp_path)


@pytest.fixture
def tinc_inv(_tinc_inv_template: Path, tmp_path: Path) -> Path:
    """tinc on port 655: hosts s1, s2 and the roaming peer lap."""
    return _copy(_tinc_inv_template, tmp_path)
