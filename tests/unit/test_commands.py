"""No value reaches a host's shell unquoted: every script meshbeam can send, fed hostile values.

The values go straight into the dataclasses (dataclasses.replace), past the inventory's
validation, so these tests hold even if validation missed something. Each script is checked
with `sh -n`, then run by a real sh in a throwaway directory whose PATH holds stubs that only
log their argv (read-only text tools such as awk or stat are the real ones): every hostile
value tries to create CANARY there with a shell redirection, which needs no command at all.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from meshbeam import keys, plan, remote, status, tinc
from meshbeam.command import B64, Cmd, Secret, Sh, sh
from meshbeam.inventory import Host, Mesh, Peer
from meshbeam.keys import KeyStore
from meshbeam.plan import Facts, FileFact, HostPlan, Write

FIXTURES = Path(__file__).parent.parent / "fixtures"

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
         "systemctl", "erl", "tincd", "ping", "timeout", "find", "kill", "sleep", "touch", "cp", "env")
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


def _mesh(backend: str) -> tuple[Mesh, dict[str, str]]:
    """A fixed mesh of two hosts (s2 runs a node) and a laptop; its private keys by name."""
    names = ("s1", "s2", "laptop")
    private = {n: (_pem(i + 1) if backend == "tinc" else _fixed_private(n)) for i, n in enumerate(names)}
    pub = {n: (tinc.public_pem(k) if backend == "tinc" else keys.public_key(k)) for n, k in private.items()}
    hosts = (
        Host("s1", "root@198.51.100.11", "198.18.0.1", "198.51.100.11:51820", pub["s1"]),
        Host("s2", "root@198.51.100.12", "198.18.0.2", "198.51.100.12:51820", pub["s2"],
             vm_args="/srv/app/releases/1.0/vm.args", node_name="web", run_user="mbapp"),
    )
    return Mesh(backend=backend, cidr="198.18.0.0/24", hosts=hosts,
                peers=(Peer("laptop", "198.18.0.3", pub["laptop"]),)), private


@pytest.fixture(params=["wireguard", "tinc"])
def fixed(request, tmp_path) -> tuple[Mesh, KeyStore]:
    mesh, private = _mesh(request.param)
    store = tmp_path / "keys"
    store.mkdir(mode=0o700)
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
        files[plan.backup_path(cookie)] = FileFact(plan.backup_path(cookie), True, 0o600, "root",
                                                   b"meshbeam-backup 1 400 mbapp\nthe user's own cookie")
    return replace(fresh_facts(q, {"iface", "tincd", "nft-table", "node-running"}), files=files)


def every_script(mesh: Mesh, host: Host, store: KeyStore) -> Iterator[tuple[str, Cmd]]:
    """Every script `up`, `up --dry-run`, `down` and `status` can send to this host."""
    q = plan.query(mesh, host)
    yield "facts", remote.facts_script(q)
    for flags in (set(), {"iface", "tincd", "node-running", "systemd"}):
        yield f"apply {sorted(flags)}", remote.apply_script(plan.build(mesh, host, store, fresh_facts(q, flags)))
    yield "teardown", remote.apply_script(plan.teardown(mesh, host, store, converged_facts(mesh, host, store)))
    yield "status", status.script_cmd(mesh, host)


def _stub_bin(root: Path) -> Path:
    bin_dir = root / "bin"
    if not bin_dir.is_dir():
        bin_dir.mkdir()
        for name in STUBS:
            (bin_dir / name).write_text(STUB)
            (bin_dir / name).chmod(0o755)
        for name in REAL_TOOLS:
            real = shutil.which(name)
            assert real, f"{name} is missing on this machine"
            (bin_dir / name).symlink_to(real)
    return bin_dir


def run_stubbed(script: Cmd, where: Path) -> subprocess.CompletedProcess:
    tmp = where / "tmp"
    for d in (tmp, where / "cwd"):
        d.mkdir(parents=True, exist_ok=True)
    bin_dir = _stub_bin(where.parent)
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


def _hostile_variants(mesh: Mesh, value: str) -> Iterator[tuple[str, Mesh, Host]]:
    s2 = mesh.host("s2")
    for field, host in (  # the fields that only reach scripts go together; each other one alone
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


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_no_hostile_value_runs_in_any_script(fixed, value, tmp_path):
    mesh, store = fixed
    runs, refused = [], []
    for field, m, host in _hostile_variants(mesh, value):
        try:
            scripts = list(every_script(m, host, Renamed(store, value)))  # type: ignore[arg-type]
        except (plan.PlanError, ValueError) as e:
            refused.append(f"{field}: {e}")  # a renderer refused the value: nothing to send
            continue
        runs += [(field, label, script, host) for label, script in scripts]
    assert len(runs) >= 5, f"only {len(runs)} scripts to run; refused: {refused}"

    def run(item):
        field, label, script, host = item
        where = tmp_path / f"{field}-{label}".replace(" ", "_")
        r = run_stubbed(script, where)
        assert r.returncode == 0, f"{field} {label}: {r.stderr.decode()[-500:]}"
        if field == "vm_args" and label.startswith("apply"):  # the path reached its command whole
            assert any(host.vm_args in call for call in stub_calls(where))

    _stub_bin(tmp_path)  # once, before the threads share it
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, runs))
    assert not list(tmp_path.rglob("CANARY")), f"{value!r} ran in a script"


def test_the_live_allow_script_quotes_its_names(fixed, tmp_path):
    mesh, store = fixed
    host = mesh.host("s2")
    q = plan.query(mesh, host)
    p = plan.build(mesh, host, store, fresh_facts(q, {"iface", "tincd", "node-running"}))
    allow = [a for a in p.actions if "allow list" in a.label]
    assert allow and "read_owned /srv/mbapp-home/.erlang.cookie" in allow[0].script.render()
    r = run_stubbed(remote.apply_script(p), tmp_path)
    erl = [c for c in stub_calls(tmp_path) if c[0] == "erl"]
    assert r.returncode == 0 and erl and erl[0][-2] == "-eval" and "net_kernel, allow" in erl[0][-1]


# ---- the command type ---------------------------------------------------------------------------


def test_values_are_quoted_and_secrets_masked():
    c = sh("printf %s {} {} {}", "a b$(x)", Secret("s3cr3t"), 7) + Cmd(Sh("\n"), B64(b"key", secret=True))
    assert c.render() == "printf %s 'a b$(x)' s3cr3t 7\na2V5"
    assert c.shown() == "printf %s 'a b$(x)' '***' 7\n(secret, 3 bytes)"
    with pytest.raises(TypeError):
        Cmd(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        Cmd("a\0b")
    with pytest.raises(ValueError, match="slots"):
        sh("{} {}", "one")


# ---- facts: a hostile name cannot forge a record; links are reported, never read ---------------


def test_a_path_with_newlines_cannot_forge_a_fact(tmp_path):
    evil = tmp_path / "x\nfile 1 777 root\nQUFBQQ=="
    evil.mkdir()
    (evil / "vm.args").write_text("mine\n")
    other = tmp_path / "other"
    q = plan.Query("mbnone0", (str(evil / "vm.args"), str(other)), ("sh",))
    out = subprocess.run(["sh", "-s"], input=remote.facts_script(q).render(), capture_output=True, text=True,
                         check=True).stdout
    facts = remote.parse_facts(out, q)
    assert facts.files[str(evil / "vm.args")].content == b"mine\n"
    assert facts.files[str(other)] == FileFact(str(other), False)


def test_a_forged_line_is_an_error():
    q = plan.Query("mb0", ("/a",), ())
    with pytest.raises(remote.RemoteError, match="unexpected output"):
        remote.parse_facts("nofile 0\nfile /etc/passwd\n", q)


def _user_dir(owner: str = "nobody") -> Path:
    """A directory under /tmp owned by another user (pytest's own tmp is root-only)."""
    d = Path(tempfile.mkdtemp(prefix="meshbeam-test-", dir="/tmp"))
    subprocess.run(["chown", owner, str(d)], check=True)
    return d


def test_links_and_user_directories_are_reported(tmp_path):
    secret = tmp_path / "root-only"
    secret.write_text("root's secret\n")
    secret.chmod(0o600)
    d = _user_dir()
    try:
        (d / "cookie").symlink_to(secret)
        (d / "vm.args").write_text("-sname x\n")
        os.chown(d / "vm.args", 65534, 65534)
        (tmp_path / "fifo").mkdir()
        q = plan.Query("mbnone0", (str(d / "cookie"), str(d / "vm.args"), str(tmp_path / "fifo")), ())
        out = subprocess.run(["sh", "-s"], input=remote.facts_script(q).render(), capture_output=True, text=True,
                             check=True).stdout
        facts = remote.parse_facts(out, q)
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=True)
    link, vm, fifo = (facts.files[p] for p in q.paths)
    assert link.problem == "is a symbolic link" and link.content is None
    assert vm.actor == "nobody" and vm.content == b"-sname x\n" and vm.problem is None
    assert fifo.problem == "is not a regular file"
    assert "root's secret" not in out


def test_a_link_is_refused_by_the_plan_naming_host_and_path(fixed):
    mesh, store = fixed
    host = mesh.host("s2")
    facts = fresh_facts(plan.query(mesh, host))
    key = "~mbapp/.erlang.cookie"
    facts.files[key] = FileFact(key, True, problem="is a symbolic link", actor="mbapp")
    for planner in (plan.build, plan.teardown):
        with pytest.raises(plan.PlanError, match=r"s2: ~mbapp/\.erlang\.cookie is a symbolic link"):
            planner(mesh, host, store, facts)


# ---- apply: temp files from mktemp, never left behind, never through a link -------------------


def test_apply_as_the_directory_owner_and_never_over_a_link(tmp_path):
    d = _user_dir()
    try:
        (d / "planted").symlink_to(tmp_path / "victim")
        writes = (
            Write(str(d / "cookie"), b"c" * 20, 0o400, "nobody", True, "new", actor="nobody"),
            Write(str(d / "planted"), b"pwned\n", 0o644, "nobody", False, "changed", actor="nobody"),
        )
        r = subprocess.run(["sh", "-s"], input=remote.apply_script(HostPlan("h", writes)).render().encode(),
                           capture_output=True)
        assert r.returncode != 0 and b"planted is a symbolic link" in r.stderr
        assert not (tmp_path / "victim").exists()
        assert sorted(p.name for p in d.iterdir()) in (["cookie", "planted"], ["planted"]), "a temp file was left"
        if (d / "cookie").exists():
            st = (d / "cookie").stat()
            assert st.st_uid == 65534 and stat.S_IMODE(st.st_mode) == 0o400
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=True)


def test_a_failed_apply_leaves_no_temp_file(tmp_path):
    (tmp_path / "dir-target").mkdir()
    writes = (Write(str(tmp_path / "a.key"), b"PrivateKey = x\n", 0o600, "root", True, "new"),
              Write(str(tmp_path / "dir-target"), b"x", 0o600, "root", False, "new"))
    r = subprocess.run(["sh", "-s"], input=remote.apply_script(HostPlan("h", writes)).render().encode(),
                       capture_output=True)
    assert r.returncode != 0 and b"not a regular file" in r.stderr
    assert not [p for p in tmp_path.iterdir() if ".meshbeam." in p.name]


# ---- golden scripts ------------------------------------------------------------------------------


def test_golden_scripts(fixed, golden):
    mesh, store = fixed
    host = mesh.host("s2")
    q = plan.query(mesh, host)
    build = plan.build(mesh, host, store, fresh_facts(q, {"iface", "tincd", "node-running"}))
    down = plan.teardown(mesh, host, store, converged_facts(mesh, host, store))
    golden(f"apply_script_{mesh.backend}.sh", remote.apply_script(build).shown())
    golden(f"teardown_script_{mesh.backend}.sh", remote.apply_script(down).shown())
