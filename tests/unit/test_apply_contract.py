"""The apply preamble is a contract: every action script the layers emit uses only what hostlib's
apply_preamble defines (ACTION_FUNCTIONS, ACTION_VARIABLES), the host's tools and a few POSIX commands.

The plans come from a matrix: both backends, a host without a node, with one, with a mix release; identity
key and none; --epmd mesh and none; systemd or not; a fresh host, a converged one, and `down`. Their facts
are probed as each host's query is, so a layer reading a flag its query does not ask about fails here too.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace

import pytest

from meshbeam import beamplan, distmod, hostlib, plan, remote, tincplan, wgplan
from meshbeam.command import Cmd, Sh
from meshbeam.keys import KeyStore
from meshbeam.inventory import Host, Mesh
from meshbeam.plantypes import Facts, FileFact, HostPlan
from tests.stubsh import BACKENDS, fixed_mesh

# Besides the contract's functions, an action runs the tools plan.build checks for, systemctl (on systemd
# hosts), these POSIX commands and shell words, and the coreutils that hostlib's own steps rely on.
HOST_TOOLS = {*wgplan.TOOLS, *tincplan.TOOLS, *beamplan.TOOLS, "systemctl"}
POSIX = {"[", ":", "cat", "chmod", "install", "mkdir", "printf", "rm", "rmdir", "sleep"}
COREUTILS = {"base64", "sha256sum"}
ALLOWED = HOST_TOOLS | POSIX | COREUTILS | set(hostlib.ACTION_FUNCTIONS)
SEPARATORS = {";", "&&", "||", "|", "&", "(", "$(", "{", "\n"}  # a command follows
KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!"}  # a command follows
ENDS = {"fi", "done", "esac", ")", "}"}
ASSIGNMENT = re.compile(r"([A-Za-z_]\w*)=\S*")
TOKEN = re.compile(r"&&|\|\||\$\(|[;&|(){}\n]|[^\s;&|(){}]+")


def _unquoted(text: str) -> tuple[str, str]:
    """(the text with single-quoted strings emptied, and with double-quoted ones emptied too): quoted text
    is an argument, never a command; $NAME still counts inside double quotes."""
    keep, bare, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i = text.index("'", i + 1) + 1
            keep.append("''")
            bare.append("''")
        elif c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            keep.append(text[i:j + 1])
            bare.append('""')
            i = j + 1
        elif c == "\\":
            keep.append("_")
            bare.append("_")
            i += 2
        else:
            keep.append(c)
            bare.append(c)
            i += 1
    return "".join(keep), "".join(bare)


def names_used(script: str) -> tuple[set[str], set[str], set[str]]:
    """(commands, variables read, variables assigned) of a shell text, for the texts actions are."""
    keep, bare = _unquoted(script)
    arithmetic = re.compile(r"\$\(\((.*?)\)\)")
    read = set(re.findall(r"\$\{?([A-Za-z_]\w*)", keep))
    read |= {n for expr in arithmetic.findall(keep) for n in re.findall(r"[A-Za-z_]\w*", expr)}
    bare = re.sub(r"\$\{[^}]*\}", "x", arithmetic.sub("0", bare)).replace(">&", ">")  # 2>&1 is no `&`
    commands, assigned, expect = set(), set(), True
    for tok in TOKEN.findall(bare):
        if tok in SEPARATORS:
            expect = True
        elif tok in ENDS:
            expect = False
        elif not expect or tok in KEYWORDS:
            continue
        elif m := ASSIGNMENT.fullmatch(tok):
            assigned.add(m[1])
        else:
            commands.add(tok)
            expect = False
    return commands, read, assigned


def contract_breaches(script: Cmd) -> list[str]:
    commands, read, assigned = names_used(script.render())
    return ([f"command {c!r}" for c in sorted(commands - ALLOWED)]
            + [f"variable ${v}" for v in sorted(read - assigned - set(hostlib.ACTION_VARIABLES))])


# ---- the matrix of plans -------------------------------------------------------------------------


HERE = distmod.Build(erts="13.1.5", beam=bytes(range(256)))  # every byte value through the install script


def _facts(q: plan.Query, flags: set[str], files: dict[str, FileFact] | None = None) -> Facts:
    return Facts(frozenset(q.tools), frozenset(flags), ("198.18.0.9/24",), {u: f"/srv/{u}-home" for u in q.users},
                 files or {p: FileFact(p, False) for p in q.paths}, {d: ("gone",) for d in q.listdirs},
                 probed=frozenset(n for n, _ in q.probes))


def _variants(mesh: Mesh) -> Iterator[tuple[str, Mesh, Host]]:
    for identity in ("key", "none"):
        for epmd in ("mesh", "none"):
            m = replace(mesh, identity=identity, epmd=epmd)
            s2 = m.host("s2")
            for host in (m.host("s1"), s2, replace(s2, mix_release=True)):
                label = f"{identity} {epmd} {host.name}{' mix' if host.mix_release else ''}"
                yield label, replace(m, hosts=(m.hosts[0], host)), host


def plans(mesh: Mesh, store: KeyStore) -> Iterator[tuple[str, HostPlan]]:
    """`up` on a fresh host and on a converged one, and `down`, under four sets of flags each."""
    for label, m, host in _variants(mesh):
        q = plan.query(m, host)
        probed = {n for n, _ in q.probes}
        for flag_set, flags in (("no flags", set()), ("systemd", {"systemd"}), ("all flags", probed),
                                ("all but systemd", probed - {"systemd"})):
            fresh = _facts(q, flags)
            up = plan.build(m, host, store, fresh)
            files = dict(fresh.files)
            for w in up.writes:
                key = w.old.path if w.old else w.path
                files[key] = FileFact(key, True, w.mode, w.owner, w.content)
            converged = _facts(q, flags, files)
            name = f"{label}, {flag_set}"
            yield f"up {name}", up
            here = replace(fresh, erl_erts=("13.1.5",) if q.erl_erts else ())
            yield f"up with the module compiled here {name}", plan.build(m, host, store, here, HERE)
            yield f"up again {name}", plan.build(m, host, store, converged)
            yield f"down {name}", plan.teardown(m, host, store, converged)


@pytest.fixture(scope="module")
def every_plan(tmp_path_factory) -> list[tuple[str, HostPlan]]:
    out = []
    for backend in BACKENDS:
        mesh, store = fixed_mesh(backend, tmp_path_factory.mktemp(backend))
        out += [(f"{backend} {label}", p) for label, p in plans(mesh, store)]
    return out


# ---- the tests -------------------------------------------------------------------------------------


def test_the_preamble_defines_what_the_contract_names():
    text = hostlib.apply_preamble([]).render()
    for name in hostlib.ACTION_FUNCTIONS:
        assert re.search(rf"^{name}\(\) \{{", text, re.M), f"{name} is not defined by the preamble"
    for var in hostlib.ACTION_VARIABLES:
        assert re.search(rf"^{var}=", text, re.M), f"${var} is not set by the preamble"
    assert text.startswith("set -e\numask 077\n")


def _check(text: str) -> list[str]:
    return contract_breaches(Cmd(Sh(text)))  # type: ignore[arg-type]  # test input, not a value


def test_the_checker_finds_a_breach():
    bad = [
        ("run_loged wg-quick up mb0", ["command 'run_loged'"]),
        ('cat "$wrok/log"', ["variable $wrok"]),
        ('commit root "$t0" /etc/x root', ["command 'commit'", "variable $t0"]),  # the apply script's own step
        ("systemctl enable x && { rmdir d || fill a b c d; }", ["command 'fill'"]),
        ('if ip link show dev mb0; then frobnicate; fi', ["command 'frobnicate'"]),
    ]
    for text, found in bad:
        assert _check(text) == found, text
    assert _check('i=0; while [ -f /run/x ] && [ $i -lt 5 ]; do sleep 0.1; i=$((i+1)); done') == []
    assert _check('HOME="$work/h" run_logged erl -eval \'x; frobnicate $y\' "a; b $work" 2>&1') == []  # arguments


def test_every_action_uses_only_the_preamble_and_standard_commands(every_plan):
    breaches = {f"{label}: {a.label}": contract_breaches(a.script) for label, p in every_plan for a in p.actions}
    assert {k: v for k, v in breaches.items() if v} == {}


def test_every_apply_script_parses(every_plan):
    scripts = {remote.apply_script(p).render() for _, p in every_plan if p.actions}
    for text in scripts:
        r = subprocess.run(["/bin/sh", "-n"], input=text.encode(), capture_output=True)
        assert r.returncode == 0, r.stderr.decode()


def test_the_matrix_holds_the_layers_actions(every_plan):
    """Every kind of action is in the matrix, so the contract is checked on each."""
    texts = "\n".join(a.script.render() for _, p in every_plan for a in p.actions)
    for word in ("run_logged wg-quick up", "wg syncconf", "run_logged tincd -n", "tincd -n mb0 -kHUP", "read_owned",
                 "run_logged erlc", "| base64 -d >", "nft -f", "nft delete table", "systemctl mask", "systemctl unmask",
                 "systemctl add-wants", "systemctl daemon-reload", "ip -4 addr replace", "wg-quick down"):
        assert word in texts, word
