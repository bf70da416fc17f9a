"""mesh.yaml as meshbeam itself writes it, read and written without PyYAML's object layers.

Even with libyaml, PyYAML builds, resolves and represents a Python object per scalar, which
was most of what an `add-host` on a large inventory did. The file `inventory.dump` writes
is a small, fixed subset of YAML: block mappings and lists of mappings, two-space indents,
plain scalars. For that subset the meaning of each line is plain, so this module reads and
writes it directly, with PyYAML's own implicit-type rules deciding what a plain scalar means.
Those rules are copied here (RESOLVERS) so that a command that reads and writes mesh.yaml
never imports PyYAML, whose start-up is a good part of a small command's time; a unit test
checks that they are still PyYAML's own, rule for rule.

Anything outside the subset (a quoted or flow value, an anchor, a tab, a key twice, a value
that would need quotes) makes `parse` return None and `dump` defer to inventory.dump, so the
result is always what PyYAML would give. Either way inventory.from_dict validates every value.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from . import inventory
from .inventory import Mesh

# Plain scalars of these characters need no quotes, cannot hold a comment (' #'), a mapping
# (': ') or an indicator at either end; a key is also a word.
SAFE_FIRST = "A-Za-z0-9/+"
_SAFE = re.compile(rf"[{SAFE_FIRST}][A-Za-z0-9/_.@+=:-]*(?<!:)")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_STR, _INT, _BOOL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool"))

# PyYAML's implicit resolvers (yaml/resolver.py) that can match a scalar starting with one of
# SAFE_FIRST: (type, pattern, flags, first characters), in PyYAML's order. A plain scalar is
# of the first type whose pattern matches among those listed for its first character, else
# a string.
RESOLVERS = (
    ("bool", "^(?:yes|Yes|YES|no|No|NO\n                    |true|True|TRUE|false|False|FALSE\n"
             "                    |on|On|ON|off|Off|OFF)$", re.X, "yYnNtTfFoO"),
    ("null", "^(?: ~\n                    |null|Null|NULL\n                    | )$", re.X, "nN"),
    ("float", "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?\n"
              "                    |\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?\n"
              "                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*\n"
              "                    |[-+]?\\.(?:inf|Inf|INF)\n"
              "                    |\\.(?:nan|NaN|NAN))$", re.X, "+0123456789"),
    ("int", "^(?:[-+]?0b[0-1_]+\n                    |[-+]?0[0-7_]+\n                    |[-+]?(?:0|[1-9][0-9_]*)\n"
            "                    |[-+]?0x[0-9a-fA-F_]+\n                    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
     re.X, "+0123456789"),
    ("timestamp", "^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\n"
                  "                    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?\n"
                  "                     (?:[Tt]|[ \\t]+)[0-9][0-9]?\n"
                  "                     :[0-9][0-9] :[0-9][0-9] (?:\\.[0-9]*)?\n"
                  "                     (?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$", re.X, "0123456789"),
)


@functools.cache
def resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """First character -> [(tag, compiled pattern)], built as PyYAML builds its table."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for kind, pattern, flags, firsts in RESOLVERS:
        compiled = re.compile(pattern, flags)
        for first in firsts:
            table.setdefault(first, []).append((f"tag:yaml.org,2002:{kind}", compiled))
    return table


class _Outside(Exception):
    """The text or value is outside the subset: PyYAML handles it."""


@functools.cache  # asked for each value as it is read, and again as it is written back
def _tag(text: str) -> str:
    if not _SAFE.fullmatch(text):
        raise _Outside
    for tag, pattern in resolvers().get(text[0], ()):
        if pattern.match(text):
            return tag
    return _STR


def _scalar(text: str) -> Any:
    tag = _tag(text)
    if tag == _STR:
        return text
    if tag == _INT and _DECIMAL.fullmatch(text):
        return int(text)
    if tag == _BOOL and text in ("true", "false"):
        return text == "true"
    raise _Outside


@functools.cache
def _is_key(text: str) -> bool:
    """A word that YAML reads as a string (not `yes`, `null`...); a file has few distinct keys."""
    return bool(_KEY.fullmatch(text)) and _tag(text) == _STR


def parse(text: str) -> dict[str, Any] | None:
    """The data of a mesh.yaml in the subset, exactly as yaml.safe_load would give it; else None."""
    data: dict[str, Any] = {}
    top: str | None = None  # the top-level key whose indented block is being read
    block: list[Any] | dict[str, Any] | None = None  # its value, once its first line said which
    item: dict[str, Any] | None = None  # the list entry being filled
    try:
        for line in text.split("\n"):
            # The common lines first: a pair of a block, then an entry's first pair. A line is
            # read once, so every check is inline; a member is about ten lines.
            head = line[:2]
            if head == "  " and line[2:3] not in (" ", "#", ""):
                into = item if type(block) is list else block
                if into is None:
                    if block is not None or top is None:
                        raise _Outside
                    block = into = data[top] = {}
            elif head == "- ":
                if block is None:
                    if top is None:
                        raise _Outside
                    block = data[top] = []
                elif type(block) is not list:
                    raise _Outside
                item = into = {}
                block.append(item)
            elif not line or line.lstrip(" ").startswith("#"):
                continue  # full-line comments and empty lines carry no data
            elif line[0] in " -":
                raise _Outside
            else:
                name, sep, rest = line.partition(":")
                if not sep or name in data or not _is_key(name) or rest not in ("", " []"):
                    raise _Outside
                data[name] = [] if rest else None
                top = None if rest else name  # `[]` closes its block
                block = item = None
                continue
            key, sep, value = line[2:].partition(": ")
            if not sep or key in into or not _is_key(key):
                raise _Outside
            into[key] = _scalar(value)
    except _Outside:
        return None
    if any(value is None for value in data.values()):
        return None  # a key with nothing below it is null: left to PyYAML and from_dict's message
    return data


def load(directory: Path) -> Mesh:
    """inventory.load, faster for a file in the subset; the same errors and validation."""
    try:
        text = inventory.mesh_path(directory).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return inventory.load(directory)  # its messages
    data = parse(text)
    if data is None:
        return inventory.load(directory)
    return inventory.from_dict(data, str(inventory.mesh_path(directory)))


def _line(key: str, value: Any) -> str:
    if value is True or value is False:
        text = "true" if value else "false"
    elif type(value) is int:
        text = str(value)
    elif type(value) is str and _tag(value) == _STR:
        text = value
    else:
        raise _Outside
    return f"{key}: {text}\n"


def _members(key: str, entries: list[dict[str, Any]]) -> str:
    if not entries:
        return f"{key}: []\n"
    out = [f"{key}:\n"]
    for entry in entries:
        if not entry:
            raise _Outside
        out.append("- " + "  ".join(_line(k, v) for k, v in entry.items()))
    return "".join(out)


def dump(mesh: Mesh) -> str:
    """inventory.dump(mesh), byte for byte, written here when every value is a plain scalar."""
    data = inventory.to_dict(mesh)
    try:
        head = "mesh:\n" + "".join("  " + _line(k, v) for k, v in data["mesh"].items())
        return inventory.HEADER + head + _members("hosts", data["hosts"]) + _members("peers", data["peers"])
    except _Outside:
        return inventory.dump(mesh)
