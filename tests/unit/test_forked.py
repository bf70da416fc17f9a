"""forked.in_processes: shares in forked children, their results and failures brought back."""

from __future__ import annotations

import os
import signal
import time

import pytest

from meshbeam import forked
from meshbeam.errors import InputError, MeshbeamError


def test_every_share_runs_once_in_its_own_process_and_the_results_come_back_in_share_order():
    parent = os.getpid()
    results = forked.in_processes(lambda k, count: [f"{k}/{count}", str(os.getpid() == parent)], 3)
    assert results == ["0/3", "True", "1/3", "False", "2/3", "False"]


def test_one_share_runs_here_without_a_fork():
    assert forked.in_processes(lambda k, count: [str(os.getpid())], 1) == [str(os.getpid())]


def test_a_childs_exception_is_raised_here_with_its_traceback_as_a_note():
    def work(k: int, count: int) -> list[str]:
        if k == 2:
            raise InputError("share two is bad")
        return [str(k)]

    with pytest.raises(InputError) as e:
        forked.in_processes(work, 3)
    assert str(e.value) == "share two is bad", "the message the CLI prints, without the note"
    assert any("in the forked process of share 2" in n and "work" in n for n in e.value.__notes__)


class TwoArguments(Exception):
    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")  # args holds one string: unpickling calls it with one


def test_an_exception_that_does_not_pickle_or_unpickle_keeps_its_type_and_message():
    class Local(Exception):  # a local class: pickle cannot find it by name
        pass

    for raised, message in ((Local("odd"), "Local: odd"), (TwoArguments("a", "b"), "TwoArguments: a: b")):
        def work(k: int, count: int) -> list[str]:
            if k:
                raise raised
            return []

        with pytest.raises(RuntimeError) as e:
            forked.in_processes(work, 2)
        assert str(e.value) == message


def test_a_child_killed_without_a_report_is_an_error():
    def work(k: int, count: int) -> list[str]:
        if k:
            os.kill(os.getpid(), signal.SIGKILL)
        return ["mine"]

    with pytest.raises(MeshbeamError, match=r"ended without a result \(signal 9\)"):
        forked.in_processes(work, 2)


def test_when_this_processs_share_fails_the_children_are_stopped_and_reaped():
    def work(k: int, count: int) -> list[str]:
        if k:
            time.sleep(60)
            return []
        raise InputError("mine failed")

    start = time.monotonic()
    with pytest.raises(InputError, match="mine failed"):
        forked.in_processes(work, 3)
    assert time.monotonic() - start < 30, "the sleeping children were stopped"
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left, not even a zombie


def test_a_large_result_passes_through_the_pipe():
    big = ["x" * 1000] * 500  # far over a pipe's buffer
    assert forked.in_processes(lambda k, count: big, 2) == big + big
