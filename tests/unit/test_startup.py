"""Start-up stays light: help, list and the inventory changes never import the SSH stack, and
only the commands that make keys load the crypto library; plain lines skip rich."""

import io
import subprocess
import sys

import pytest
from rich.console import Console as RichConsole

from meshbeam import console

# pydantic: typer >= 0.29 imports it for every command (pyproject pins typer below that)
HEAVY = ("fabric", "paramiko", "invoke", "nacl", "cryptography", "rich", "pydantic")

RUNNER = """
import sys
from meshbeam.cli import app
try:
    app(sys.argv[1:], prog_name="meshbeam")
except SystemExit as e:
    print("EXIT", e.code)
print("LOADED", " ".join(m for m in {heavy!r} if m in sys.modules))
"""


def loaded_by(*args: str) -> list[str]:
    r = subprocess.run([sys.executable, "-c", RUNNER.format(heavy=HEAVY), *args], capture_output=True, text=True)
    assert "EXIT 0" in r.stdout or "EXIT" not in r.stdout, r.stdout + r.stderr
    return r.stdout.rsplit("LOADED", 1)[1].split()


@pytest.mark.parametrize("args", [["--help"], ["up", "--help"], ["sandbox", "--help"], ["list"], ["remove-host", "s1"],
                                  ["remove-peer", "laptop"]])
def test_no_heavy_imports(args, inv):
    if args[0] in ("list", "remove-host", "remove-peer"):
        args = [*args, "--dir", str(inv)]
    assert loaded_by(*args) == [], f"meshbeam {' '.join(args)} imported them"


@pytest.mark.parametrize("args", [["add-host", "s9", "198.51.100.19", "--vm-args", "/srv/app/vm.args"],
                                  ["add-peer", "phone"]])
def test_commands_that_make_keys_load_only_the_key_library(args, inv):
    assert loaded_by(*args, "--dir", str(inv)) == ["nacl"]


LINES = [
    "added host s1: mesh 198.18.0.1, endpoint 198.51.100.11:51820, ssh root@198.51.100.11",
    "note: removed the private key of 'n9', which is no member: a change was interrupted",
    "  wg-quick up mb0",
    "",
    "added host v6: mesh 198.18.0.2, endpoint [2001:db8::1]:51820",  # markup and emoji candidates: rich
    "a :smile: here",
    "tab\there",
    "caf\u00e9",
]


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("markup", [True, False])
def test_plain_lines_print_as_rich_prints_them(terminal, markup, monkeypatch):
    ours = io.StringIO()
    monkeypatch.setattr(sys, "stdout", ours)
    out = console.Console(highlight=False, soft_wrap=True, force_terminal=terminal)
    theirs = RichConsole(highlight=False, soft_wrap=True, force_terminal=terminal, file=io.StringIO())
    for line in LINES:
        out.print(line, markup=markup)
        theirs.print(line, markup=markup)
    assert ours.getvalue() == theirs.file.getvalue()
    assert sum(map(console.plain, LINES)) == 4


def _names(group) -> list[str]:
    import typer

    return sorted(typer.main.get_command(group).commands)


def test_a_command_is_run_from_an_app_with_only_that_command():
    """main() builds only the command it runs; its parser and help are the full app's."""
    import typer.testing

    from meshbeam.cli import app
    from meshbeam.cli_common import only_command

    runner = typer.testing.CliRunner()
    top = [info.name or info.callback.__name__ for info in app.registered_commands]
    assert {"add-host", "add-peer", "remove-host", "remove-peer", "list", "init", "up", "down", "status"} <= set(top)
    for name in top:
        one = only_command(app, name)
        assert _names(one) == [name]
        assert runner.invoke(one, [name, "--help"]).output == runner.invoke(app, [name, "--help"]).output
    for word in ("", "--help", "--debug", "sandbox", "rotate-keys", "no-such"):
        assert only_command(app, word) is app
    assert "sandbox" in _names(app) and len(_names(app)) > len(top)
