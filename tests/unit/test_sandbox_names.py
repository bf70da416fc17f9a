"""Sandbox names and checks that need neither root nor namespaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshbeam import sandbox, sandbox_net


@pytest.mark.parametrize("prefix", ["", "Mbx", "a-b", "1ab", "toolong", "mb_x"])
def test_bad_prefix_is_refused(prefix, tmp_path):
    with pytest.raises(sandbox.SandboxError, match="bad sandbox prefix"):
        sandbox.load(prefix=prefix, state_dir=tmp_path)


def test_interface_names_fit_in_15_chars():
    specs = sandbox._specs("abcdef", 50, laptop=True)
    names = [port[0] for s in specs for port in s.ports] + ["abcdef-br", "abcdef-lan"]
    assert max(map(len, names)) <= 15
    assert len(set(names)) == len(names)
    assert [s.address for s in specs][:2] == ["198.51.100.11", "198.51.100.12"]
    assert {s.name: s.address for s in specs}["s50"] == "198.51.100.60"


def test_fixed_mac_is_local_and_unicast():
    assert sandbox_net.mac("198.51.100.11/24") == "02:00:c6:33:64:0b"


def test_load_without_a_sandbox_is_a_clear_error():
    # Missing, below root's own /: the state directory check passes for any user, nothing is made.
    missing = Path("/") / f"meshbeam-test-no-sandbox-{os.getpid()}" / "mbx"
    assert not missing.parent.exists()
    with pytest.raises(sandbox.SandboxError, match="no sandbox 'mbx'"):
        sandbox.load(state_dir=missing)
    assert not missing.parent.exists()
