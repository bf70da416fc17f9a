"""The sandbox's state directory is root's own: checked before any write or delete. Needs root (chown)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshbeam import sandbox, sandbox_fs

OTHER_UID = 65534  # nobody


@pytest.fixture(autouse=True)
def _root():
    assert os.geteuid() == 0, "these tests chown files to another user: run them as root"


def _symlink(tmp: Path) -> Path:
    target = tmp / "victim"
    target.mkdir()
    (target / "precious").write_text("keep me")
    (tmp / "state").symlink_to(target)
    return tmp / "state"


def _other_owner(tmp: Path) -> Path:
    (tmp / "state").mkdir(mode=0o700)
    os.chown(tmp / "state", OTHER_UID, OTHER_UID)
    return tmp / "state"


def _world_writable(tmp: Path) -> Path:
    (tmp / "state").mkdir()
    os.chmod(tmp / "state", 0o777)
    return tmp / "state"


def _parent_of_other_owner(tmp: Path) -> Path:
    (tmp / "theirs").mkdir()
    os.chown(tmp / "theirs", OTHER_UID, OTHER_UID)
    return tmp / "theirs" / "state"  # missing, but they could plant anything there


def _parent_symlink(tmp: Path) -> Path:
    (tmp / "real").mkdir()
    (tmp / "link").symlink_to(tmp / "real")
    return tmp / "link" / "state"


def _a_file(tmp: Path) -> Path:
    (tmp / "state").write_text("")
    return tmp / "state"


@pytest.mark.parametrize("make_bad, message", [
    (_symlink, "is a symlink"),
    (_other_owner, f"owned by uid {OTHER_UID}, not root"),
    (_world_writable, "writable by users other than root"),
    (_parent_of_other_owner, f"owned by uid {OTHER_UID}, not root"),
    (_parent_symlink, "is a symlink"),
    (_a_file, "is not a directory"),
])
def test_unsafe_state_dir_is_refused_before_anything_is_touched(tmp_path, make_bad, message):
    bad = make_bad(tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for call in (lambda: sandbox.load(prefix="mbunit", state_dir=bad),
                 lambda: sandbox.down(prefix="mbunit", state_dir=bad, purge=True),
                 lambda: sandbox.up(1, prefix="mbunit", state_dir=bad)):
        with pytest.raises(sandbox_fs.UnsafeStateError, match=message):
            call()
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing written, nothing deleted


def test_sticky_world_writable_parent_is_fine(tmp_path):
    """As /tmp: others cannot rename or delete root's entries in a sticky directory."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    assert sandbox_fs.make(shared / "state") == shared / "state"
    st = os.lstat(shared / "state")
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o700)


def test_write_new_does_not_follow_a_planted_symlink(tmp_path):
    (tmp_path / "outside").write_text("keep me")
    (tmp_path / "sshd_config").symlink_to(tmp_path / "outside")
    with pytest.raises(OSError):
        sandbox_fs.write_new(tmp_path / "sshd_config", "ListenAddress 0.0.0.0\n")
    assert (tmp_path / "outside").read_text() == "keep me"


def test_remove_tree_removes_a_planted_symlink_not_its_target(tmp_path):
    state = sandbox_fs.make(tmp_path / "state")
    victim = _symlink(tmp_path / "state")  # state/state -> state/victim
    (state / "hosts").mkdir()
    (state / "hosts" / "escape").symlink_to(tmp_path / "state" / "victim")
    sandbox_fs.remove_tree(victim)
    sandbox_fs.remove_tree(state / "hosts")
    assert (state / "victim" / "precious").read_text() == "keep me"
    assert not victim.exists() and not (state / "hosts").exists()


def test_default_state_dir_is_root_only_under_run():
    path = sandbox._dir("mbunit", None)
    assert path == Path("/run/meshbeam-sandbox/mbunit")


def test_missing_directories_above_the_state_dir_are_fine(tmp_path):
    """On a fresh boot /run/meshbeam-sandbox does not exist yet: nothing to check below it."""
    state = tmp_path / "fresh" / "mbunit"
    assert sandbox_fs.check(state) == state
    assert not (tmp_path / "fresh").exists()
