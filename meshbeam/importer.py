"""Hosts to add in bulk, read from a file: CSV or YAML (`add-host --from`), or an Ansible
inventory in INI or YAML form (`import ansible`). Pure: text in, HostSpecs out.

Each spec carries where it came from ("hosts.csv: row 7", "inventory.ini: host web1"), so
that a bad value is reported as `hosts.csv: row 7: field 'ssh': ...`. The values themselves
are checked by ops.add_hosts, all before anything is written.
"""

from __future__ import annotations

import csv
import io
import shlex
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .fields import show
from .ops import SPEC_FIELDS, HostSpec

REQUIRED = ("name", "ssh")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # a spreadsheet's CSV may start with a BOM
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read it: {e.strerror}") from None


def _load_yaml(text: str, where: Path) -> Any:
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return _raise(f"{where}: malformed YAML" + (f" at line {mark.line + 1}" if mark else ""))
    except RecursionError:
        return _raise(f"{where}: malformed YAML: nested too deeply")


def _raise(message: str) -> Any:
    raise InputError(message)


# -- add-host --from FILE ----------------------------------------------------------------------


def read_hosts(path: Path) -> list[HostSpec]:
    """A CSV with a header row, or a YAML list of mappings, with the fields of SPEC_FIELDS.
    Row N is the Nth host (the CSV header is not counted)."""
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(text, path)
    elif suffix in (".yaml", ".yml"):
        rows = _yaml_rows(text, path)
    else:
        raise InputError(f"{path}: cannot tell its format: name it .csv, .yaml or .yml")
    return [_spec(row, f"{path.name}: row {i}") for i, row in enumerate(rows, 1)]


def _csv_rows(text: str, path: Path) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        table = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as e:
        raise InputError(f"{path}: line {reader.line_num}: malformed CSV: {e}") from None
    if not table:
        raise InputError(f"{path}: empty: expected a header row naming the fields ({', '.join(SPEC_FIELDS)})")
    header = [h.strip() for h in table[0]]
    _check_fields(header, f"{path.name}: header")
    if len(set(header)) != len(header):
        raise InputError(f"{path.name}: header: a field appears twice")
    rows = []
    for i, cells in enumerate(table[1:], 1):
        if len(cells) != len(header):
            raise InputError(f"{path.name}: row {i}: {len(cells)} cells for {len(header)} fields in the header")
        # An empty cell means the default, as an absent field does in YAML.
        rows.append({h: c.strip() for h, c in zip(header, cells) if c.strip()})
    return rows


def _yaml_rows(text: str, path: Path) -> list[dict[str, Any]]:
    data = _load_yaml(text, path)
    if not isinstance(data, list):
        raise InputError(f"{path.name}: expected a list of hosts (mappings with {', '.join(SPEC_FIELDS)})")
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise InputError(f"{path.name}: row {i}: expected a mapping")
        _check_fields(row, f"{path.name}: row {i}")
    return data


def _check_fields(fields: Any, where: str) -> None:
    for f in fields:
        if f not in SPEC_FIELDS:
            raise InputError(f"{where}: unknown field {show(f)} (known: {', '.join(SPEC_FIELDS)})")


def _spec(row: dict[str, Any], where: str) -> HostSpec:
    for f in REQUIRED:
        if row.get(f) in (None, ""):
            raise InputError(f"{where}: field {f!r}: missing")
    values: dict[str, Any] = {}
    for f, value in row.items():
        if f == "mix_release":
            values[f] = _boolean(value, where)
        elif value is not None:
            if not isinstance(value, str):
                raise InputError(f"{where}: field {f!r}: must be a string, not {show(value)}")
            values[f] = value
    return HostSpec(where=where, **values)


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise InputError(f"{where}: field 'mix_release': must be true or false, not {show(value)}")


# -- import ansible INVENTORY --------------------------------------------------------------------
# Host variables read: ansible_host (default: the inventory name), ansible_user, ansible_port,
# meshbeam_vm_args or vm_args, node_name. Group variables apply to the group's hosts and to those
# of its children; a host's own variables win, then the nearest group's.

VM_ARGS_VARS = ("meshbeam_vm_args", "vm_args")


def read_ansible(path: Path) -> list[HostSpec]:
    """Every host of an Ansible inventory, in INI or YAML form (by content: YAML starts with a
    mapping such as `all:`)."""
    text = _read_text(path)
    hosts = _ansible_yaml(text, path) if _looks_yaml(text) else _ansible_ini(text, path)
    if not hosts:
        raise InputError(f"{path}: no hosts found")
    return [_ansible_spec(name, hv, f"{path.name}: host {name}") for name, hv in hosts.items()]


def _looks_yaml(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return not stripped.startswith("[") and stripped.endswith(":") or stripped == "---"
    return False


def _ansible_spec(name: str, hostvars: dict[str, Any], where: str) -> HostSpec:
    def text(var: str) -> str | None:
        value = hostvars.get(var)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InputError(f"{where}: {var}: must be a string, not {show(value)}")
        return str(value)

    address = text("ansible_host") or name
    user, port = text("ansible_user"), text("ansible_port")
    target = f"[{address}]" if ":" in address and port else address
    ssh = (f"{user}@" if user else "") + target + (f":{port}" if port else "")
    vm_args = next((v for v in map(text, VM_ARGS_VARS) if v is not None), None)
    return HostSpec(name=name, ssh=ssh, vm_args=vm_args, node_name=text("node_name") or "app", where=where)


class _Groups:
    """Hosts and variables per group, as read from either form; resolved into host vars."""

    def __init__(self) -> None:
        self.hosts: dict[str, dict[str, dict[str, Any]]] = {}  # group -> host -> its own vars
        self.vars: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[str]] = {}

    def group(self, name: str) -> None:
        self.hosts.setdefault(name, {})
        self.vars.setdefault(name, {})
        self.children.setdefault(name, [])

    def resolve(self) -> dict[str, dict[str, Any]]:
        """host -> variables: `all`'s, then each group's from the outermost in, then its own."""
        resolved: dict[str, dict[str, Any]] = {}

        def visit(group: str, inherited: dict[str, Any], path: tuple[str, ...]) -> None:
            if group in path:
                raise InputError(f"group {group!r} is its own child")
            here = {**inherited, **self.vars.get(group, {})}
            for host, own in self.hosts.get(group, {}).items():
                resolved[host] = {**resolved.get(host, {}), **here, **own}
            for child in self.children.get(group, []):
                visit(child, here, path + (group,))

        self.group("all")
        nested = {c for cs in self.children.values() for c in cs}
        self.children["all"] += [g for g in self.hosts if g != "all" and g not in nested]  # implicit children
        visit("all", {}, ())
        return resolved


def _ansible_ini(text: str, path: Path) -> dict[str, dict[str, Any]]:
    groups, section, kind = _Groups(), "ungrouped", "hosts"
    groups.group(section)
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        where = f"{path.name}: line {n}"
        if line.startswith("["):
            if not line.endswith("]"):
                raise InputError(f"{where}: malformed section header {show(line)}")
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InputError(f"{where}: unknown section kind {show(kind)} (hosts, vars or children)")
            groups.group(section)
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            raise InputError(f"{where}: {e}") from None
        if kind == "children":
            groups.group(words[0])
            groups.children[section].append(words[0])
        elif kind == "vars":
            key, eq, value = line.partition("=")
            if not eq:
                raise InputError(f"{where}: expected NAME=VALUE in [{section}:vars]")
            groups.vars[section][key.strip()] = _ini_value(value.strip(), where)
        else:
            groups.hosts[section][words[0]] = dict(_ini_pair(w, where) for w in words[1:])
    return groups.resolve()


def _ini_pair(word: str, where: str) -> tuple[str, str]:
    key, eq, value = word.partition("=")
    if not eq:
        raise InputError(f"{where}: expected NAME=VALUE after the host name, not {show(word)}")
    return key, value


def _ini_value(value: str, where: str) -> str:
    try:
        words = shlex.split(value)
    except ValueError as e:
        raise InputError(f"{where}: {e}") from None
    return words[0] if len(words) == 1 else value


def _ansible_yaml(text: str, path: Path) -> dict[str, dict[str, Any]]:
    data = _load_yaml(text, path)
    if not isinstance(data, dict):
        raise InputError(f"{path.name}: expected a mapping of groups (such as `all:`)")
    groups = _Groups()

    def group(name: str, body: Any) -> None:
        where = f"{path.name}: group {name}"
        groups.group(name)
        if body is None:
            return
        if not isinstance(body, dict):
            raise InputError(f"{where}: expected a mapping with hosts, vars or children")
        for key in body:
            if key not in ("hosts", "vars", "children"):
                raise InputError(f"{where}: unknown key {show(key)} (hosts, vars or children)")
        for host, hv in _mapping(body.get("hosts"), f"{where}: hosts").items():
            groups.hosts[name][str(host)] = _mapping(hv, f"{where}: host {host}")
        groups.vars[name].update(_mapping(body.get("vars"), f"{where}: vars"))
        for child, child_body in _mapping(body.get("children"), f"{where}: children").items():
            groups.children[name].append(str(child))
            group(str(child), child_body)

    for name, body in data.items():
        group(str(name), body)
    return groups.resolve()


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping, not {show(value)}")
    return value
