"""The passphrase of a sealed inventory: the CLI obtains it, the core only calls what it is given,
and one command opens one KeyStore, so it is asked for at most once."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import meshbeam
from meshbeam import cli_common, converge, inventory, keys, ops, remote, sealed
from meshbeam.cli import app
from meshbeam.cli_common import PASSPHRASE_ENV
from meshbeam.errors import InputError
from meshbeam.keys import KeyStore

PW = "correct horse battery staple"
PACKAGE = Path(meshbeam.__file__).parent


@pytest.fixture(autouse=True)
def cheap_kdf_and_clean_env(monkeypatch):
    monkeypatch.setattr(sealed, "OPSLIMIT", 1)
    monkeypatch.setattr(sealed, "MEMLIMIT", 8192)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


class Terminal:
    """A terminal on stdin whose getpass answers from a list and records every prompt."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> None:
        self.prompts: list[str] = []
        self._answers = iter(answers)
        monkeypatch.setattr(cli_common, "stdin_is_terminal", lambda: True)
        monkeypatch.setattr("getpass.getpass", self._getpass)

    def _getpass(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return next(self._answers)


def typed(*args: str):
    """The CLI without MESHBEAM_PASSPHRASE: a passphrase can only come from the (stubbed) terminal."""
    r = CliRunner().invoke(app, list(args), env={PASSPHRASE_ENV: None})
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture
def sealed_inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sealed through the CLI with the passphrase typed: hosts s1, s2 (a node) and peer laptop."""
    d = tmp_path / "sealed"
    with monkeypatch.context() as m:
        Terminal(m, [PW] * 9)
        typed("init", "--sealed", "--cidr", "198.18.0.0/24", "--dir", str(d))
        typed("add-host", "s1", "root@198.51.100.11", "--dir", str(d))
        typed("add-host", "s2", "198.51.100.12", "--vm-args", "/srv/app/vm.args", "--dir", str(d))
        typed("add-peer", "laptop", "--dir", str(d))
    return d


COMMANDS = [
    ["add-host", "s9", "198.51.100.19"],  # a transaction: read, then re-seal
    ["add-peer", "p9"],  # reads keys inside the transaction and names the cookie after it
    ["remove-peer", "laptop"],
    ["rotate-keys", "--all"],  # a new secret, new keys, and the peer's config rewritten from them
    ["render", "--out", "OUT"],
    ["unseal"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:2]) for a in COMMANDS])
def test_a_sealed_command_asks_for_the_passphrase_exactly_once(sealed_inv, tmp_path, monkeypatch, args):
    terminal = Terminal(monkeypatch, [PW, PW])
    typed(*(str(tmp_path / "out") if a == "OUT" else a for a in args), "--dir", str(sealed_inv))
    assert terminal.prompts == [f"passphrase for {sealed_inv / 'keys.sealed'}: "]


def test_init_and_seal_ask_for_a_new_passphrase_twice_and_nothing_else(tmp_path, monkeypatch):
    terminal = Terminal(monkeypatch, [PW] * 5)
    d = tmp_path / "inv"
    typed("init", "--sealed", "--dir", str(d))
    path = d / "keys.sealed"
    assert terminal.prompts == [f"new passphrase for {path}: ", "the same passphrase again: "]
    typed("unseal", "--dir", str(d))
    terminal.prompts.clear()
    typed("seal", "--dir", str(d))
    assert terminal.prompts == [f"new passphrase for {path}: ", "the same passphrase again: "]
    assert KeyStore(d, passphrase=lambda p: PW).cookie()


@pytest.mark.parametrize("answers, message", [([PW, PW + "x"], "differ"), ([""], "empty")])
def test_a_mistyped_new_passphrase_writes_nothing(tmp_path, monkeypatch, answers, message):
    Terminal(monkeypatch, answers)
    d = tmp_path / "inv"
    r = CliRunner().invoke(app, ["init", "--sealed", "--dir", str(d)], env={PASSPHRASE_ENV: None})
    assert r.exit_code == 2 and message in r.stderr and "nothing was written" in r.stderr, r.output
    assert not d.exists()


def test_up_plans_with_one_store_and_one_passphrase(sealed_inv):
    """converge.run unlocks the store before the progress display, then rewrites the roaming peer's
    config (stale once the servers change) from the same store."""
    asked: list[Path] = []

    def ask(path: Path) -> str:
        asked.append(path)
        return PW

    mesh = inventory.load(sealed_inv)
    (sealed_inv / "peers" / "laptop.conf").write_text("stale\n")
    runs, refreshed = converge.run(KeyStore(sealed_inv, passphrase=ask), mesh, [], remote.SSHOptions(None), 1,
                                   dry_run=True, teardown=False, watch=lambda hosts, work: work(lambda h, s: None),
                                   planned=lambda runs: None)
    assert (runs, refreshed) == ([], [sealed_inv / "peers" / "laptop.conf"])
    assert "PrivateKey" in (sealed_inv / "peers" / "laptop.conf").read_text()
    assert asked == [sealed_inv / "keys.sealed"]


def test_a_committed_store_reads_its_changes_without_decrypting_again(sealed_inv):
    asked: list[Path] = []

    def ask(path: Path) -> str:
        asked.append(path)
        return PW

    store = KeyStore(sealed_inv, passphrase=ask)
    added = ops.add_host(store, ops.HostSpec(name="s9", ssh="198.51.100.19"))
    new = added.members[0]
    assert keys.public_key(store.private_key("s9")) == new.public_key, "the change, read from the same store"
    assert store.psk(new.public_key, inventory.load(sealed_inv).host("s1").public_key)
    assert len(asked) == 1
    again = KeyStore(sealed_inv, passphrase=lambda p: PW)
    assert again.private_key("s9") == store.private_key("s9"), "what the store holds is what was sealed"


def test_a_store_given_no_passphrase_says_so(sealed_inv):
    with pytest.raises(InputError, match="keys.sealed is sealed and no passphrase was given"):
        KeyStore(sealed_inv).cookie()


def _core_modules() -> Iterator[Path]:
    return (p for p in sorted(PACKAGE.glob("*.py")) if not p.name.startswith("cli"))


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_cli_asks_for_a_passphrase():
    """No core module prompts (getpass) or reads MESHBEAM_PASSPHRASE: it calls what the CLI gave it."""
    core = list(_core_modules())
    assert {"keys.py", "sealed.py", "sealing.py", "ops.py", "store.py", "converge.py"} <= {p.name for p in core}
    for path in core:
        assert "getpass" not in _imports(path), path.name
        assert PASSPHRASE_ENV not in path.read_text(), path.name
    assert "getpass" in _imports(PACKAGE / "cli_common.py"), "the check above looks for the right name"
