"""The sandbox itself: its state directory is root's own, and systemd hosts boot, reboot and go away cleanly."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from meshbeam import sandbox, sandbox_fs, sandbox_systemd
from tests.conftest import invoke

pytestmark = pytest.mark.e2e

SANDBOX_PREFIX = "mbsd"


def _mesh_route() -> str:
    return subprocess.run(["ip", "-4", "route", "show", "exact", sandbox.MESH_RANGE], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def _mesh_route_set_aside():
    """A route for the range left by an earlier run (or the machine's own) is set aside for these tests,
    which check who adds and removes it, and put back after them."""
    before = _mesh_route()
    if before:
        subprocess.run(["ip", "route", "del", *before.split()], check=True)
    yield
    if before and not _mesh_route():
        subprocess.run(["ip", "route", "add", *before.split()], check=True)


def test_a_symlink_at_the_state_dir_is_refused_and_its_target_kept(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    sandbox_fs.make(sandbox_fs.BASE / "mbsl")
    os.rmdir(sandbox_fs.BASE / "mbsl")
    (sandbox_fs.BASE / "mbsl").symlink_to(victim)
    try:
        for call in (lambda: sandbox.up(1, prefix="mbsl"), lambda: sandbox.down(prefix="mbsl", purge=True)):
            with pytest.raises(sandbox_fs.UnsafeStateError, match="is a symlink"):
                call()
        assert (victim / "precious").read_text() == "keep me"
        assert not [line for line in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
                    .splitlines() if "mbsl-" in line]
    finally:
        (sandbox_fs.BASE / "mbsl").unlink()


def test_state_is_root_only_and_a_route_of_the_machine_is_left_alone():
    subprocess.run(["ip", "route", "add", "unreachable", sandbox.MESH_RANGE], check=True)
    try:
        box = sandbox.up(1, prefix="mbrt")
        try:
            for d in (sandbox_fs.BASE, box.state_dir):
                st = os.lstat(d)
                assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_mode & 0o777 == 0o700, d
            assert _mesh_route().startswith("unreachable")  # not replaced
        finally:
            sandbox.down(prefix="mbrt", purge=True)
        assert _mesh_route().startswith("unreachable")  # not removed
        assert not (sandbox_fs.BASE / "mbrt").exists()
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", sandbox.MESH_RANGE], check=True)


@pytest.fixture(scope="module")
def sdbox():
    assert os.geteuid() == 0, "end-to-end tests need root (namespaces); run them as root"
    box = sandbox.up(2, prefix=SANDBOX_PREFIX, systemd=True)
    try:
        yield box
    finally:
        sandbox.down(prefix=SANDBOX_PREFIX, purge=True)


def sh(box: sandbox.Sandbox, host: str, cmd: str, **kw) -> str:
    return sandbox.run(box, host, ["sh", "-c", cmd], **kw).stdout.strip()


def ssh(box: sandbox.Sandbox, host: str, cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-F", str(box.ssh_config), "-o", "ConnectTimeout=5", box.host(host).address, cmd],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_systemd_hosts_boot_to_running(sdbox):
    assert _mesh_route().startswith("blackhole")
    for h in sdbox.servers:
        assert h.systemd
        assert sh(sdbox, h.name, "cat /proc/1/comm; systemctl is-system-running") == "systemd\nrunning"
        assert sh(sdbox, h.name, "systemctl is-active epmd.socket ssh.service") == "active\nactive"


def test_ssh_lands_in_the_systemd_host(sdbox):
    for h in sdbox.servers:
        r = ssh(sdbox, h.name, "hostname; cat /proc/1/comm; systemctl is-active epmd.socket")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [h.name, "systemd", "active"]


def test_each_host_has_its_own_machine_id_and_mac(sdbox):
    ids = [sh(sdbox, h.name, "cat /etc/machine-id") for h in sdbox.servers]
    macs = [sh(sdbox, h.name, "cat /sys/class/net/ul0/address") for h in sdbox.servers]
    machine_id = Path("/etc/machine-id").read_text().strip()
    assert len(set(ids)) == len(ids) and machine_id not in ids
    assert len(set(macs)) == len(macs)


def test_spawned_process_dies_with_its_popen(sdbox, tmp_path):
    # A zombie does not count: its parent (nsenter) is outside the host, so whoever adopts it there reaps it.
    sleeping = "sleep 0.3; ps -eo stat=,args= | grep -c '^[^Z].*sleep 1234$' || true"
    p = sandbox.spawn(sdbox, "s2", ["sleep", "1234"], log=tmp_path / "sleep.log")
    try:
        assert sh(sdbox, "s2", sleeping) == "1"
    finally:
        p.kill()
        p.wait()
    assert sh(sdbox, "s2", sleeping) == "0"


def test_reboot_keeps_the_disk_and_forgets_run_and_the_network_state(sdbox):
    sh(sdbox, "s1", "echo disk > /etc/mb-kept; echo run > /run/mb-gone; nft add table inet mb_before; "
                    "ip link add mbextra type bridge")
    old_pid1 = sandbox.pid1(sdbox.state_dir, "s1")
    box = sandbox.reboot(sdbox, "s1")
    assert sandbox.pid1(box.state_dir, "s1") != old_pid1
    assert sh(box, "s1", "cat /etc/mb-kept") == "disk"
    assert sh(box, "s1", "test -e /run/mb-gone || echo gone") == "gone"
    assert "mb_before" not in sh(box, "s1", "nft list tables")
    assert [line.split()[0].split("@")[0] for line in sh(box, "s1", "ip -br link").splitlines()] == ["lo", "ul0"]
    assert sh(box, "s1", "ip -br -4 addr show dev ul0").split()[2:] == ["198.51.100.11/24"]
    assert sh(box, "s1", "systemctl is-system-running") == "running"
    r = ssh(box, "s1", "cat /etc/mb-kept")
    assert (r.returncode, r.stdout.strip()) == (0, "disk"), r.stderr


def test_cli_reboot_reboots_the_host(sdbox):
    old_pid1 = sandbox.pid1(sdbox.state_dir, "s2")
    r = invoke("sandbox", "reboot", "s2", "--prefix", SANDBOX_PREFIX)
    assert r.exit_code == 0, r.output
    assert sandbox.pid1(sdbox.state_dir, "s2") not in (None, old_pid1)
    assert ssh(sdbox, "s2", "true").returncode == 0


def test_down_leaves_nothing_behind(sdbox):
    box = sandbox.load(prefix=SANDBOX_PREFIX)
    pids = [h.holder_pid for h in box.servers]
    sandbox.down(prefix=SANDBOX_PREFIX, purge=True)
    assert not box.state_dir.exists()
    assert not [p for p in pids if Path(f"/proc/{p}").exists()], "a host's PID 1 is still running"
    leftovers = [m for m in Path("/proc").glob("[0-9]*/mounts")
                 if _readable(m) and (str(box.state_dir) in m.read_text() or "mbsd-" in m.read_text())]
    assert not leftovers, f"mounts of the sandbox remain in {leftovers}"
    assert f"{SANDBOX_PREFIX}-" not in subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout
    assert f"{SANDBOX_PREFIX}-" not in subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert not list(sandbox_systemd._cgroup_root().glob(f"meshbeam-sandbox-{SANDBOX_PREFIX}-*"))
    assert not _mesh_route()  # the sandbox added the blackhole route, so it removed it


def _readable(p: Path) -> bool:
    try:
        p.read_text()
        return True
    except OSError:  # the process ended meanwhile
        return False
