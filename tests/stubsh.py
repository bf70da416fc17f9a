"""Every script meshbeam sends to a host, run by a real sh among stubs: shared by the unit tests
(tests/unit/test_commands.py) and the full hostile matrix (tests/e2e/test_hostile_scripts.py).

The stubs stand in for every command with an effect and only log their argv; read-only text
tools (awk, stat, ...) are the real ones. A hostile value tries to create CANARY with a shell
redirection, which needs no command at all, so no stub can hide it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from meshbeam import keys, plan, plantypes, probes, remote, status, tinc
from meshbeam.command import Cmd
from meshbeam.errors import PlanError
from meshbeam.inventory import Host, Mesh, Peer
from meshbeam.keys import KeyStore
from meshbeam.plan import Facts, FileFact

FIXTURES = Path(__file__).parent / "fixtures"
BACKENDS = ("wireguard", "tinc")

HOSTILE = [
    "$(: >CANARY)",
    "`: >CANARY`",
    "'; : >CANARY; '",
    '"; : >CANARY; "',
    "x\n: >CANARY\n",
    "x\nfile 0 777 root\nAAAA",
    "a;: >CANARY",
    "a&&: >CANARY",
    "a|: >CANARY",
    "*",
    "/*/?[a]",
    "-rf",
    "\\$(: >CANARY)",
    "${IFS}$(: >CANARY)",
    "ctl\x01\x07\x1b[31m\x7f",
    "é ✓ ü",
    "MESHBEAM_EOF\n: >CANARY\nMESHBEAM_EOF",
    "x" * 5000 + "$(: >CANARY)",
]

# Commands with an effect are stubs that log their argv; these read-only tools are the real ones.
REAL_TOOLS = ("awk", "cut", "dirname", "readlink", "grep", "base64", "sha256sum", "cat", "tr", "id", "getent",
              "stat", "date", "tail", "head")
STUBS = ("mkdir", "mktemp", "chmod", "chown", "mv", "rm", "setpriv", "sh", "ip", "wg", "wg-quick", "ss", "nft",
         "systemctl", "erl", "erlc", "tincd", "ping", "timeout", "find", "kill", "sleep", "touch", "cp", "env",
         "install")
STUB = """#!/bin/sh
printf '%s\\0' "${0##*/}" "$@" >> "$STUB_LOG"; printf '\\n' >> "$STUB_LOG"
if [ "${0##*/}" = mktemp ]; then
  n="$STUB_TMP/t.$$"
  case " $* " in *" -d "*) /bin/mkdir -p "$n" ;; *) : > "$n" ;; esac
  echo "$n"
fi
if [ "${0##*/}" = mkdir ]; then  # only inside the throwaway directory
  for a in "$@"; do case $a in "$STUB_TMP"/*) /bin/mkdir -p -- "$a" ;; esac; done
fi
exit 0
"""


def _fixed_private(name: str) -> str:
    return base64.b64encode(keys.clamp(hashlib.sha256(f"meshbeam commands {name}".encode()).digest())).decode()


def _pem(i: int) -> str:
    return (FIXTURES / f"tinc_rsa_{i}.pem").read_text()  # test-only keys


@functools.cache
def _fixed_keys(backend: str) -> tuple[dict[str, str], dict[str, str]]:
    """(private, public) keys by member name; once per backend, as reading an RSA key is slow."""
    names = ("s1", "s2", "laptop")
    private = {n: (_pem(i + 1) if backend == "tinc" else _fixed_private(n)) for i, n in enumerate(names)}
    return private, {n: (tinc.public_pem(k) if backend == "tinc" else keys.public_key(k)) for n, k in private.items()}


def fixed_mesh(backend: str, tmp_path: Path) -> tuple[Mesh, KeyStore]:
    """A fixed mesh of two hosts (s2 runs a node) and a laptop, with its keystore under tmp_path."""
    private, pub = _fixed_keys(backend)
    hosts = (
        Host("s1", "root@198.51.100.11", "198.18.0.1", "198.51.100.11:51820", pub["s1"]),
        Host("s2", "root@198.51.100.12", "198.18.0.2", "198.51.100.12:51820", pub["s2"],
             vm_args="/srv/app/releases/1.0/vm.args", node_name="web", run_user="mbapp"),
    )
    mesh = Mesh(backend=backend, cidr="198.18.0.0/24", hosts=hosts, peers=(Peer("laptop", "198.18.0.3", pub["laptop"]),))
    store = tmp_path / "keys"
    store.mkdir(mode=0o700, parents=True)
    for name, key in private.items():
        (store / f"{name}.key").write_text(key + "\n")
    (store / keys.PSK_SECRET_FILE).write_text(base64.b64encode(b"p" * 32).decode() + "\n")
    (store / "cookie").write_text("C" * 43 + "\n")
    return mesh, KeyStore(tmp_path)


def fresh_facts(q: plan.Query, flags: set[str] = frozenset()) -> Facts:
    """A host with the tools and nothing of meshbeam's yet."""
    files = {p: FileFact(p, False) for p in q.paths}
    homes = {u: f"/srv/{u}-home" for u in q.users}
    return Facts(frozenset(q.tools), frozenset(flags), ("198.18.0.9/24",), homes, files, {d: ("gone",) for d in q.listdirs})


def converged_facts(mesh: Mesh, host: Host, store: KeyStore) -> Facts:
    """The host after an `up`: every file as meshbeam wrote it, a backup of each as it was before."""
    q = plan.query(mesh, host)
    after = plan.build(mesh, host, store, fresh_facts(q))
    files = dict(fresh_facts(q).files)
    for w in after.writes:
        key = w.old.path if w.old else w.path
        files[key] = FileFact(key, True, w.mode, w.owner, w.content)
    cookie = f"~{host.run_user}/.erlang.cookie"
    if cookie in files:  # the run user had a cookie of its own before meshbeam
        files[plantypes.backup_path(cookie)] = FileFact(plantypes.backup_path(cookie), True, 0o600, "root",
                                                   b"meshbeam-backup 1 400 mbapp\nthe user's own cookie")
    return replace(fresh_facts(q, {"iface", "tincd", "nft-table", "node-running"}), files=files)


def every_script(mesh: Mesh, host: Host, store: KeyStore) -> Iterator[tuple[str, Cmd]]:
    """Every script `up`, `up --dry-run`, `down` and `status` can send to this host.

    The apply scripts are those of `identity: none`: with keys, the apply script compiles
    meshbeam_dist and writes its stamp with a shell redirection to a fixed path under
    /etc/meshbeam, which no stub can stand in for. Its words are constants, and the golden
    apply scripts show them.
    """
    q = plan.query(mesh, host)
    yield "facts", probes.facts_script(q)
    unkeyed = replace(mesh, identity="none")
    for flags in (set(), {"iface", "tincd", "node-running", "systemd"}):
        yield f"apply {sorted(flags)}", remote.apply_script(plan.build(unkeyed, host, store, fresh_facts(q, flags)))
    yield "teardown", remote.apply_script(plan.teardown(mesh, host, store, converged_facts(mesh, host, store)))
    yield "status", status.script_cmd(mesh, host)


def stub_bin(root: Path) -> Path:
    bin_dir = root / "bin"
    if not bin_dir.is_dir():
        bin_dir.mkdir(parents=True)
        for name in STUBS:
            (bin_dir / name).write_text(STUB)
            (bin_dir / name).chmod(0o755)
        for name in REAL_TOOLS:
            real = shutil.which(name)
            assert real, f"{name} is missing on this machine"
            (bin_dir / name).symlink_to(real)
    return bin_dir


def run_stubbed(script: Cmd, where: Path) -> subprocess.CompletedProcess:
    """Check `script` with `sh -n`, then run it in `where` with the stubs of where.parent/bin."""
    tmp = where / "tmp"
    for d in (tmp, where / "cwd"):
        d.mkdir(parents=True, exist_ok=True)
    bin_dir = stub_bin(where.parent)
    env = {"PATH": str(bin_dir), "STUB_LOG": str(where / "log"), "STUB_TMP": str(tmp), "HOME": str(where)}
    text = script.render()
    syntax = subprocess.run(["/bin/sh", "-n"], input=text.encode(), capture_output=True)
    assert syntax.returncode == 0, syntax.stderr.decode()
    return subprocess.run(["/bin/sh", "-s"], input=text.encode(), cwd=where / "cwd", env=env, capture_output=True,
                          timeout=60)


def stub_calls(where: Path) -> list[list[str]]:
    log = where / "log"
    raw = log.read_bytes() if log.exists() else b""
    return [rec.split("\0") for rec in raw.decode(errors="replace").split("\0\n") if rec]


class Renamed:
    """The fixed keystore, answering for a host whose name was replaced by a hostile one."""

    def __init__(self, store: KeyStore, name: str) -> None:
        self.store, self.name = store, name

    def private_key(self, name: str) -> str:
        return self.store.private_key("s2" if name == self.name else name)

    def __getattr__(self, attr: str):
        return getattr(self.store, attr)


def one_field_each(mesh: Mesh, value: str) -> Iterator[tuple[str, Mesh, Host]]:
    """s2 with `value` in one field at a time (the fields that only reach scripts go together)."""
    s2 = mesh.host("s2")
    for field, host in (
        ("vm_args", replace(s2, vm_args=f"/srv/{value}/vm.args", run_user=value)),
        ("mix_release", replace(s2, vm_args=f"/srv/{value}/releases/1.0/vm.args", mix_release=True, run_user=value)),
        ("node_name", replace(s2, node_name=value)),
        ("address", replace(s2, address=value)),
        ("endpoint", replace(s2, endpoint=value)),
        ("name", replace(s2, name=value)),
    ):
        yield field, replace(mesh, hosts=(mesh.hosts[0], host)), host
    iface_mesh = replace(mesh, interface=value)
    yield "interface", iface_mesh, iface_mesh.host("s2")


def assert_no_value_runs(mesh: Mesh, store: KeyStore, value: str, variants: Iterable[tuple[str, Mesh, Host]],
                         tmp_path: Path) -> list[str]:
    """Run every script of every variant; none may fail or create CANARY. Returns the fields whose
    renderers refused the value (nothing to send for those)."""
    runs, refused = [], []
    for field, m, host in variants:
        try:
            scripts = list(every_script(m, host, Renamed(store, value)))  # type: ignore[arg-type]
        except (PlanError, ValueError) as e:
            refused.append(f"{field}: {e}")
            continue
        runs += [(field, label, script, host) for label, script in scripts]
    assert runs, f"no script to run: every field was refused: {refused}"

    def run(item):
        field, label, script, host = item
        where = tmp_path / f"{field}-{label}".replace(" ", "_")
        r = run_stubbed(script, where)
        assert r.returncode == 0, f"{field} {label}: {r.stderr.decode()[-500:]}"
        if field.startswith("vm_args") and label.startswith("apply"):  # the path reached its command whole
            assert any(host.vm_args in call for call in stub_calls(where)), f"{field} {label}: vm_args not seen"

    stub_bin(tmp_path)  # once, before the threads share it
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, runs))
    assert not list(tmp_path.rglob("CANARY")), f"{value!r} ran in a script"
    return refused
