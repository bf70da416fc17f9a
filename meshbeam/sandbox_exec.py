"""Running commands inside sandbox hosts."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from .sandbox_fs import SandboxError
from .sandbox_proc import PATH, pid1

if TYPE_CHECKING:
    from .sandbox import Sandbox


class CommandError(SandboxError):
    """`run(check=True)` saw a non-zero exit; `.result` keeps the CompletedProcess."""

    def __init__(self, message: str, result: subprocess.CompletedProcess) -> None:
        super().__init__(message)
        self.result = result


def _enter(sb: Sandbox, host: str, argv: list[str], user: str | None) -> list[str]:
    h = sb.host(host)
    if not h.systemd:
        as_user = ["runuser", "-u", user, "--"] if user else []
        return ["nsenter", "-t", str(h.holder_pid), "-n", "-m", "-u", *as_user, *argv]
    pid = pid1(sb.state_dir, host)  # now, not at load: the host may have rebooted since
    if pid is None:
        raise SandboxError(f"sandbox host {host} is not running (rebooting?)")
    # nsenter forks to enter the PID namespace; a parent-death signal at each step ties the command to the
    # process Popen sees, so killing that one ends the command too.
    die = ["setpriv", "--pdeathsig", "KILL", "--"]
    as_user = ["runuser", "-u", user, "--", *die] if user else []
    return ["nsenter", "-t", str(pid), "-a", *die, *as_user, *argv]


def run(sb: Sandbox, host: str, argv: list[str], *, input: bytes | None = None, timeout: float = 60,
        check: bool = True, user: str | None = None) -> subprocess.CompletedProcess:
    """Run argv inside a host. Input is bytes; stdout and stderr come back as text."""
    # A session of its own, so a timeout kills the whole group rather than leave children on our pipes.
    stdin = subprocess.DEVNULL if input is None else subprocess.PIPE
    with subprocess.Popen(_enter(sb, host, argv, user), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True, env={**os.environ, "PATH": PATH}) as p:
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise SandboxError(f"{shlex.join(argv)} on sandbox host {host} timed out after {timeout:g} s") from None
    r = subprocess.CompletedProcess(argv, p.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
    if check and r.returncode:
        last = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
        raise CommandError(f"{shlex.join(argv)} on sandbox host {host} exited {r.returncode}: {last}", r)
    return r


def spawn(sb: Sandbox, host: str, argv: list[str], *, log: Path, user: str | None = None) -> subprocess.Popen:
    """A long-running process inside a host. Killing Popen.pid ends it (nsenter execs it in a plain host; in a
    systemd host it dies with nsenter)."""
    with open(log, "ab") as f:
        return subprocess.Popen(_enter(sb, host, argv, user), stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "PATH": PATH})
