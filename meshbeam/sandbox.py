"""A local sandbox of real hosts: per host a network namespace, a private mount + UTS namespace and sshd.

Linux and root only. Underlay 198.51.100.0/24 on a bridge in the root namespace; an optional laptop on
203.0.113.0/24 behind a NAT router. With `systemd=True` the servers boot the machine's systemd instead
(sandbox_systemd). State lives in a root-only directory, /run/meshbeam-sandbox/PREFIX (sandbox_fs). "Trap" comments name a section of docs/sandbox.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import sandbox_fs, sandbox_net
from . import sandbox_proc as proc
from .fsutil import atomic_write
from .sandbox_exec import CommandError, run, spawn
from .sandbox_fs import SandboxError
from .sandbox_net import Spec
from .sandbox_proc import PATH, pid1

UNDERLAY_GW, NAT_UNDERLAY = "198.51.100.1", "198.51.100.2"
NAT_LAN, LAPTOP_LAN = "203.0.113.1", "203.0.113.10"
MESH_RANGE = "198.18.0.0/15"  # the tests' mesh addresses; blackholed in the machine's namespace
REQUIRED = ("ip", "nsenter", "unshare", "sshd", "ssh-keygen", "nft")
BIND_DIRS = {"/etc/wireguard": 0o700, "/etc/tinc": 0o755, "/etc/meshbeam": 0o755, "/root": 0o700, "/srv": 0o755}
READY = "/run/meshbeam-ready"


@dataclass(frozen=True)
class SandboxHost:
    name: str
    address: str
    holder_pid: int  # a process in the host's namespaces (a systemd host's PID 1 when loaded)
    systemd: bool = False


@dataclass(frozen=True)
class Sandbox:
    prefix: str
    state_dir: Path
    servers: tuple[SandboxHost, ...]
    laptop: SandboxHost | None
    router: SandboxHost | None
    ssh_config: Path
    known_hosts: Path
    identity: Path

    def hosts(self) -> tuple[SandboxHost, ...]:
        return self.servers + tuple(h for h in (self.router, self.laptop) if h)

    def host(self, name: str) -> SandboxHost:
        found = [h for h in self.hosts() if h.name == name]
        if not found:
            raise SandboxError(f"sandbox {self.prefix} has no host {name!r}")
        return found[0]


def _dir(prefix: str, state_dir: Path | None, *, create: bool = False) -> Path:
    """The state directory, checked (root's own, no symlink) before anything reads, writes or deletes it."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,5}", prefix):  # keeps "<prefix>-s50-u" within 15 chars
        raise SandboxError(f"bad sandbox prefix {prefix!r}: want 1-6 of [a-z0-9], starting with a letter")
    path = Path(state_dir or sandbox_fs.BASE / prefix)
    return sandbox_fs.make(path) if create else sandbox_fs.check(path)


def _need_root() -> None:
    if not sys.platform.startswith("linux"):
        raise SandboxError("the sandbox needs Linux (network namespaces)")
    if os.geteuid() != 0:
        raise SandboxError("the sandbox needs root (network namespaces); run it as root")


def _preflight(n: int) -> None:
    _need_root()
    if missing := [b for b in REQUIRED if not shutil.which(b, path=PATH)]:
        raise SandboxError(f"the sandbox needs {', '.join(missing)} (apt-get install iproute2 util-linux "
                           "openssh-server nftables)")
    if not 1 <= n <= 50:
        raise SandboxError(f"a sandbox has 1 to 50 servers, not {n}")


def _check_free() -> None:
    """Addresses are fixed, so two sandboxes (with other prefixes) cannot be up at once."""
    if m := re.search(r"^\d+: (\S+)\s+inet 198\.51\.100\.", proc.sh(["ip", "-o", "-4", "addr", "show"]), re.M):
        raise SandboxError(f"{m.group(1)} already holds 198.51.100.0/24 (another sandbox?); take that down first")


def _specs(prefix: str, n: int, laptop: bool) -> list[Spec]:
    br, lan = f"{prefix}-br", f"{prefix}-lan"
    out = []
    for i in range(1, n + 1):
        ip = f"198.51.100.{10 + i}"
        out.append(Spec(f"s{i}", "server", ip, [[f"{prefix}-s{i}-u", br, "ul0", f"{ip}/24"]]))
    if laptop:  # The LAN is a root bridge of its own (no address): rebooting nat never cuts the laptop's link.
        out.append(Spec("nat", "nat", NAT_UNDERLAY, [[f"{prefix}-nat-u", br, "ul0", f"{NAT_UNDERLAY}/24"],
                                                       [f"{prefix}-nat-l", lan, "lan0", f"{NAT_LAN}/24"]]))
        out.append(Spec("laptop", "laptop", LAPTOP_LAN, [[f"{prefix}-lap-l", lan, "lan0", f"{LAPTOP_LAN}/24"]],
                         gateway=NAT_LAN))
    return out


def _holder(prefix: str, spec: Spec, state_dir: Path) -> int:
    """Start the long-lived process that owns the host's namespaces (trap: getting into a host)."""
    disk, state = state_dir / "hosts" / spec.name, shlex.quote(str(state_dir))
    steps = [
        "set -e",
        # Our private copy of /run/netns/* would keep other hosts' namespaces, and their veths, alive.
        "findmnt -rn -t nsfs -o TARGET | while read -r m; do umount -l \"$m\"; done",
    ]
    for d, mode in BIND_DIRS.items():
        src = disk / d.strip("/").replace("/", "-")
        src.mkdir(mode=mode, parents=True, exist_ok=True)
        steps.append(f"mkdir -p {d} && mount --bind {shlex.quote(str(src))} {d}")
    # Fresh /run each boot (trap: wireguard-go's /run/wireguard/IF.sock collides between hosts). The state
    # directory may live under /run: an open descriptor keeps it reachable to bind back once the tmpfs hides it
    # (mount -c, or mount would resolve /proc/self/fd/3 to the hidden path).
    steps += [f"exec 3<{state}", "mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run", "mkdir -p /run/sshd",
              f"if [ ! -d {state} ]; then mkdir -p {state} && mount -c --bind /proc/self/fd/3 {state}; fi",
              "exec 3<&-"]
    steps += [f"echo {spec.name} > /proc/sys/kernel/hostname", f"touch {READY}", "exec sleep infinity"]
    # stdio on /dev/null (trap: a background `ip netns exec` keeps the caller's stdout open). `ip netns exec`,
    # unshare and `exec sleep` all exec in place, so this PID ends up as the holder.
    return subprocess.Popen(["ip", "netns", "exec", f"{prefix}-{spec.name}", "unshare", "-m", "-u",
                             "--propagation", "private", "sh", "-c", "; ".join(steps)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={"PATH": PATH}).pid


def _start_sshd(spec: Spec, pid: int, disk: Path, ssh_dir: Path) -> None:
    key, cfg = sandbox_net.host_key(spec, disk), disk / "sshd_config"
    options = sandbox_net.sshd_options(spec.address, str(key), str(ssh_dir / "authorized_keys"))
    sandbox_fs.write_new(cfg, "\n".join([*options, "Port 22", "PidFile /run/sshd.pid",
                                         "Subsystem sftp internal-sftp", ""]))
    # Inside the host's namespaces, so SSH sessions land in the host with its own /run and /etc/wireguard.
    proc.sh(["nsenter", "-t", str(pid), "-n", "-m", "-u", "/usr/sbin/sshd", "-f", str(cfg), "-E", str(disk / "sshd.log")])


def _boot(prefix: str, specs: list[Spec], state_dir: Path) -> dict[str, int]:
    """Namespaces, links, holders and sshd for some hosts; returns name -> holder PID."""
    for spec in specs:
        sandbox_net.net(prefix, spec)
    pids = {s.name: _holder(prefix, s, state_dir) for s in specs}
    for s in specs:
        failure = f"sandbox host {s.name} did not come up (its mounts failed?)"
        # /proc/PID/root looks into the holder's mount namespace, so this sees the host's own /run.
        proc.until(lambda: proc.dead(pids[s.name]) or Path(f"/proc/{pids[s.name]}/root{READY}").exists(), 10, failure)
        if proc.dead(pids[s.name]):
            raise SandboxError(failure)
    servers = [s for s in specs if s.role == "server"]
    for s in servers:
        _start_sshd(s, pids[s.name], state_dir / "hosts" / s.name, state_dir / "ssh")
    for s in servers:
        proc.until(lambda: sandbox_net.accepts(s.address), 10, f"sshd on sandbox host {s.name} ({s.address}) does not answer")
    return pids


def _write_ssh_files(ssh: Path, state_dir: Path, specs: list[Spec]) -> None:
    keys = [(s.address, (state_dir / "hosts" / s.name / "ssh_host_ed25519_key.pub").read_text().split()[:2])
            for s in specs if s.role == "server"]
    atomic_write(ssh / "known_hosts", "".join(f"{addr} {kind} {key}\n" for addr, (kind, key) in keys))
    # Plain ssh reads ~/.ssh from the password database, not $HOME, so it needs `-F` this file.
    atomic_write(ssh / "config", f"Host 198.51.100.*\n  User root\n  IdentityFile {ssh / 'id_ed25519'}\n"
                 f"  UserKnownHostsFile {ssh / 'known_hosts'}\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n")


def _write_state(state_dir: Path, state: dict) -> None:
    """sandbox.json: host records, the mount points up made on the machine (down removes them when still
    empty) and whether up added the blackhole route (down removes only a route it added)."""
    atomic_write(state_dir / "sandbox.json", json.dumps(state, indent=1) + "\n")


def _save(state_dir: Path, state: dict) -> Sandbox:
    _write_state(state_dir, state)
    return _sandbox(state_dir, state)


def _remove_empty(dirs: list[str]) -> None:
    """The hosts' bind mounts die with them, but their mount points stay on the machine."""
    for d in dirs:
        with contextlib.suppress(OSError):  # not empty: something else uses it now
            os.rmdir(d)


def _record(spec: Spec, pid: int) -> dict:
    return {**asdict(spec), "holder_pid": pid, "holder_start": proc.started(pid)}


def _spec(record: dict) -> Spec:
    return Spec(**{k: record[k] for k in ("name", "role", "address", "ports", "gateway")})


def _state(state_dir: Path) -> dict:
    try:
        state = json.loads((state_dir / "sandbox.json").read_text())
        if not isinstance(state.get("hosts"), list):
            raise ValueError("no host list")
        return state
    except FileNotFoundError:
        return {"hosts": [], "made_dirs": [], "blackhole_added": False}
    except ValueError as e:
        raise SandboxError(f"{state_dir / 'sandbox.json'} is unreadable ({e}); run `meshbeam sandbox up`") from None


def _live(record: dict) -> bool:
    """A systemd host lives as long as its supervisor (which boots it again after a reboot)."""
    if record.get("systemd"):
        return proc.alive(record["supervisor_pid"], record["supervisor_start"])
    return proc.alive(record["holder_pid"], record["holder_start"])


def _sandbox(state_dir: Path, state: dict) -> Sandbox:
    def host(x: dict) -> SandboxHost:
        if x.get("systemd"):
            return SandboxHost(x["name"], x["address"], pid1(state_dir, x["name"]) or 0, systemd=True)
        return SandboxHost(x["name"], x["address"], x["holder_pid"])

    def role(r: str) -> list[SandboxHost]:
        return [host(x) for x in state["hosts"] if x["role"] == r]

    ssh = state_dir / "ssh"
    return Sandbox(state["prefix"], state_dir, tuple(role("server")), (role("laptop") or [None])[0],
                   (role("nat") or [None])[0], ssh / "config", ssh / "known_hosts", ssh / "id_ed25519")


def load(*, prefix: str = "mbx", state_dir: Path | None = None) -> Sandbox:
    state_dir = _dir(prefix, state_dir)
    state = _state(state_dir)
    if not state["hosts"]:
        raise SandboxError(f"no sandbox {prefix!r} at {state_dir}; run `meshbeam sandbox up`")
    for r in state["hosts"]:
        if not _live(r):
            raise SandboxError(f"sandbox host {r['name']} is not running; run `meshbeam sandbox up` again")
    return _sandbox(state_dir, state)


def _add_blackhole() -> bool:
    """A stray mesh packet dies locally. Added only where the machine has no route for the range yet (one of
    its own is left alone); True when added."""
    if proc.sh(["ip", "-4", "route", "show", "exact", MESH_RANGE]).strip():
        return False
    proc.sh(["ip", "route", "add", "blackhole", MESH_RANGE])
    return True


def _others_up(state_dir: Path) -> bool:
    """Does another sandbox (another prefix) still run, and so still rely on the blackhole route?"""
    try:
        others = [d for d in sandbox_fs.BASE.iterdir() if d != state_dir]
    except FileNotFoundError:
        return False
    for d in others:
        with contextlib.suppress(SandboxError):
            if any(_live(r) for r in _state(sandbox_fs.check(d))["hosts"]):
                return True
    return False


def down(*, prefix: str = "mbx", state_dir: Path | None = None, purge: bool = False) -> None:
    """Remove this prefix's namespaces, processes and links (only those); idempotent."""
    state_dir = _dir(prefix, state_dir)
    _need_root()
    names = set(re.findall(rf"^({prefix}-\S+)", proc.sh(["ip", "netns", "list"], check=False), re.M))
    state = _state(state_dir)
    if (state_dir / "hosts").is_dir():
        from . import sandbox_systemd  # systemd hosts are powered off first, by their supervisors

        sandbox_systemd.power_off_all(prefix, state_dir)
    for r in state["hosts"]:
        names.add(f"{prefix}-{r['name']}")
        if not r.get("systemd") and _live(r):  # also a live holder whose namespace lost its name
            proc.kill_netns(proc.ns_id(f"/proc/{r['holder_pid']}/ns/net"))
    for ns in names:
        proc.kill_netns(proc.ns_id(f"/run/netns/{ns}"))
    # Deleting a veth removes its peer at once; a namespace's teardown would do it later, asynchronously.
    for link in re.findall(rf"^\d+: ({prefix}-[^:@\s]+)", proc.sh(["ip", "-o", "link", "show"], check=False), re.M):
        proc.sh(["ip", "link", "del", link], check=False)
    for ns in names:
        proc.sh(["ip", "netns", "del", ns], check=False)
    _remove_empty(state.get("made_dirs", []))
    if state.get("blackhole_added") and not _others_up(state_dir):
        proc.sh(["ip", "route", "del", "blackhole", MESH_RANGE], check=False)
    # The record goes with the hosts: a later down must not remove a route that is no longer ours.
    (state_dir / "sandbox.json").unlink(missing_ok=True)
    if not purge:
        return
    if state_dir.parent == sandbox_fs.BASE:  # our own directory: all of it
        sandbox_fs.remove_tree(state_dir)
    else:  # only what up creates: state_dir is a directory the caller chose
        for sub in ("hosts", "ssh"):
            sandbox_fs.remove_tree(state_dir / sub)
        with contextlib.suppress(OSError):  # not empty: the caller's files stay
            state_dir.rmdir()


def up(n: int, *, laptop: bool = False, prefix: str = "mbx", state_dir: Path | None = None,
       systemd: bool = False) -> Sandbox:
    """N servers (with `systemd`, each booting the machine's systemd as PID 1) and maybe a laptop behind NAT."""
    _dir(prefix, state_dir)
    _preflight(n)
    if systemd:
        from . import sandbox_systemd

        sandbox_systemd.preflight(_dir(prefix, state_dir))
    down(prefix=prefix, state_dir=state_dir, purge=True)
    state_dir = _dir(prefix, state_dir, create=True)
    _check_free()
    ssh, specs = state_dir / "ssh", _specs(prefix, n, laptop)
    made = [d for d in BIND_DIRS if not os.path.isdir(d)]  # the hosts' mkdir creates them on the machine
    state = {"prefix": prefix, "hosts": [], "made_dirs": made, "blackhole_added": _add_blackhole()}
    _write_state(state_dir, state)  # from here on, down (also the one below) knows what to undo
    os.mkdir(ssh, 0o700)
    proc.sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"sandbox-{prefix}", "-f", str(ssh / "id_ed25519")])
    sandbox_fs.write_new(ssh / "authorized_keys", (ssh / "id_ed25519.pub").read_text())
    booted = [s for s in specs if not (systemd and s.role == "server")]
    try:
        # A fixed MAC: a bridge otherwise takes its lowest port's, which changes when a host reboots.
        proc.sh(["ip", "link", "add", f"{prefix}-br", "address", sandbox_net.mac(UNDERLAY_GW), "type", "bridge"])
        proc.sh(["ip", "addr", "add", f"{UNDERLAY_GW}/24", "dev", f"{prefix}-br"])
        proc.sh(["ip", "link", "set", f"{prefix}-br", "up"])
        if laptop:
            proc.sh(["ip", "link", "add", f"{prefix}-lan", "type", "bridge"])
            proc.sh(["ip", "link", "set", f"{prefix}-lan", "up"])
        pids = _boot(prefix, booted, state_dir)
        records = {s.name: _record(s, pids[s.name]) for s in booted}
        if systemd:
            servers = [s for s in specs if s.role == "server"]
            records |= {s.name: sandbox_systemd.start(prefix, s, state_dir) for s in servers}
            for s in servers:
                sandbox_systemd.wait_ready(state_dir, s)
    except BaseException:
        down(prefix=prefix, state_dir=state_dir)
        raise
    _write_ssh_files(ssh, state_dir, specs)
    return _save(state_dir, {**state, "hosts": [records[s.name] for s in specs]})


def reboot(sb: Sandbox, host: str) -> Sandbox:
    """Boot a host again from the same disk (fresh /run, same host key) in a fresh network namespace.

    A systemd host really reboots (its systemd stops every unit and its supervisor boots it again);
    any other host has everything in it killed.
    """
    sb.host(host)
    state = _state(sb.state_dir)
    rec = next(r for r in state["hosts"] if r["name"] == host)
    spec, ns = _spec(rec), f"{sb.prefix}-{host}"
    if rec.get("systemd"):
        from . import sandbox_systemd

        sandbox_systemd.reboot(sb.state_dir, spec)
        return load(prefix=sb.prefix, state_dir=sb.state_dir)
    proc.kill_netns(proc.ns_id(f"/run/netns/{ns}"))
    for veth, *_ in spec.ports:
        proc.sh(["ip", "link", "del", veth], check=False)
    proc.sh(["ip", "netns", "del", ns], check=False)
    pid = _boot(sb.prefix, [spec], sb.state_dir)[host]
    return _save(sb.state_dir, {**state, "hosts": [_record(spec, pid) if r is rec else r for r in state["hosts"]]})


__all__ = ["CommandError", "PATH", "Sandbox", "SandboxError", "SandboxHost", "down", "load", "pid1", "reboot", "run",
           "spawn", "up"]
