"""Shared by the benchmark scripts: run a child and measure it, find tools, print tables."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MESH_CIDR = "198.18.0.0/16"  # mesh addresses of generated inventories
UNDERLAY = ipaddress.IPv4Address("198.19.0.0")  # their SSH/endpoint addresses: never contacted


@dataclass(frozen=True)
class Measured:
    wall: float  # seconds
    maxrss_mb: float  # peak resident set of the child process
    user: float  # CPU seconds of the child in user mode
    sys: float  # and in the kernel (page faults, file system)
    returncode: int
    stdout: str
    stderr: str


GNU_TIME = "/usr/bin/time"  # Debian's `time` package; .ci/setup installs it
# Set by the smoke test: meshbeam commands run inside the script's own process, so that the
# scripts' logic is checked at a tiny size without a start-up per call. Figures then mean nothing.
IN_PROCESS = "MESHBEAM_BENCH_IN_PROCESS"


def measure(argv: list[str], *, env: dict[str, str] | None = None) -> Measured:
    """Run argv to completion; wall time, CPU time and the child's own peak RSS.

    The peak comes from GNU time, not from this process's wait4: Linux carries the RSS high-water
    mark of the forked copy of this (large) process across exec, so wait4 reported the bench's
    own size for every tool. GNU time forks from a 1 MB process, so its child starts near zero.
    Dirty pages are flushed first, so writeback of an earlier run's output never lands in this one's time.
    """
    command = meshbeam()
    if os.environ.get(IN_PROCESS) and env is None and argv[:len(command)] == command:
        return _in_process(argv[len(command):])
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} is missing: apt-get install time")
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        start = time.perf_counter()
        proc = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", peak.name, *argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # CPU times include the waited-for command
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keeps Popen from waiting again
        out.seek(0)
        err.seek(0)
        maxrss_kb = int(peak.read().split()[-1])
        return Measured(wall, maxrss_kb / 1024, usage.ru_utime, usage.ru_stime, proc.returncode,
                        out.read().decode(), err.read().decode())


def _in_process(args: list[str]) -> Measured:
    from meshbeam.cli import app

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            app(args, prog_name="meshbeam")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
    return Measured(time.perf_counter() - start, 0.0, 0.0, 0.0, code, out.getvalue(), err.getvalue())


def checked(m: Measured, what: str) -> Measured:
    if m.returncode != 0:
        sys.exit(f"{what} exited {m.returncode}:\n{m.stdout[-2000:]}\n{m.stderr[-2000:]}")
    return m


def meshbeam() -> list[str]:
    """The meshbeam console script of this interpreter (not a pyenv shim, which adds its own start-up)."""
    script = Path(sys.executable).parent / "meshbeam"
    return [str(script)] if script.exists() else [sys.executable, "-m", "meshbeam"]


def how_run() -> str:
    """How meshbeam runs, for the scripts' headers. An installed package has its bytecode
    compiled, but an editable install run with PYTHONDONTWRITEBYTECODE=1 compiles meshbeam's
    own modules at every start."""
    if os.environ.get(IN_PROCESS):
        return f"meshbeam commands run in this process ({IN_PROCESS}): the figures mean nothing"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "bytecode compiled at every start (PYTHONDONTWRITEBYTECODE=1)"
    return f"bytecode cached ({os.environ.get('PYTHONPYCACHEPREFIX') or '__pycache__'})"


def find_tool(name: str, venv: str) -> str | None:
    """NAME on PATH, else in the throwaway venv the script's docstring tells how to make."""
    return shutil.which(name) or shutil.which(name, path=f"{venv}/bin")


def underlay_address(i: int) -> str:
    return str(UNDERLAY + i + 1)


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    cells = [headers] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(c: object) -> str:
    if isinstance(c, float):
        return f"{c:.3f}" if c < 10 else f"{c:.1f}"
    return str(c)


VM_ARGS = "/srv/app/releases/1.0.0/vm.args"  # every generated host runs a node


def write_hosts_csv(path: Path, names: list[str], first: int = 0) -> None:
    """An `add-host --from` file: the hosts NAMES, underlay addresses from index `first`, --vm-args on each."""
    rows = [f"{name},root@{underlay_address(first + i)},{VM_ARGS}\n" for i, name in enumerate(names)]
    path.write_text("name,ssh,vm_args\n" + "".join(rows))
