"""The only module that talks to hosts: Fabric connections, one round trip for facts, one for apply.

- Host keys are verified against known_hosts (Fabric's default would accept any key).
- ~/.ssh/config is honoured through Fabric (User, Port, IdentityFile, ProxyJump).
- File contents, secrets included, travel on the SSH channel's stdin inside a script that
  writes temp files and renames them only once every file has arrived intact. They never
  appear on a command line, so never in `ps` or a log.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import RemoteError
from .inventory import Host, parse_ssh_target
from .plan import Facts, FileFact, HostPlan, Query

if TYPE_CHECKING:
    from fabric import Connection

T = TypeVar("T")
CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class SSHOptions:
    config_file: Path | None = None  # None: ~/.ssh/config as Fabric finds it


def _known_hosts_files(conn: Connection) -> list[str]:
    listed = conn.ssh_config.get("userknownhostsfile")
    names = listed.split() if isinstance(listed, str) else (listed or ["~/.ssh/known_hosts"])
    return [os.path.expanduser(n) for n in names] + ["/etc/ssh/ssh_known_hosts"]


def connect(host: Host, options: SSHOptions) -> Connection:
    from fabric import Config, Connection

    config = Config(runtime_ssh_path=str(options.config_file)) if options.config_file else Config()
    user, address, port = parse_ssh_target(host.ssh)
    conn = Connection(address, user=user, port=port, config=config, connect_timeout=CONNECT_TIMEOUT)
    _open_verified(conn)
    return conn


def _open_verified(conn: Connection, hop_to: str = "") -> None:
    """Open `conn` with its host key checked against known_hosts, after its ProxyJump hops.

    Each hop is opened here first, with its own key checked too, so an error names the hop
    that failed rather than the host behind it (Fabric would open the hops inside `open()`).
    """
    from paramiko import BadHostKeyException, RejectPolicy, SSHException

    where = f"{conn.user}@{conn.host}:{conn.port}"
    gateway = conn.gateway
    if gateway is not None and hasattr(gateway, "client"):  # a ProxyJump hop; a ProxyCommand is a string
        _open_verified(gateway, hop_to or where)
    for path in _known_hosts_files(conn):
        if os.path.exists(path):
            conn.client.load_system_host_keys(path)  # never written back, unlike load_host_keys
    conn.client.set_missing_host_key_policy(RejectPolicy())
    if hop_to:
        where += f" (ProxyJump hop to {hop_to})"
    try:
        conn.open()
    except BadHostKeyException:
        raise RemoteError(
            f"host key of {where} does not match known_hosts: it CHANGED (possible man-in-the-middle); "
            "verify it before updating known_hosts"
        ) from None
    except SSHException as e:
        if "not found in known_hosts" in str(e):
            raise RemoteError(
                f"host key of {where} is unknown: add it to known_hosts after checking it "
                f"(for example: ssh-keyscan -p {conn.port} {conn.host})"
            ) from None
        raise RemoteError(f"SSH to {where} failed: {e}") from None
    except OSError as e:
        raise RemoteError(f"cannot reach {where}: {e.strerror or e}") from None


def execute(conn: Connection, command: str, stdin: bytes = b"", timeout: float = COMMAND_TIMEOUT) -> tuple[int, str, str]:
    """Run one command on the open connection; stdin carries any secret, never the argv."""
    if conn.user != "root":
        command = f"sudo -n -- {command}"
    chan = conn.transport.open_session(timeout=CONNECT_TIMEOUT)
    try:
        chan.settimeout(timeout)
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()
        out = chan.makefile("rb").read()
        err = chan.makefile_stderr("rb").read()
        return chan.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        chan.close()


# ---- facts --------------------------------------------------------------------------------------


BASE_PROBES = (("systemd", "[ -d /run/systemd/system ]"),)


def facts_script(q: Query) -> str:
    """A read-only POSIX sh script whose output `parse_facts` understands."""
    iface = shlex.quote(q.interface)
    lines = [
        f"for t in {' '.join(shlex.quote(t) for t in q.tools)}; do command -v \"$t\" >/dev/null && echo \"tool $t\"; done",
        f"ip -o -4 addr show dev {iface} 2>/dev/null | while read -r _ _ _ a _; do echo \"addr $a\"; done",
    ]
    probes = BASE_PROBES + (("iface", f"ip link show dev {iface} >/dev/null 2>&1"),) + q.probes
    lines += [f"if {cond}; then echo 'flag {flag}'; fi" for flag, cond in probes]
    for d in q.listdirs:
        lines.append(f"echo \"list {d} $(ls -A {shlex.quote(d)} 2>/dev/null | tr '\\n' ' ')\"")
    for u in q.users:
        lines.append(f"echo \"home {u} $(getent passwd {shlex.quote(u)} | cut -d: -f6)\"")
    for p in q.paths:
        user, sep, rest = p[1:].partition("/") if p.startswith("~") else ("", "", "")
        qp = f'"$(getent passwd {shlex.quote(user)} | cut -d: -f6)"/{shlex.quote(rest)}' if sep else shlex.quote(p)
        lines.append(
            f"if [ -f {qp} ]; then echo \"file $(stat -c '%a %U' {qp}) {p}\"; base64 -w0 {qp}; echo; "
            f"else echo \"nofile {p}\"; fi"
        )
    return "\n".join(lines) + "\n"


def parse_facts(output: str) -> Facts:
    tools: set[str] = set()
    flags: set[str] = set()
    addrs: list[str] = []
    homes: dict[str, str] = {}
    files: dict[str, FileFact] = {}
    listings: dict[str, tuple[str, ...]] = {}
    it = iter(output.splitlines())
    for line in it:
        kind, _, rest = line.partition(" ")
        if kind == "tool":
            tools.add(rest)
        elif kind == "flag":
            flags.add(rest)
        elif kind == "addr":
            addrs.append(rest)
        elif kind == "list":
            directory, _, names = rest.partition(" ")
            listings[directory] = tuple(names.split())
        elif kind == "home":
            user, _, home = rest.partition(" ")
            homes[user] = home
        elif kind == "file":
            mode, owner, path = rest.split(" ", 2)
            files[path] = FileFact(path, True, int(mode, 8), owner, base64.b64decode(next(it)))
        elif kind == "nofile":
            files[rest] = FileFact(rest, False)
    return Facts(frozenset(tools), frozenset(flags), tuple(addrs), homes, files, listings)


def gather(conn: Connection, q: Query) -> Facts:
    rc, out, err = execute(conn, "sh -s", facts_script(q).encode())
    if rc != 0:
        raise RemoteError(f"reading facts failed (exit {rc}): {err.strip()[:300]}")
    return parse_facts(out)


# ---- apply --------------------------------------------------------------------------------------


def apply_script(plan: HostPlan) -> bytes:
    """Write every file to a temp file beside its target, check its hash, then rename all, then act.

    The body is a function called on the last line: a script cut off in transit is never run,
    so a dropped connection cannot leave a half-written file.
    """
    out = [
        "main() {",
        "set -e",
        "umask 077",
        'work=$(mktemp -d)',
        'trap \'rm -rf "$work"\' EXIT',
        'run_logged() { "$@" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; return 1; }; }',
    ]
    renames = []
    for i, w in enumerate(plan.writes):
        target = shlex.quote(w.path)
        # $$ (the remote shell's PID) keeps two concurrent runs from sharing a temp file
        tmp = shlex.quote(f"{os.path.dirname(w.path)}/.{os.path.basename(w.path)}.meshbeam-") + "$$"
        digest = hashlib.sha256(w.content).hexdigest()
        out += [
            f"mkdir -p {shlex.quote(os.path.dirname(w.path))}",
            f"base64 -d > {tmp} <<'MESHBEAM_EOF_{i}'",
            base64.encodebytes(w.content).decode().rstrip("\n"),
            f"MESHBEAM_EOF_{i}",
            f"echo '{digest}  '{tmp} | sha256sum -c --quiet -",
            f"chown {shlex.quote(w.owner)} {tmp}",
            f"chmod {w.mode:o} {tmp}",
        ]
        renames.append(f"mv -f {tmp} {target}")
    out += renames
    out += [f"rm -f {shlex.quote(path)}" for path in plan.removes]
    for a in plan.actions:
        out.append(a.script)
    out += ["}", "main"]
    return ("\n".join(out) + "\n").encode()


def apply(conn: Connection, plan: HostPlan) -> None:
    rc, _, err = execute(conn, "sh -s", apply_script(plan))
    if rc != 0:
        raise RemoteError(f"apply failed (exit {rc}): {err.strip().splitlines()[-1] if err.strip() else 'no output'}")


# ---- many hosts at once -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    host: str
    value: object | None = None
    error: str | None = None


def for_each(items: Iterable[tuple[str, T]], fn: Callable[[str, T], object], parallel: int) -> list[Outcome]:
    """Run fn for every host in a bounded pool; one host's failure never stops the others."""

    def one(item: tuple[str, T]) -> Outcome:
        name, arg = item
        try:
            return Outcome(name, fn(name, arg))
        except RemoteError as e:
            return Outcome(name, error=str(e))
        except Exception as e:  # noqa: BLE001 - any failure on one host is reported for that host
            return Outcome(name, error=f"{type(e).__name__}: {e}")

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, list(items)))
