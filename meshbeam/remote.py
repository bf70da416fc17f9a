"""The only module that talks to hosts: Fabric connections, one round trip for facts, one for apply.

- Host keys are verified against known_hosts (Fabric's default would accept any key).
- ~/.ssh/config is honoured through Fabric (User, Port, IdentityFile, ProxyJump).
- File contents, secrets included, travel on the SSH channel's stdin inside a script that
  writes temp files and renames them only once every file has arrived intact. They never
  appear on a command line, so never in `ps` or a log.
- Every script is a command.Cmd (values quoted by type) that starts with hostlib's functions:
  root never reads, writes or follows a link in a directory another user can change.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, LiteralString, TypeVar

from . import hostlib, probes
from .command import B64, Cmd, Sh, join, lines, sh
from .errors import MeshbeamError, RemoteError
from .inventory import Host, parse_ssh_target
from .plantypes import Facts, HostPlan, Query, Write

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


def execute(conn: Connection, command: LiteralString, stdin: bytes = b"",
            timeout: float = COMMAND_TIMEOUT) -> tuple[int, str, str]:
    """Run one constant command (`sh -s`) on the open connection; the script and any secret
    travel on stdin, never on the argv."""
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


def gather(conn: Connection, q: Query) -> Facts:
    """One round trip: probes.py's facts script out, its records back as Facts."""
    rc, out, err = execute(conn, "sh -s", probes.facts_script(q).render().encode())
    if rc != 0:
        raise RemoteError(f"reading facts failed (exit {rc}): {err.strip()[:300]}")
    return probes.parse_facts(out, q)


# ---- apply --------------------------------------------------------------------------------------


def _stage(i: int, w: Write) -> Cmd:
    """Stage one write: a temp file from mktemp beside the target, made, filled, checked and given
    its mode by the one who may act in that directory (its `stage_dir` comes first). $tI holds its name."""
    d = posixpath.dirname(w.path)
    digest = hashlib.sha256(w.content).hexdigest()
    return lines(
        sh("t{}=$(as_user {} mktemp -- {}/.meshbeam.XXXXXXXX)", i, w.actor, d),
        sh("fill {} \"$t{}\" {} {} <<'MESHBEAM_EOF'", w.actor, i, digest, f"{w.mode:o}"),
    ) + Cmd(B64(w.content, w.secret), Sh("\nMESHBEAM_EOF"))


def _commit(i: int, w: Write) -> Cmd:
    """Rename the staged temp file over the target.

    Root sets the owner only in its own directories (a temp file root made is root's already). In a
    directory a user owns, the user writes and so owns the file: that user could replace it at any
    time anyway, and a chown by root there could be sent through a link the user planted (see hostlib).
    """
    owner = w.owner if w.actor == "root" and w.owner != "root" else ""
    return sh('commit {} "$t{}" {} {}\nt{}=', w.actor, i, w.path, owner, i)


def _staging(writes: tuple[Write, ...]) -> list[Cmd]:
    """Every write staged, directory by directory in the order each first appears: each directory is
    checked (same_actor) and made once, after the plan and just before its files are staged."""
    by_dir: dict[tuple[str, str], list[int]] = {}
    for i, w in enumerate(writes):
        by_dir.setdefault((w.actor, posixpath.dirname(w.path)), []).append(i)
    return [join([sh("stage_dir {} {}", actor, d), *(_stage(i, writes[i]) for i in idx)])
            for (actor, d), idx in by_dir.items()]


def apply_script(plan: HostPlan) -> Cmd:
    """Stage every file, then rename them all (in the plan's order), then remove, then act.

    The body is a function called on the last line: a script cut off in transit is never run.
    The EXIT trap removes every temp file still staged when the script fails or is killed; the
    actions run after hostlib.apply_preamble, the contract they rely on.
    """
    cleanup = [sh('[ -z "${t{}:-}" ] || as_user {} rm -f -- "$t{}"', i, w.actor, i) for i, w in enumerate(plan.writes)]
    return lines(
        sh("main() {"),
        hostlib.apply_preamble(cleanup),  # what every action may use
        *_staging(plan.writes),
        *(_commit(i, w) for i, w in enumerate(plan.writes)),
        *(sh("remove {}", path) for path in plan.removes),
        *(a.script for a in plan.actions),
        sh("}\nmain"),
    )


def apply(conn: Connection, plan: HostPlan) -> None:
    rc, _, err = execute(conn, "sh -s", apply_script(plan).render().encode())
    if rc != 0:
        raise RemoteError(f"apply failed (exit {rc}): {err.strip().splitlines()[-1] if err.strip() else 'no output'}")


# ---- many hosts at once -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    host: str
    value: object | None = None
    error: str | None = None
    trace: str | None = None  # the traceback of a bug (an exception that is not a MeshbeamError)


def for_each(items: Iterable[tuple[str, T]], fn: Callable[[str, T], object], parallel: int) -> list[Outcome]:
    """Run fn for every host in a bounded pool; one host's failure never stops the others."""

    def one(item: tuple[str, T]) -> Outcome:
        name, arg = item
        try:
            return Outcome(name, fn(name, arg))
        except MeshbeamError as e:
            return Outcome(name, error=str(e))
        except Exception as e:  # noqa: BLE001 - a bug on one host is reported for that host, with its traceback
            return Outcome(name, error=f"internal error, {type(e).__name__}: {e}", trace=traceback.format_exc())

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, list(items)))
