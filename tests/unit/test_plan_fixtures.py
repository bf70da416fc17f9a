"""Plan tests as data, in pyinfra's fixture style: each tests/fixtures/plans/TOPIC/CASE.yaml holds an inventory,
the host planned, its facts, `up` or `down`, and the plan expected; one test runs every file.

tests/fixtures/plans/README.md describes the format. A key the format does not know is an error, and every
expectation left out means "none" (no writes, no actions...), so a typo cannot make a case pass unchecked.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import ipaddress
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from meshbeam import backends, distmod, identityplan, inventory, keys, plan, plantypes, tinc
from meshbeam.errors import InputError, MeshbeamError
from meshbeam.inventory import Host, Mesh
from meshbeam.keys import KeyStore
from meshbeam.plantypes import Facts, FileFact, HostPlan, Query

PLANS = Path(__file__).parent.parent / "fixtures" / "plans"
KEYS = PLANS / "keys"  # test-only keys: member i of a case (hosts, then peers) gets the i-th of its backend
CASES = sorted(PLANS.glob("*/*.yaml"))
FACT_KEYS = ("tools", "flags", "iface_addrs", "homes", "files", "listings", "erl_erts", "converged")
HERE_KEYS = ("erts", "why_not")
HERE_BEAM = b"FOR1 (compiled here)"
FILE_KEYS = ("path", "exists", "mode", "owner", "content", "rendered", "before", "problem", "actor", "extra")
EXPECT_KEYS = ("writes", "removes", "actions", "notes", "error")
WRITE_KEYS = ("path", "reason", "mode", "owner", "secret", "actor", "content", "contains", "not_contains")
ACTION_KEYS = ("label", "contains", "not_contains")
REASONS = ("new", "changed", "mode", "backup")
BACKUP = "backup:"  # "backup:PATH" stands for plantypes.backup_path(PATH), a hash no reader could check


def shown_path(q: Query) -> Callable[[str], str]:
    """A path of a plan as fixtures write it: a backup as "backup:" and the path it keeps."""
    names = {plantypes.backup_path(p): BACKUP + p for p in q.paths}
    return lambda path: names.get(path, path)


class FixtureError(Exception):
    """A fixture that does not follow the format, named with where in the file."""


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice (YAML would keep the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
        for i, k in enumerate(seen):
            if k in seen[:i]:
                raise FixtureError(f"line {node.start_mark.line + 1}: key {k!r} appears twice")
        return super().construct_mapping(node, deep)


def _mapping(value: Any, where: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FixtureError(f"{where}: expected a mapping, got {value!r}")
    for k in value:
        if k not in required + optional:
            raise FixtureError(f"{where}: unknown key {k!r} (known: {', '.join(required + optional)})")
    for k in required:
        if k not in value:
            raise FixtureError(f"{where}: missing key {k!r}")
    return value


def _typed(value: Any, typ: type, where: str) -> Any:
    if not isinstance(value, typ):
        raise FixtureError(f"{where}: expected a {typ.__name__}, got {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:  # one string alone is a list of one
    items = [value] if isinstance(value, str) else _typed(value, list, where)
    return [_typed(s, str, f"{where}[{i}]") for i, s in enumerate(items)]


def _mode(value: Any, where: str) -> int:
    text = _typed(value, str, where)  # "0600" quoted: YAML reads an unquoted 0600 as the number 384
    if not text or any(c not in "01234567" for c in text):
        raise FixtureError(f"{where}: {text!r} is not an octal mode such as \"0600\"")
    return int(text, 8)


def build_inventory(spec: Any, directory: Path) -> tuple[Mesh, KeyStore]:
    """mesh.yaml's form without the public keys (each member's comes from its test key), addresses (the
    mesh's next free ones), ssh and endpoint (198.51.100.11 and on, the mesh port) unless given."""
    spec = _mapping(spec, "inventory", optional=("mesh", "hosts", "peers"))
    mesh = dict(_mapping(spec.get("mesh", {}), "inventory.mesh", optional=inventory.MESH_FIELDS))
    mesh.setdefault("cidr", "198.18.0.0/24")
    backend = backends.of(mesh.get("backend", "wireguard"))
    members = [("hosts", i, m) for i, m in enumerate(_typed(spec.get("hosts", []), list, "inventory.hosts"))]
    members += [("peers", i, m) for i, m in enumerate(_typed(spec.get("peers", []), list, "inventory.peers"))]
    slots = sorted((KEYS / ("tinc" if backend.rsa_keys else "wireguard")).iterdir())
    if len(members) > len(slots):
        raise FixtureError(f"inventory: {len(members)} members, but {KEYS} holds {len(slots)} {backend.name} keys")
    given = {m.get("address") for _, _, m in members if isinstance(m, dict)}
    free = (str(a) for a in ipaddress.IPv4Network(mesh["cidr"]).hosts() if str(a) not in given)
    store = directory / "keys"
    store.mkdir(mode=0o700, parents=True)
    for name in (keys.PSK_SECRET_FILE, keys.COOKIE_FILE):
        (store / name).write_bytes((KEYS / name).read_bytes())
    out: dict[str, list[dict[str, Any]]] = {"hosts": [], "peers": []}
    for n, (kind, i, m) in enumerate(members):
        fields = inventory.HOST_FIELDS if kind == "hosts" else inventory.PEER_FIELDS
        allowed = tuple(f for f in fields if f not in ("name", "public_key"))
        m = dict(_mapping(m, f"inventory.{kind}[{i}]", ("name",), allowed))
        private = slots[n].read_text()
        m["public_key"] = tinc.public_pem(private) if backend.rsa_keys else keys.public_key(private.strip())
        m.setdefault("address", next(free))
        if kind == "hosts":
            m.setdefault("ssh", f"root@198.51.100.{11 + n}")
            m.setdefault("endpoint", f"198.51.100.{11 + n}:{mesh.get('port', 51820)}")
        (store / f"{m['name']}.key").write_text(private)
        out[kind].append(m)
    try:
        return inventory.from_dict({"mesh": mesh, **out}, "inventory"), KeyStore(directory)
    except InputError as e:
        raise FixtureError(str(e)) from None


def _file(e: dict[str, Any], where: str, base: FileFact) -> FileFact:
    """A file as the fixture gives it; `base` is the absent fact (with its actor) when the fixture gives none."""
    if "problem" in e:
        return replace(base, exists=True, problem=_typed(e["problem"], str, f"{where}.problem"))
    if not _typed(e.get("exists", True), bool, f"{where}.exists"):
        if more := sorted(set(e) - {"path", "exists", "extra", "actor"}):
            raise FixtureError(f"{where}: a file that does not exist has no {', '.join(more)}")
        return base
    return replace(base, exists=True, mode=_mode(e.get("mode", "0644"), f"{where}.mode"),
                   owner=_typed(e.get("owner", "root"), str, f"{where}.owner"),
                   content=_typed(e.get("content", ""), str, f"{where}.content").encode())


def load_here(spec: Any) -> distmod.Build:
    """The case's `here`: meshbeam_dist as compiled on the operator's machine, by ERTS `erts`, or `why_not`."""
    e = _mapping(spec, "here", optional=HERE_KEYS)
    if len(e) != 1:
        raise FixtureError("here: give one of erts (the module compiled here) or why_not (it was not)")
    if "erts" in e:
        return distmod.Build(erts=_typed(e["erts"], str, "here.erts"), beam=HERE_BEAM)
    return distmod.Build(why_not=_typed(e["why_not"], str, "here.why_not"))


def load_facts(spec: Any, mesh: Mesh, host: Host, store: KeyStore, here: distmod.Build | None) -> Facts:
    """The one place a fixture's facts become Facts: what remote.gather would return for the host's query.

    Every queried path is absent unless `files` lists it; tools default to every tool the query asks for;
    flags must be names of the host's probes; homes default to /root or /home/USER for the query's users.
    """
    spec = _mapping(spec, "facts", optional=FACT_KEYS)
    q = plan.query(mesh, host)
    probes = [name for name, _ in q.probes]
    flags = _strings(spec.get("flags", []), "facts.flags")
    tools = _strings(spec.get("tools", list(q.tools)), "facts.tools")
    for what, names, known in (("flags", flags, probes), ("tools", tools, q.tools)):
        if set(names) - set(known):
            raise FixtureError(f"facts.{what}: {sorted(set(names) - set(known))} not among this host's query's "
                               f"{what} ({', '.join(known)})")
    files = {p: FileFact(p, False) for p in q.paths}
    rendered: dict[str, dict[str, Any]] = {}
    listed: set[str] = set()
    for i, entry in enumerate(_typed(spec.get("files", []), list, "facts.files")):
        e = _mapping(entry, f"facts.files[{i}]", ("path",), FILE_KEYS[1:])
        where = f"facts.files[{i}] ({e['path']})"
        path = _typed(e["path"], str, f"facts.files[{i}].path")
        path = plantypes.backup_path(path[len(BACKUP):]) if path.startswith(BACKUP) else path
        if path in listed:
            raise FixtureError(f"{where}: listed twice")
        listed.add(path)
        if path not in q.paths and not _typed(e.get("extra", False), bool, f"{where}.extra"):
            raise FixtureError(f"{where}: not a path this host's query reads; mark a file read beyond it "
                               "(an -args_file include) with `extra: true`")
        base = FileFact(path, False, actor=_typed(e.get("actor", "root"), str, f"{where}.actor"))
        if _typed(e.get("rendered", False), bool, f"{where}.rendered"):
            if {"content", "exists", "problem"} & set(e):
                raise FixtureError(f"{where}: a rendered file takes no content, exists or problem")
            if (before := e.get("before")) is not None:
                b = ({"content": before} if isinstance(before, str)
                     else _mapping(before, f"{where}.before", ("content",), ("mode", "owner")))
                base = _file({"path": path, **b}, f"{where}.before", base)
            rendered[path] = e
        elif "before" in e:
            raise FixtureError(f"{where}: `before` goes with `rendered: true`")
        else:
            base = _file(e, where, base)
        files[path] = base
    homes = spec.get("homes", {u: "/root" if u == "root" else f"/home/{u}" for u in q.users})
    listings: dict[str, tuple[str, ...]] = {d: () for d in q.listdirs}
    for d, names in _mapping(spec.get("listings", {}), "facts.listings", optional=q.listdirs).items():
        listings[d] = tuple(_strings(names, f"facts.listings.{d}"))
    erl_erts = tuple(_strings(spec.get("erl_erts", []), "facts.erl_erts"))
    if erl_erts and not q.erl_erts:
        raise FixtureError("facts.erl_erts: this host's query does not read the ERTS version (no vm_args, or identity none)")
    facts = Facts(tools=frozenset(tools), flags=frozenset(flags),
                  iface_addrs=tuple(_strings(spec.get("iface_addrs", []), "facts.iface_addrs")),
                  homes=_typed(homes, dict, "facts.homes"), files=files, listings=listings, erl_erts=erl_erts,
                  probed=frozenset(probes))
    converged = _typed(spec.get("converged", False), bool, "facts.converged")
    if not (rendered or converged):
        return facts
    return replace(facts, files=_as_up_left(mesh, host, store, facts, here, rendered, listed if converged else None))


def _as_up_left(mesh: Mesh, host: Host, store: KeyStore, facts: Facts, here: distmod.Build | None,
                rendered: dict[str, dict[str, Any]], listed: set[str] | None) -> dict[str, FileFact]:
    """The files after an `up` on a host that had none but the `before` of the `rendered` ones (on systemd if the
    flags say so): the `rendered` ones; with `listed` (converged) also every file that up writes and the fixture
    does not list, and the module its compile action makes. The files the fixture gives as they are now stay."""
    queried = plan.query(mesh, host)
    start = {p: f if p in rendered or p not in queried.paths else FileFact(p, False, actor=f.actor)
             for p, f in facts.files.items()}
    before = replace(facts, tools=frozenset(queried.tools), flags=facts.flags & {"systemd"}, files=start)
    try:
        up = plan.build(mesh, host, store, before, here)
    except MeshbeamError as e:
        raise FixtureError(f"facts: `up` on the files before it refused ({e}); list the files instead") from None
    written = {w.old.path if w.old else w.path: w for w in up.writes}
    files = dict(facts.files)
    wanted: dict[str, dict[str, Any]] = {k: {} for k in written if k not in listed} if listed is not None else {}
    for key, e in (wanted | rendered).items():
        w = written.get(key)
        if w is None:
            raise FixtureError(f"facts.files ({key}): rendered, but `up` writes nothing there from these facts")
        files[key] = replace(files[key], exists=True, content=w.content,
                             mode=_mode(e["mode"], f"facts.files ({key}).mode") if "mode" in e else w.mode,
                             owner=_typed(e.get("owner", w.owner), str, f"facts.files ({key}).owner"))
    if listed is not None and any(a.label.startswith((f"compile {distmod.MODULE}", f"install {distmod.MODULE}"))
                                  for a in up.actions):
        stamp = f"{hashlib.sha256(distmod.source()).hexdigest()}\n".encode()
        for path, content in ((distmod.BEAM_PATH, b"FOR1 (compiled)"), (identityplan.STAMP_PATH, stamp)):
            if path not in listed:
                files[path] = FileFact(path, True, 0o644, "root", content)
    return files


@dataclass(frozen=True)
class Check:
    """What must (or must not) be in one text: a write's content or an action's script."""

    exact: str | None
    contains: tuple[str, ...]
    absent: tuple[str, ...]

    @classmethod
    def of(cls, e: dict[str, Any], where: str) -> Check:
        exact = _typed(e["content"], str, f"{where}.content") if "content" in e else None
        return cls(exact, tuple(_strings(e.get("contains", []), f"{where}.contains")),
                   tuple(_strings(e.get("not_contains", []), f"{where}.not_contains")))

    def differences(self, text: str, where: str, secret: bool = False) -> list[str]:
        """What is wrong with `text`; a secret text is never shown (its keys are test-only, but the rule holds)."""
        out = []
        if self.exact is not None and self.exact != text:
            diff = "".join(difflib.unified_diff(self.exact.splitlines(True), text.splitlines(True), "fixture", "plan"))
            out.append(f"{where}: content differs" + (" (secret, not shown)" if secret else f":\n{diff}"))
        out += [f"{where}: does not contain {s!r}" for s in self.contains if s not in text]
        return out + [f"{where}: contains {s!r}, which it must not" for s in self.absent if s in text]


def _wanted_write(e: dict[str, Any], where: str) -> tuple[str, dict[str, Any], Check]:
    """(path, the fields to compare, the content check) of one expected write."""
    if _typed(e["reason"], str, f"{where}.reason") not in REASONS:
        raise FixtureError(f"{where}.reason: {e['reason']!r} is none of {', '.join(REASONS)}")
    fields = {"reason": e["reason"]} | {k: _typed(e[k], bool if k == "secret" else str, f"{where}.{k}")
                                        for k in ("owner", "actor", "secret") if k in e}
    if "mode" in e:
        fields["mode"] = f"{_mode(e['mode'], f'{where}.mode'):04o}"
    return _typed(e["path"], str, f"{where}.path"), fields, Check.of(e, where)


def compare(spec: Any, p: HostPlan, shown: Callable[[str], str]) -> list[str]:
    """Every difference between the plan and `expect`, each named by its place in the fixture.

    The whole of `expect` is checked for its form first, so a malformed entry fails even when the plan differs."""
    expect = _mapping(spec, "expect", optional=EXPECT_KEYS)
    writes = [_wanted_write(_mapping(w, f"expect.writes[{i}]", ("path", "reason"), WRITE_KEYS[2:]),
                            f"expect.writes[{i}]")
              for i, w in enumerate(_typed(expect.get("writes", []), list, "expect.writes"))]
    actions = []
    for i, a in enumerate(_typed(expect.get("actions", []), list, "expect.actions")):
        e = _mapping({"label": a} if isinstance(a, str) else a, f"expect.actions[{i}]", ("label",), ACTION_KEYS[1:])
        actions.append((_typed(e["label"], str, f"expect.actions[{i}].label"), Check.of(e, f"expect.actions[{i}]")))
    removes, notes = (_strings(expect.get(k, []), f"expect.{k}") for k in ("removes", "notes"))
    out: list[str] = []
    got = [shown(w.path) for w in p.writes]
    if [path for path, _, _ in writes] != got:
        out.append(f"expect.writes: paths differ: wanted {[path for path, _, _ in writes]}, "
                   f"got {[f'{g} ({w.reason})' for g, w in zip(got, p.writes)]}")
    for i, ((path, fields, check), w) in enumerate(zip(writes, p.writes) if not out else ()):
        where = f"expect.writes[{i}] ({path})"
        for k, v in fields.items():
            have = f"{w.mode:04o}" if k == "mode" else getattr(w, k)
            if have != v:
                out.append(f"{where}.{k}: wanted {v!r}, got {have!r}")
        out += check.differences(w.content.decode(errors="replace"), where, w.secret)
    if removes != [shown(r) for r in p.removes]:
        out.append(f"expect.removes: wanted {removes}, got {[shown(r) for r in p.removes]}")
    labels = [a.label for a in p.actions]
    if [label for label, _ in actions] != labels:
        out.append(f"expect.actions: labels differ: wanted {[label for label, _ in actions]}, got {labels}")
    else:
        for i, ((label, check), a) in enumerate(zip(actions, p.actions)):
            out += check.differences(a.script.render(), f"expect.actions[{i}] ({label})")
    if len(notes) != len(p.notes) or any(n not in have for n, have in zip(notes, p.notes)):
        out.append(f"expect.notes: wanted {len(notes)} notes containing {notes}, got {list(p.notes)}")
    return out


def run_case(data: Any, directory: Path) -> list[str]:
    """Plan one fixture (parsed) and return its differences from `expect`; FixtureError for a malformed one."""
    case = _mapping(data, "the case", ("description", "inventory", "host", "run", "expect"), ("facts", "here"))
    _typed(case["description"], str, "description")
    mesh, store = build_inventory(case["inventory"], directory)
    try:
        host = mesh.host(_typed(case["host"], str, "host"))
    except InputError as e:
        raise FixtureError(f"host: {e}") from None
    if case["run"] not in ("up", "down"):
        raise FixtureError(f"run: {case['run']!r} is neither up (plan.build) nor down (plan.teardown)")
    here = load_here(case["here"]) if "here" in case else None
    facts = load_facts(case.get("facts", {}), mesh, host, store, here)
    expect = _mapping(case["expect"], "expect", optional=EXPECT_KEYS)
    if "error" in expect and len(expect) > 1:
        raise FixtureError("expect: `error` stands alone (a refused plan has no writes, actions or notes)")
    shown = shown_path(plan.query(mesh, host))
    try:
        p = plan.build(mesh, host, store, facts, here) if case["run"] == "up" else plan.teardown(mesh, host, store, facts)
    except MeshbeamError as e:
        if "error" not in expect:
            return [f"the planner refused: {e}"]
        wanted = _typed(expect["error"], str, "expect.error")
        return [] if wanted in str(e) else [f"expect.error: wanted a message containing {wanted!r}, got {str(e)!r}"]
    if "error" in expect:
        return [f"expect.error: wanted an error containing {expect['error']!r}, but the plan was built: "
                f"writes {[shown(w.path) for w in p.writes]}, actions {[a.label for a in p.actions]}"]
    return compare(expect, p, shown)


def load_case(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as e:
        raise FixtureError(f"not valid YAML: {e}") from None


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(PLANS).with_suffix("")) for p in CASES])
def test_plan_fixture(path: Path, tmp_path: Path) -> None:
    rel = path.relative_to(PLANS.parent.parent.parent)
    try:
        differences, what = run_case(load_case(path), tmp_path), "the plan differs from the fixture"
    except FixtureError as e:
        differences, what = [str(e)], "malformed fixture"
    if differences:
        pytest.fail(f"{rel}: {what}:\n  " + "\n  ".join(differences), pytrace=False)


def test_every_topic_has_cases() -> None:
    topics = {p.parent.name for p in CASES}
    assert {"wireguard", "tinc", "beam", "firewall", "systemd", "identity", "down"} <= topics and len(CASES) >= 25


def _case(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_case(PLANS / f"{name}.yaml"))


@pytest.mark.parametrize("spoil, error", [
    (lambda c: c.update(typo_key=1), "the case: unknown key 'typo_key'"),
    (lambda c: c["inventory"]["hosts"][0].update(vm_arg="/srv/app/vm.args"), "unknown key 'vm_arg'"),
    (lambda c: c["facts"].update(flag=["iface"]), "facts: unknown key 'flag'"),
    (lambda c: c["facts"]["files"][0].update(contents="x"), "unknown key 'contents'"),
    (lambda c: c["expect"].update(write=[]), "expect: unknown key 'write'"),
    (lambda c: c["expect"]["writes"][0].update(mdoe="0600"), "expect.writes[0]: unknown key 'mdoe'"),
    (lambda c: c["expect"]["actions"][0].update(contain="x"), "expect.actions[0]: unknown key 'contain'"),
    (lambda c: c["facts"].update(flags=["ifcae"]), "facts.flags: ['ifcae'] not among this host's query's flags"),
    (lambda c: c["facts"]["files"][0].update(path="/etc/wireguard/mb0.cnf"), "not a path this host's query reads"),
    (lambda c: c["expect"]["writes"][1].update(mode=384), "expect.writes[1].mode: expected a str"),
])
def test_a_malformed_case_is_an_error(tmp_path: Path, spoil: Callable[[dict[str, Any]], None], error: str) -> None:
    case = _case("wireguard/changed_conf_live_iface")
    spoil(case)
    with pytest.raises(FixtureError, match=re.escape(error)):
        run_case(case, tmp_path)


def test_each_difference_is_named_by_its_field(tmp_path: Path) -> None:
    case = _case("wireguard/changed_conf_live_iface")
    assert run_case(copy.deepcopy(case), tmp_path / "a") == []
    case["expect"]["writes"][1]["mode"] = "0644"
    case["expect"]["actions"][0]["contains"] = ["wg-quick up"]
    case["expect"]["notes"] = []
    found = run_case(case, tmp_path / "b")
    assert found[0].startswith("expect.writes[1] (/etc/wireguard/mb0.conf).mode: wanted '0644', got '0600'"), found
    assert found[1].startswith("expect.actions[0] (wg syncconf mb0): does not contain 'wg-quick up'"), found
    assert found[2].startswith("expect.notes: wanted 0 notes"), found
    case = _case("wireguard/changed_conf_live_iface")
    case["facts"]["flags"] = []  # the interface is down: wg-quick up, not wg syncconf
    assert run_case(case, tmp_path / "c") == [
        "expect.actions: labels differ: wanted ['wg syncconf mb0'], got ['wg-quick up mb0']"]
