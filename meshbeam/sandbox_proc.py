"""Processes and commands for the sandbox: run a tool, tell a live process from a reused PID, wait, and end
every process of one network namespace."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .sandbox_fs import SandboxError

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sh(argv: list[str], *, input: bytes | None = None, check: bool = True) -> str:
    try:
        r = subprocess.run(argv, input=input, capture_output=True, stdin=None if input else subprocess.DEVNULL)
    except FileNotFoundError:
        raise SandboxError(f"{argv[0]} is not installed") from None
    if check and r.returncode:
        err = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        raise SandboxError(f"{shlex.join(argv)} failed: {err[-1] if err else f'exit {r.returncode}'}")
    return r.stdout.decode(errors="replace")


def stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [0] is the state, [19] the start time; [] once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def started(pid: int) -> str | None:
    """Start time, which tells a holder's PID apart from a reused one."""
    return (stat(pid) or [None] * 20)[19]


def dead(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own children (holders, spawned processes)
    except ChildProcessError:
        pass
    return stat(pid)[:1] in ([], ["Z"], ["X"])


def ns_id(path: str) -> tuple[int, int] | None:
    """Identity of a network namespace, from /run/netns/NAME or /proc/PID/ns/net."""
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None


def until(ok: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise SandboxError(failure)
        time.sleep(0.03)


def kill_netns(ns: tuple[int, int] | None) -> None:
    """SIGTERM, then SIGKILL, every process in one network namespace, and nothing else."""
    if not ns or ns in (ns_id("/proc/1/ns/net"), ns_id("/proc/self/ns/net")):
        return  # never the machine's own namespace
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and ns_id(f"{p}/ns/net") == ns]
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            until(lambda: all(dead(p) for p in pids), wait, "")
            return
        except SandboxError:
            pids = [p for p in pids if not dead(p)]


def pid_file(path: Path) -> int | None:
    """A file 'PID START' written for a process: its PID while that very process runs, else None."""
    try:
        pid, start = path.read_text().split()
    except (OSError, ValueError):
        return None
    return int(pid) if alive(int(pid), start) else None


def alive(pid: int, start: str | None) -> bool:
    return started(pid) == start and not dead(pid)


def pid1(state_dir: Path, host: str) -> int | None:
    """The current PID 1 of a systemd host (it changes at every reboot); None while the host is down."""
    return pid_file(state_dir / "hosts" / host / "pid1")
