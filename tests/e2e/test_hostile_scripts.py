"""Hostile values and hostile directories against the real scripts, with root's own rights.

The full matrix: each hostile value in each field alone, for both backends, every script run by
a real sh among stubs (tests/stubsh.py); the unit suite runs one value that holds every escape.
The rest acts as root in directories another user owns (chown, setpriv), which is why these
tests live here: they need root and fail without it. They bring up no sandbox.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from meshbeam import plan, probes, remote
from meshbeam.command import sh
from meshbeam.plan import FileFact, HostPlan, Write
from tests.stubsh import BACKENDS, HOSTILE, assert_no_value_runs, fixed_mesh, one_field_each


@pytest.fixture(autouse=True)
def _root() -> None:
    assert os.geteuid() == 0, "these tests act as root in other users' directories: run them as root"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_no_hostile_value_runs_in_any_script(backend, value, tmp_path):
    mesh, store = fixed_mesh(backend, tmp_path / "store")
    assert_no_value_runs(mesh, store, value, one_field_each(mesh, value), tmp_path / "runs")


# ---- facts: a hostile name cannot forge a record; links are reported, never read ---------------


def test_a_path_with_newlines_cannot_forge_a_fact(tmp_path):
    evil = tmp_path / "x\nfile 1 777 root\nQUFBQQ=="
    evil.mkdir()
    (evil / "vm.args").write_text("mine\n")
    other = tmp_path / "other"
    q = plan.Query("mbnone0", (str(evil / "vm.args"), str(other)), ("sh",))
    out = subprocess.run(["sh", "-s"], input=probes.facts_script(q).render(), capture_output=True, text=True,
                         check=True).stdout
    facts = probes.parse_facts(out, q)
    assert facts.files[str(evil / "vm.args")].content == b"mine\n"
    assert facts.files[str(other)] == FileFact(str(other), False)


def _user_dir(owner: str = "nobody") -> Path:
    """A directory under /tmp owned by another user (pytest's own tmp is root-only)."""
    d = Path(tempfile.mkdtemp(prefix="meshbeam-test-", dir="/tmp"))
    subprocess.run(["chown", owner, str(d)], check=True)
    return d


def test_links_and_user_directories_are_reported(tmp_path):
    secret = tmp_path / "root-only"
    secret.write_text("root's secret\n")
    secret.chmod(0o600)
    d = _user_dir()
    try:
        (d / "cookie").symlink_to(secret)
        (d / "vm.args").write_text("-sname x\n")
        os.chown(d / "vm.args", 65534, 65534)
        (tmp_path / "fifo").mkdir()
        q = plan.Query("mbnone0", (str(d / "cookie"), str(d / "vm.args"), str(tmp_path / "fifo")), ())
        out = subprocess.run(["sh", "-s"], input=probes.facts_script(q).render(), capture_output=True, text=True,
                             check=True).stdout
        facts = probes.parse_facts(out, q)
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=True)
    link, vm, fifo = (facts.files[p] for p in q.paths)
    assert link.problem == "is a symbolic link" and link.content is None
    assert vm.actor == "nobody" and vm.content == b"-sname x\n" and vm.problem is None
    assert fifo.problem == "is not a regular file"
    assert "root's secret" not in out


# ---- apply: temp files from mktemp, never left behind, never through a link -------------------


def test_apply_as_the_directory_owner_and_never_over_a_link(tmp_path):
    d = _user_dir()
    try:
        (d / "planted").symlink_to(tmp_path / "victim")
        writes = (
            Write(str(d / "cookie"), b"c" * 20, 0o400, "nobody", True, "new", actor="nobody"),
            Write(str(d / "planted"), b"pwned\n", 0o644, "nobody", False, "changed", actor="nobody"),
        )
        r = subprocess.run(["sh", "-s"], input=remote.apply_script(HostPlan("h", writes)).render().encode(),
                           capture_output=True)
        assert r.returncode != 0 and b"planted is a symbolic link" in r.stderr
        assert not (tmp_path / "victim").exists()
        # writes are committed in the plan's order: the cookie before the link is refused, no temp file left
        assert sorted(p.name for p in d.iterdir()) == ["cookie", "planted"]
        st = (d / "cookie").stat()
        assert st.st_uid == 65534 and stat.S_IMODE(st.st_mode) == 0o400
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=True)


def test_a_failed_apply_leaves_no_temp_file(tmp_path):
    (tmp_path / "dir-target").mkdir()
    writes = (Write(str(tmp_path / "a.key"), b"PrivateKey = x\n", 0o600, "root", True, "new"),
              Write(str(tmp_path / "dir-target"), b"x", 0o600, "root", False, "new"))
    r = subprocess.run(["sh", "-s"], input=remote.apply_script(HostPlan("h", writes)).render().encode(),
                       capture_output=True)
    assert r.returncode != 0 and b"not a regular file" in r.stderr
    assert not [p for p in tmp_path.iterdir() if ".meshbeam." in p.name]


# ---- the facts and apply scripts on this machine's own sh, as root in root's directories ----


def test_facts_script_reads_files_modes_homes_and_probes(tmp_path):
    f = tmp_path / "conf"
    f.write_bytes(b"hello\x00world\n")
    os.chmod(f, 0o640)
    q = plan.Query("mbnone0", (str(f), str(tmp_path / "absent"), "~root/.meshbeam-test-absent"), ("sh", "no-such-tool"),
                   ("root",), (("yes", sh("true")), ("no", sh("false"))))
    out = subprocess.run(["sh", "-s"], input=probes.facts_script(q).render(), capture_output=True, text=True,
                         check=True).stdout
    facts = probes.parse_facts(out, q)
    assert facts.tools == {"sh"} and facts.flags == {"yes"} and facts.probed == {"yes", "no"}
    assert facts.iface_addrs == ()
    assert facts.files[str(f)] == FileFact(str(f), True, 0o640, "root", b"hello\x00world\n")
    assert not facts.files[str(tmp_path / "absent")].exists
    assert not facts.files["~root/.meshbeam-test-absent"].exists
    assert facts.homes["root"] == "/root"


def test_apply_script_writes_every_file_atomically_with_its_mode(tmp_path):
    p = HostPlan("h", (
        Write(str(tmp_path / "a" / "secret.conf"), b"PrivateKey = x\n" * 1000, 0o600, "root", True, "new"),
        Write(str(tmp_path / "b.txt"), b"plain\n", 0o644, "root", False, "new"),
    ))
    subprocess.run(["sh", "-s"], input=remote.apply_script(p).render().encode(), check=True)
    for w in p.writes:
        assert open(w.path, "rb").read() == w.content
        assert stat.S_IMODE(os.stat(w.path).st_mode) == w.mode
    assert sorted(os.listdir(tmp_path)) == ["a", "b.txt"] and os.listdir(tmp_path / "a") == ["secret.conf"]


def test_root_sets_owner_and_mode_in_its_own_directories(tmp_path):
    p = HostPlan("h", (
        Write(str(tmp_path / "d" / "cookie"), b"c" * 20, 0o400, "nobody", True, "new"),
        Write(str(tmp_path / "d" / "key"), b"k" * 20, 0o600, "root", True, "new"),
        Write(str(tmp_path / "d" / "conf"), b"plain\n", 0o644, "root", False, "new"),
    ))
    subprocess.run(["sh", "-s"], input=remote.apply_script(p).render().encode(), check=True)
    got = {w.path: os.stat(w.path) for w in p.writes}
    assert [(st.st_uid, stat.S_IMODE(st.st_mode)) for st in got.values()] == [(65534, 0o400), (0, 0o600), (0, 0o644)]
    assert sorted(os.listdir(tmp_path / "d")) == ["conf", "cookie", "key"]


def test_a_directory_whose_owner_changed_since_the_plan_is_refused(tmp_path):
    d = _user_dir()
    try:
        writes = (Write(str(tmp_path / "first"), b"x", 0o600, "root", False, "new"),
                  Write(str(d / "cookie"), b"c" * 20, 0o400, "root", True, "new"))  # planned when d was root's
        r = subprocess.run(["sh", "-s"], input=remote.apply_script(HostPlan("h", writes)).render().encode(),
                           capture_output=True)
        assert r.returncode != 0 and b"changed since the plan was made" in r.stderr
        assert os.listdir(d) == [] and os.listdir(tmp_path) == []  # nothing renamed, no temp file left
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=True)
