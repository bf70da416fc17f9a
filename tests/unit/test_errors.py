"""One error model: an expected failure is one line and its exit code; a bug says so on one line
(exit 3) or shows its traceback with --debug; on many hosts, a bug on one is reported for that one."""

from __future__ import annotations

import pytest

from meshbeam import ops, remote
from meshbeam.errors import BUG_EXIT, ContentError, PlanError, RemoteError
from tests.conftest import invoke


def _boom(*_args, **_kwargs):
    raise TypeError("boom")


def test_a_bug_is_one_line_and_exit_3_and_debug_shows_the_traceback(inv, monkeypatch):
    monkeypatch.setattr(ops, "add_peer", _boom)
    r = invoke("add-peer", "phone", "--dir", str(inv))
    assert r.exit_code == BUG_EXIT
    assert r.stderr == ("internal error (a bug in meshbeam), TypeError: boom; `meshbeam --debug ...` shows where\n")
    r = invoke("--debug", "add-peer", "phone", "--dir", str(inv))
    assert isinstance(r.exception, TypeError) and r.exit_code == 1
    r = invoke("add-peer", "phone", "--dir", str(inv))  # --debug held for that run only
    assert r.exit_code == BUG_EXIT


def test_on_many_hosts_a_bug_is_reported_for_its_host_with_the_traceback():
    def work(name: str, _arg: None) -> str:
        if name == "b":
            raise KeyError("missing")
        if name == "c":
            raise RemoteError("c: ssh refused")
        return name

    a, b, c = remote.for_each([("a", None), ("b", None), ("c", None)], work, parallel=3)
    assert (a.value, a.error, a.trace) == ("a", None, None)
    assert b.error == "internal error, KeyError: 'missing'" and "Traceback" in (b.trace or "")
    assert (c.error, c.trace) == ("c: ssh refused", None)


@pytest.mark.parametrize("error, code", [(PlanError("x"), 1), (ContentError("x"), 1)])
def test_expected_failures_are_meshbeam_errors_with_their_code(error, code):
    assert error.exit_code == code and isinstance(error, PlanError)
    if isinstance(error, ContentError):
        assert isinstance(error, ValueError)  # the pure text modules raise it as a bad value
