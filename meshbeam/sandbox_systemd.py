"""Sandbox servers that boot the machine's own systemd as PID 1 (`meshbeam sandbox up --systemd`).

A supervisor process per host (`python -m meshbeam.sandbox_systemd DISK`) makes the host's network namespace
and veth, then runs `unshare` with new PID, mount, UTS, IPC and cgroup namespaces, whose PID 1 mounts the
host's layers and execs systemd. When that systemd reboots, the kernel ends the PID namespace's init as if by
SIGHUP (SIGINT for a power-off) and unshare dies of the same signal: on SIGHUP the supervisor rebuilds the
network namespace, so the host comes back with a fresh boot's network state, and boots it again.

The host's disk is DISK/{etc,var,root,srv}.upper, overlaid on the machine's own directories; /run, /tmp and
/dev are fresh at every boot.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from . import sandbox_fs, sandbox_net
from . import sandbox_proc as proc
from .fsutil import atomic_write
from .sandbox_fs import SandboxError
from .sandbox_net import Spec

LAYERS = ("etc", "var", "root", "srv")
SYSTEMD = "/lib/systemd/systemd"
# Units a sandbox host must not run: they would change the machine itself (clock, sysctls, kernel modules,
# disks, devices), talk to the Internet, or only slow the boot down.
MASKED = (
    "systemd-timesyncd.service", "systemd-sysctl.service", "systemd-modules-load.service", "systemd-binfmt.service",
    "systemd-remount-fs.service", "systemd-pstore.service", "systemd-udevd.service", "systemd-udev-trigger.service",
    "systemd-udev-settle.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-hwdb-update.service", "ldconfig.service", "e2scrub_reap.service", "e2scrub_all.timer", "fstrim.timer",
    "apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "man-db.timer",
    "postgresql.service", "postgresql@.service", "getty.target", "console-getty.service", "getty@.service",
    "serial-getty@.service",
)
# PID 1 of the new namespaces: $1 the host's disk, $2 its name. The layers are mounted first, while the disk
# (which may live under /run) is still in sight; /dev is the host's own so that its systemd never touches the
# machine's device nodes or console; /sys (the network namespace's, from `ip netns exec`) is read-only, which
# keeps udev off.
BOOT = r"""
set -e
for d in etc var root srv; do
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$1/$d.upper,workdir=$1/$d.work" "/$d"
done
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
cd /dev
mknod -m 666 null c 1 3; mknod -m 666 zero c 1 5; mknod -m 666 full c 1 7
mknod -m 666 random c 1 8; mknod -m 666 urandom c 1 9; mknod -m 666 tty c 5 0
mkdir net pts shm; mknod -m 666 net/tun c 10 200
ln -s /proc/self/fd fd; ln -s fd/0 stdin; ln -s fd/1 stdout; ln -s fd/2 stderr; ln -s pts/ptmx ptmx
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs shm
touch console; mount --bind "$1/console.log" console
cd /
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -o remount,bind,ro,nosuid,nodev,noexec /sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
hostname "$2"
exec /lib/systemd/systemd --system --unit=multi-user.target
"""


def _cgroup_root() -> Path:
    """The machine's cgroup2 hierarchy (unified, or the hybrid layout's 'unified')."""
    for p in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (p / "cgroup.procs").exists() and (p / "cgroup.subtree_control").exists():
            return p
    raise SandboxError("systemd sandbox hosts need a cgroup2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified)")


def _cgroup(prefix: str, name: str) -> Path:
    """The host's own cgroup: its cgroup namespace starts there, so hosts never share units' cgroups."""
    return _cgroup_root() / f"meshbeam-sandbox-{prefix}-{name}"


def _remove_cgroup(path: Path) -> None:
    """Children first: systemd leaves its slices and scopes behind as empty directories."""
    if not path.is_dir():
        return
    for d in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        d.rmdir()
    path.rmdir()


def preflight(state_dir: Path) -> None:
    if not os.access(SYSTEMD, os.X_OK):
        raise SandboxError(f"systemd sandbox hosts boot the machine's systemd, and {SYSTEMD} is missing")
    if not all(shutil.which(b, path=proc.PATH) for b in ("setpriv", "mknod")):
        raise SandboxError("systemd sandbox hosts need setpriv and mknod (apt-get install util-linux coreutils)")
    if not re.fullmatch(r"[A-Za-z0-9/._-]+", str(state_dir)):  # it goes into overlayfs mount options
        raise SandboxError(f"sandbox state directory {state_dir}: systemd hosts want only [A-Za-z0-9/._-] in it")
    _cgroup_root()


def _put(layer: Path, rel: str, data: bytes | str, mode: int = 0o644) -> None:
    """A file in a host's /etc layer; new directories take the mode of the machine's own."""
    path = layer / rel
    for parent in reversed(path.relative_to(layer).parents[:-1]):
        d = layer / parent
        if not d.is_dir():
            lower = Path("/etc") / parent
            os.mkdir(d, lower.stat().st_mode & 0o7777 if lower.is_dir() else 0o755)
    sandbox_fs.write_new(path, data, mode)


def _prepare(spec: Spec, disk: Path, ssh_dir: Path) -> None:
    """The host's first disk: its own machine-id, hostname, host key and sshd settings, and the masks."""
    for layer in LAYERS:
        upper = disk / f"{layer}.upper"
        os.mkdir(upper, os.stat(f"/{layer}").st_mode & 0o7777)  # the merged root takes the upper's mode
        os.mkdir(disk / f"{layer}.work", 0o700)
    etc = disk / "etc.upper"
    key = sandbox_net.host_key(spec, disk)
    _put(etc, "ssh/ssh_host_ed25519_key", key.read_bytes(), 0o600)
    _put(etc, "ssh/ssh_host_ed25519_key.pub", key.with_suffix(".pub").read_bytes())
    _put(etc, "ssh/meshbeam-sandbox_authorized_keys", (ssh_dir / "authorized_keys").read_bytes())
    options = sandbox_net.sshd_options(spec.address, "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/meshbeam-sandbox_authorized_keys")
    _put(etc, "ssh/sshd_config.d/meshbeam-sandbox.conf", "\n".join(options) + "\n")
    # Debian's sshd_config includes sshd_config.d/*.conf first, and the first value of an option wins.
    _put(etc, "machine-id", secrets.token_hex(16) + "\n", 0o444)  # and so a MAC of its own from udev's policy
    _put(etc, "hostname", spec.name + "\n")
    _put(etc, "systemd/journald.conf.d/meshbeam-sandbox.conf", "[Journal]\nStorage=volatile\n")
    (etc / "systemd/system").mkdir(exist_ok=True)
    for unit in MASKED:
        os.symlink("/dev/null", etc / "systemd/system" / unit)
    sandbox_fs.write_new(disk / "console.log", b"")


def start(prefix: str, spec: Spec, state_dir: Path) -> dict:
    """Prepare a host's disk and start its supervisor; returns the host's record for sandbox.json."""
    disk = state_dir / "hosts" / spec.name
    disk.mkdir(mode=0o700, parents=True)
    _prepare(spec, disk, state_dir / "ssh")
    atomic_write(disk / "spec.json", json.dumps({"prefix": prefix, **asdict(spec)}) + "\n")
    with open(disk / "supervisor.log", "ab") as log:
        p = subprocess.Popen([sys.executable, "-m", "meshbeam.sandbox_systemd", str(disk)], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env={**os.environ, "PATH": proc.PATH})
    started = proc.started(p.pid)
    atomic_write(disk / "supervisor", f"{p.pid} {started}\n")
    return {**asdict(spec), "systemd": True, "supervisor_pid": p.pid, "supervisor_start": started}


def _log_tail(disk: Path) -> str:
    lines = (disk / "supervisor.log").read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def wait_ready(state_dir: Path, spec: Spec, timeout: float = 120) -> None:
    """Until systemd says the boot is done and sshd answers; a failed unit or a dead host is an error."""
    disk, deadline = state_dir / "hosts" / spec.name, time.monotonic() + timeout
    supervisor = disk / "supervisor"
    state = ""
    while time.monotonic() < deadline:
        if proc.pid_file(supervisor) is None:
            raise SandboxError(f"sandbox host {spec.name} stopped while booting: {_log_tail(disk)}")
        pid = proc.pid1(state_dir, spec.name)
        if pid is not None:
            try:
                state = subprocess.run(["nsenter", "-t", str(pid), "-a", "systemctl", "is-system-running", "--wait"],
                                       capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                       timeout=max(1.0, deadline - time.monotonic())).stdout.strip()
            except subprocess.TimeoutExpired:
                continue  # the deadline has passed: the loop ends with the error below
            if state == "running":
                break
            if state == "degraded":
                failed = subprocess.run(["nsenter", "-t", str(pid), "-a", "systemctl", "list-units", "--failed",
                                         "--plain", "--no-legend"], capture_output=True, text=True).stdout
                units = ", ".join(line.split()[0] for line in failed.splitlines() if line.strip())
                raise SandboxError(f"sandbox host {spec.name} booted with failed units: {units or '?'}")
        time.sleep(0.1)
    else:
        raise SandboxError(f"sandbox host {spec.name} did not finish booting in {timeout:g} s ({state or 'no PID 1'})")
    proc.until(lambda: sandbox_net.accepts(spec.address), max(1.0, deadline - time.monotonic()),
              f"sshd on sandbox host {spec.name} ({spec.address}) does not answer")


def reboot(state_dir: Path, spec: Spec, timeout: float = 120) -> None:
    """Ask the host's systemd for a reboot (as `systemctl reboot` does) and wait for the next boot to finish."""
    disk = state_dir / "hosts" / spec.name
    old = (disk / "pid1").read_text() if proc.pid1(state_dir, spec.name) else None
    if old is None:
        raise SandboxError(f"sandbox host {spec.name} is not running")
    os.kill(int(old.split()[0]), signal.SIGRTMIN + 5)

    def next_boot() -> bool:
        if proc.pid_file(disk / "supervisor") is None:
            raise SandboxError(f"sandbox host {spec.name} did not come back from its reboot: {_log_tail(disk)}")
        return proc.pid1(state_dir, spec.name) is not None and (disk / "pid1").read_text() != old

    proc.until(next_boot, timeout, f"sandbox host {spec.name} did not boot again within {timeout:g} s")
    wait_ready(state_dir, spec, timeout)


def power_off_all(prefix: str, state_dir: Path, timeout: float = 30) -> None:
    """Power every systemd host off (SIGRTMIN+4 to its PID 1), as its supervisor waits; then kill what is left."""
    disks = [d for d in (state_dir / "hosts").iterdir() if (d / "supervisor").exists()]
    for disk in disks:
        sandbox_fs.write_new(disk / "stop", b"")  # the supervisor boots nothing again, whatever the signal
        if (pid := proc.pid1(state_dir, disk.name)) is not None:
            os.kill(pid, signal.SIGRTMIN + 4)
    deadline = time.monotonic() + timeout
    for disk in disks:
        supervisor = proc.pid_file(disk / "supervisor")
        with_time = max(0.0, deadline - time.monotonic())
        if supervisor is not None:
            try:
                proc.until(lambda: proc.dead(supervisor), with_time, "")
            except SandboxError:  # a host that would not stop: its namespace dies with its PID 1
                if (pid := proc.pid1(state_dir, disk.name)) is not None:
                    os.kill(pid, signal.SIGKILL)
                proc.until(lambda: proc.dead(supervisor), 10, f"sandbox host {disk.name}'s supervisor does not end")
        if (pid := proc.pid1(state_dir, disk.name)) is not None:  # a host whose supervisor was killed
            os.kill(pid, signal.SIGKILL)
            proc.until(lambda: proc.dead(pid), 10, f"sandbox host {disk.name} does not end")
        (disk / "supervisor").unlink()
        _remove_cgroup(_cgroup(prefix, disk.name))


def _pid1_of(unshare: subprocess.Popen) -> int | None:
    """unshare --fork's only child is the new namespace's PID 1."""
    deadline = time.monotonic() + 10
    while unshare.poll() is None and time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.01)
    return None


def supervise(disk: Path) -> None:
    """Boot the host, and boot it again each time it reboots, until it powers off or `down` asks."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the host's reboot is not ours to die of
    fields = json.loads((disk / "spec.json").read_text())
    prefix = fields.pop("prefix")
    spec = Spec(**fields)
    cgroup = _cgroup(prefix, spec.name)
    while True:
        sandbox_net.net(prefix, spec)
        cgroup.mkdir(exist_ok=True)
        # PID 1's environment: `container` tells systemd it shares a kernel, as in any container.
        unshare = subprocess.Popen(
            ["ip", "netns", "exec", f"{prefix}-{spec.name}", "unshare", "--fork", "--pid", "--mount", "--uts",
             "--ipc", "--cgroup", "--mount-proc", "--propagation", "private", "sh", "-c", BOOT, "boot", str(disk),
             spec.name],
            stdin=subprocess.DEVNULL, env={"PATH": proc.PATH, "container": "meshbeam-sandbox"},
            preexec_fn=lambda: (cgroup / "cgroup.procs").write_text("0"))
        if (pid := _pid1_of(unshare)) is not None:
            atomic_write(disk / "pid1", f"{pid} {proc.started(pid)}\n")
        unshare.wait()
        (disk / "pid1").unlink(missing_ok=True)
        proc.kill_netns(proc.ns_id(f"/run/netns/{prefix}-{spec.name}"))
        for veth, *_ in spec.ports:
            proc.sh(["ip", "link", "del", veth], check=False)
        proc.sh(["ip", "netns", "del", f"{prefix}-{spec.name}"], check=False)
        _remove_cgroup(cgroup)
        print(f"{time.strftime('%H:%M:%S')} {spec.name}: PID 1 ended ({unshare.returncode})", flush=True)
        if unshare.returncode != -signal.SIGHUP or (disk / "stop").exists():
            return


if __name__ == "__main__":
    supervise(Path(sys.argv[1]))
