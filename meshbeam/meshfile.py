"""mesh.yaml as meshbeam itself writes it, read and written without PyYAML's object layers.

Even with libyaml, PyYAML builds, resolves and represents a Python object per scalar, which
was most of what an `add-host` on a large inventory did. The file `inventory.dump` writes
is a small, fixed subset of YAML: block mappings and lists of mappings, two-space indents,
plain scalars. For that subset the meaning of each line is plain, so this module reads and
writes it directly, with PyYAML's own resolver deciding what a plain scalar means.

Anything outside the subset (a quoted or flow value, an anchor, a tab, a key twice, a value
that would need quotes) makes `parse` return None and `dump` defer to inventory.dump, so the
result is always what PyYAML would give. Either way inventory.from_dict validates every value.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from . import inventory
from .inventory import Mesh

# Plain scalars of these characters need no quotes, cannot hold a comment (' #'), a mapping
# (': ') or an indicator at either end; a key is also a word.
_SAFE = re.compile(r"[A-Za-z0-9/+][A-Za-z0-9/_.@+=:-]*(?<!:)")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_resolve = yaml.resolver.Resolver().resolve
_RESOLVED_FIRST = frozenset(yaml.resolver.Resolver.yaml_implicit_resolvers)
_STR, _INT, _BOOL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool"))


class _Outside(Exception):
    """The text or value is outside the subset: PyYAML handles it."""


@functools.cache  # asked for each value as it is read, and again as it is written back
def _tag(text: str) -> str:
    if not _SAFE.fullmatch(text):
        raise _Outside
    if text[0] not in _RESOLVED_FIRST:
        return _STR  # no implicit type starts with this character: the resolver would say str
    return _resolve(yaml.ScalarNode, text, (True, False))


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


def _pair(text: str, into: dict[str, Any]) -> None:
    key, sep, value = text.partition(": ")
    if not sep or key in into or not _is_key(key):
        raise _Outside
    into[key] = _scalar(value)


def parse(text: str) -> dict[str, Any] | None:
    """The data of a mesh.yaml in the subset, exactly as yaml.safe_load would give it; else None."""
    data: dict[str, Any] = {}
    key: str | None = None  # the top-level key whose indented block is being read
    item: dict[str, Any] | None = None  # the list entry being filled
    try:
        for line in text.split("\n"):
            if not line or line.lstrip(" ").startswith("#"):
                continue  # full-line comments and empty lines carry no data
            if line[0] not in " -":
                name, sep, rest = line.partition(":")
                if not sep or name in data or not _is_key(name) or rest not in ("", " []"):
                    raise _Outside
                data[name], item = ([] if rest else None), None
                key = None if rest else name  # `[]` closes its block
                continue
            if key is None:
                raise _Outside
            block = data[key]
            if line.startswith("- "):  # an entry of a list of mappings
                if block is None:
                    block = data[key] = []
                if not isinstance(block, list):
                    raise _Outside
                item = {}
                block.append(item)
                _pair(line[2:], item)
            elif line.startswith("  ") and not line.startswith("   "):
                if block is None:
                    block = data[key] = {}
                target = item if isinstance(block, list) else block
                if target is None:
                    raise _Outside
                _pair(line[2:], target)
            else:
                raise _Outside
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
    """inventory.dump(mesh), byte for byte: its header and mesh section as it writes them, the
    members written here when every value is a plain scalar."""
    head = inventory.dump(replace(mesh, hosts=(), peers=()))
    empty = "hosts: []\npeers: []\n"
    data = inventory.to_dict(mesh)
    if not head.endswith(empty) or list(data) != ["mesh", "hosts", "peers"]:
        return inventory.dump(mesh)
    try:
        return head[: -len(empty)] + _members("hosts", data["hosts"]) + _members("peers", data["peers"])
    except _Outside:
        return inventory.dump(mesh)
