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
_SAFE_NEXT = "A-Za-z0-9/_.@+=:-"
_SAFE = re.compile(rf"[{SAFE_FIRST}][{_SAFE_NEXT}]*(?<!:)")
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
_RESOLVED = frozenset("".join(firsts for *_, firsts in RESOLVERS))  # where a non-string may start


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


# The values read from mesh.yaml. Its strings are plain scalars that YAML reads as strings, so
# writing the file back checks only new values (the numbers and booleans here equal no string).
_PLAIN: set[Any] = set()


def _tag(text: str) -> str:
    if not _SAFE.fullmatch(text):
        raise _Outside
    return _resolve(text)


def _resolve(text: str) -> str:
    """The tag YAML gives a plain scalar of the safe set."""
    for tag, pattern in resolvers().get(text[0], ()):
        if pattern.match(text):
            return tag
    return _STR


def _scalar(text: str) -> Any:
    """A plain scalar of the safe set as YAML reads it: a string, a decimal or a boolean."""
    tag = _resolve(text)
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


# A top-level key and its block: `key: []`, or `key:` then lines of pairs, indented or starting
# an entry ("- "), each value of the safe characters (that none ends in ':' is _block's check).
# So the block's text splits at "\n- " (entries), "\n  " and ": " (pairs) with no ambiguity.
_SECTION = re.compile(rf"([A-Za-z_][A-Za-z0-9_]*):(?: \[\]\n|\n((?:[ -] [A-Za-z_][A-Za-z0-9_]*: "
                      rf"[{SAFE_FIRST}][{_SAFE_NEXT}]*\n)*))")
_COMMENT = re.compile(r"^ *#.*\n|^\n", re.M)  # full-line comments and empty lines carry no data


def parse(text: str) -> dict[str, Any] | None:
    """The data of a mesh.yaml in the subset, exactly as yaml.safe_load would give it; else None."""
    if not text.endswith("\n"):
        text += "\n"
    pos = 0
    while text.startswith(("#", "\n"), pos):  # the header
        pos = text.index("\n", pos) + 1
    if text.find("#", pos) >= 0 or text.find("\n\n", pos) >= 0:  # no safe value holds a '#'
        text, pos = _COMMENT.sub("", text[pos:]), 0
    data: dict[str, Any] = {}
    try:
        while pos < len(text):
            m = _SECTION.match(text, pos)
            if not m or m[1] in data or not _is_key(m[1]):
                return None
            pos = m.end()
            data[m[1]] = [] if m[2] is None else _block(m[2])
    except _Outside:
        return None
    return data or None  # no key at all: PyYAML reads None


def _block(text: str) -> list[dict[str, Any]] | dict[str, Any]:
    """A block's lines as a list of mappings (entries starting with "- ") or as one mapping."""
    if ":\n" in text:
        raise _Outside  # a value ending in ':'
    if text.startswith("- "):
        block: list[dict[str, Any]] | dict[str, Any] = [_mapping(entry) for entry in text[2:-1].split("\n- ")]
        keys = set().union(*block)
    elif text and "\n- " not in text:
        block = _mapping(text[2:-1])
        keys = set(block)
    else:
        raise _Outside  # nothing below the key (null), or a mapping that turns into a list
    if not all(map(_is_key, keys)):
        raise _Outside  # a key that YAML reads as no string (`yes:`)
    return block


def _mapping(text: str) -> dict[str, Any]:
    """'key: value\\n  key: value' (first indent or dash cut off, last newline too) as a dict."""
    words = text.replace("\n  ", ": ").split(": ")  # key, value, key, value...: neither holds ': '
    # A value is a string unless a resolver (they start with few characters) says otherwise.
    entry = {k: _scalar(v) if v[0] in _RESOLVED else v for k, v in zip(words[::2], words[1::2])}
    if 2 * len(entry) != len(words):
        raise _Outside  # a key written twice
    _PLAIN.update(entry.values())
    return entry


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
    elif type(value) is str and (value in _PLAIN or _tag(value) == _STR):
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
        out.append("- " + "  ".join(map(_line, entry, entry.values())))
    return "".join(out)


def dump(mesh: Mesh) -> str:
    """inventory.dump(mesh), byte for byte, written here when every value is a plain scalar."""
    data = inventory.to_dict(mesh)
    try:
        head = "mesh:\n" + "".join("  " + _line(k, v) for k, v in data["mesh"].items())
        return inventory.HEADER + head + _members("hosts", data["hosts"]) + _members("peers", data["peers"])
    except _Outside:
        return inventory.dump(mesh)
