"""Share CPU-bound work between forked processes.

Threads cannot: the GIL lets one thread run Python at a time, and a thread that only waits on
the kernel still needs it between its calls. Forked processes each have a core, need no copy of
the inputs (a child sees the parent's memory as it was at the fork), and send back only their
results.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable

from .errors import MeshbeamError


def in_processes(work: Callable[[int, int], list[str]], count: int) -> list[str]:
    """The results of work(share, count) for every share in range(count), concatenated: share 0
    runs in this process and the others in forked children, all at the same time.

    An exception of any share is raised here, with a child's traceback as a note (shown by
    --debug). If this process's share fails, the children are stopped; every child is reaped
    before this returns or raises. Call it before any thread is started: a fork copies only the
    calling thread, and a lock another thread held would stay locked in the child.
    """
    children = [_start(work, share, count) for share in range(1, count)]
    try:
        results = list(work(0, count))  # a copy: the caller's list is not extended
    except BaseException:
        for pid, _ in children:
            os.kill(pid, signal.SIGTERM)
        for child in children:
            _outcome(child)
        raise
    outcomes = [_outcome(child) for child in children]  # every child reaped before anything is raised
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        results += outcome
    return results


def _start(work: Callable[[int, int], list[str]], share: int, count: int) -> tuple[int, int]:
    """Fork a child that runs one share and writes its result, or its exception, to a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: it must never return into the caller's stack, whatever happens
        status = 1
        try:
            os.close(read)
            try:
                report = pickle.dumps(work(share, count))
                status = 0
            except BaseException as e:
                e.add_note(f"in the forked process of share {share}:\n{traceback.format_exc().rstrip()}")
                try:
                    report = pickle.dumps(e)
                    pickle.loads(report)  # some pickle but do not load (an __init__ with other arguments)
                except Exception:  # keep the type's name and the message
                    report = pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(report)
        finally:
            os._exit(status)  # no atexit handlers, no flush of the parent's buffered output
    os.close(write)
    return pid, read


def _outcome(child: tuple[int, int]) -> list[str] | BaseException:
    """Wait for a child: its result, or the exception to raise."""
    pid, read = child
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read()  # before waiting: a large report fills the pipe until it is read
    _, status = os.waitpid(pid, 0)
    if report:
        outcome: list[str] | BaseException = pickle.loads(report)  # from our own child, through our own pipe
        return outcome
    how = f"signal {-os.waitstatus_to_exitcode(status)}" if os.WIFSIGNALED(status) else \
        f"status {os.waitstatus_to_exitcode(status)}"
    return MeshbeamError(f"a forked process (pid {pid}) ended without a result ({how})")
