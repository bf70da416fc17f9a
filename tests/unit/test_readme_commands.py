"""The README's commands table names exactly the commands the CLI has, so the two cannot drift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import typer.main

from meshbeam.cli import app

README = Path(__file__).parent.parent.parent / "README.md"


def readme_commands(text: str) -> list[str]:
    """Command names in the first column of the table under `## Commands`.

    A cell holds one or more `code spans`, each a command as it is typed: its name words are
    the leading lower-case words ("export libcluster", "sandbox up"); arguments are upper case
    (NAME, PATH) and options start with `-` or `[`.
    """
    parts = re.split(r"^## Commands\n", text, maxsplit=1, flags=re.M)
    assert len(parts) == 2, "no '## Commands' section in README.md"
    section = re.split(r"^## ", parts[1], maxsplit=1, flags=re.M)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "no table of commands under '## Commands' in README.md"
    names = []
    for row in rows:
        cell = re.split(r"(?<!\\)\|", row)[1]
        for span in re.findall(r"`([^`]+)`", cell):
            words = []
            for word in span.split():
                if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                    break
                words.append(word)
            names.append(" ".join(words))
    return names


def cli_commands(group, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every command that runs something, sub-commands as "GROUP NAME"; hidden ones left out."""
    for name, command in group.commands.items():
        if command.hidden:
            continue
        if hasattr(command, "commands"):  # a group (Typer's own click classes, so no isinstance)
            yield from cli_commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def test_readme_parser_reads_names_not_arguments():
    text = ("## Commands\n\n| command | what |\n| --- | --- |\n"
            "| `add-host NAME [USER@]ADDRESS [--endpoint HOST[:PORT]]` | x |\n"
            "| `remove-host NAME`, `remove-peer NAME` | y \\| z |\n"
            "| `sandbox up N [--laptop]`, `sandbox down` | z |\n| `export libcluster` | w |\n\n## Next\n| `no` | |\n")
    assert readme_commands(text) == ["add-host", "remove-host", "remove-peer", "sandbox up", "sandbox down",
                                     "export libcluster"]


def test_readme_table_lists_every_cli_command_once_and_no_other():
    documented = readme_commands(README.read_text())
    assert len(documented) == len(set(documented)), f"listed twice in README.md: {documented}"
    actual = set(cli_commands(typer.main.get_command(app)))
    assert not actual - set(documented), f"commands missing from README.md's table: {sorted(actual - set(documented))}"
    assert not set(documented) - actual, f"README.md lists commands the CLI lacks: {sorted(set(documented) - actual)}"
