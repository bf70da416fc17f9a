"""A local sandbox of real hosts: per host a network namespace, a private mount + UTS namespace and sshd.

Linux and root only. Underlay 198.51.100.0/24 on a bridge in the root namespace; an optional laptop on
203.0.113.0/24 behind a NAT router. "Trap" comments refer to shared/notes/sandbox-facts.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import MeshbeamError
from .fsutil import atomic_write

UNDERLAY_GW, NAT_UNDERLAY = "198.51.100.1", "198.51.100.2"
NAT_LAN, LAPTOP_LAN = "203.0.113.1", "203.0.113.10"
REQUIRED = ("ip", "nsenter", "unshare", "sshd", "ssh-keygen", "nft")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BIND_DIRS = {"/etc/wireguard": 0o700, "/etc/tinc": 0o755, "/etc/meshbeam": 0o755, "/root": 0o700, "/srv": 0o755}
READY = "/run/meshbeam-ready"
NAT_RULES = """table ip meshbeam_nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    ip saddr 203.0.113.0/24 oifname "ul0" masquerade; }
  chain lan_guard { type filter hook forward priority filter; policy accept;
    iifname "ul0" oifname "lan0" ct state != { established, related } drop; }
}
"""


class SandboxError(MeshbeamError):
    """A sandbox step failed; one line, for people."""


class CommandError(SandboxError):
    """`run(check=True)` saw a non-zero exit; `.result` keeps the CompletedProcess."""

    def __init__(self, message: str, result: subprocess.CompletedProcess) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class SandboxHost:
    name: str
    address: str
    holder_pid: int


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


@dataclass(frozen=True)
class _Spec:
    name: str
    role: str  # "server" | "nat" | "laptop"
    address: str
    ports: list[list[str]]  # [root-side veth, root bridge, name inside, cidr]
    gateway: str | None = None


def _sh(argv: list[str], *, input: bytes | None = None, check: bool = True) -> str:
    try:
        r = subprocess.run(argv, input=input, capture_output=True, stdin=None if input else subprocess.DEVNULL)
    except FileNotFoundError:
        raise SandboxError(f"{argv[0]} is not installed") from None
    if check and r.returncode:
        err = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        raise SandboxError(f"{shlex.join(argv)} failed: {err[-1] if err else f'exit {r.returncode}'}")
    return r.stdout.decode(errors="replace")


def _dir(prefix: str, state_dir: Path | None) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9]{0,5}", prefix):  # keeps "<prefix>-s50-u" within 15 chars
        raise SandboxError(f"bad sandbox prefix {prefix!r}: want 1-6 of [a-z0-9], starting with a letter")
    return Path(state_dir or f"/var/tmp/meshbeam-sandbox/{prefix}").absolute()


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
    if m := re.search(r"^\d+: (\S+)\s+inet 198\.51\.100\.", _sh(["ip", "-o", "-4", "addr", "show"]), re.M):
        raise SandboxError(f"{m.group(1)} already holds 198.51.100.0/24 (another sandbox?); take that down first")


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [0] is the state, [19] the start time; [] once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _started(pid: int) -> str | None:
    """Start time, which tells a holder's PID apart from a reused one."""
    return (_stat(pid) or [None] * 20)[19]


def _dead(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own children (holders, spawned processes)
    except ChildProcessError:
        pass
    return _stat(pid)[:1] in ([], ["Z"], ["X"])


def _ns_id(path: str) -> tuple[int, int] | None:
    """Identity of a network namespace, from /run/netns/NAME or /proc/PID/ns/net."""
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None


def _until(ok: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise SandboxError(failure)
        time.sleep(0.03)


def _kill_netns(ns: tuple[int, int] | None) -> None:
    """SIGTERM, then SIGKILL, every process in one network namespace, and nothing else."""
    if not ns or ns in (_ns_id("/proc/1/ns/net"), _ns_id("/proc/self/ns/net")):
        return  # never the machine's own namespace
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ns_id(f"{p}/ns/net") == ns]
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            _until(lambda: all(_dead(p) for p in pids), wait, "")
            return
        except SandboxError:
            pids = [p for p in pids if not _dead(p)]


def _specs(prefix: str, n: int, laptop: bool) -> list[_Spec]:
    br, lan = f"{prefix}-br", f"{prefix}-lan"
    out = []
    for i in range(1, n + 1):
        ip = f"198.51.100.{10 + i}"
        out.append(_Spec(f"s{i}", "server", ip, [[f"{prefix}-s{i}-u", br, "ul0", f"{ip}/24"]]))
    if laptop:  # The LAN is a root bridge of its own (no address): rebooting nat never cuts the laptop's link.
        out.append(_Spec("nat", "nat", NAT_UNDERLAY, [[f"{prefix}-nat-u", br, "ul0", f"{NAT_UNDERLAY}/24"],
                                                       [f"{prefix}-nat-l", lan, "lan0", f"{NAT_LAN}/24"]]))
        out.append(_Spec("laptop", "laptop", LAPTOP_LAN, [[f"{prefix}-lap-l", lan, "lan0", f"{LAPTOP_LAN}/24"]],
                         gateway=NAT_LAN))
    return out


def _mac(ip: str) -> str:
    return "02:00:" + ":".join(f"{int(b):02x}" for b in ip.split("/")[0].split("."))


def _net(prefix: str, spec: _Spec) -> None:
    ns = f"{prefix}-{spec.name}"
    _sh(["ip", "netns", "add", ns])
    _sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    for veth, bridge, inner, cidr in spec.ports:
        # A fixed MAC per address, as a real NIC keeps across reboots, so neighbours' ARP caches stay right.
        _sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", inner, "address", _mac(cidr), "netns", ns])
        _sh(["ip", "link", "set", veth, "master", bridge, "up"])
        _sh(["ip", "-n", ns, "addr", "add", cidr, "dev", inner])
        _sh(["ip", "-n", ns, "link", "set", inner, "up"])
    if spec.gateway:
        _sh(["ip", "-n", ns, "route", "add", "default", "via", spec.gateway])
    if spec.role == "nat":  # forwarding and masquerade inside the router only; it has no default route
        _sh(["ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
        _sh(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=NAT_RULES.encode())


def _holder(prefix: str, spec: _Spec, disk: Path) -> int:
    """Start the long-lived process that owns the host's namespaces (trap: getting into a host)."""
    steps = [
        "set -e",
        # Our private copy of /run/netns/* would keep other hosts' namespaces, and their veths, alive.
        "findmnt -rn -t nsfs -o TARGET | while read -r m; do umount -l \"$m\"; done",
        # Fresh /run each boot (trap: wireguard-go's /run/wireguard/IF.sock collides between hosts).
        "mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run", "mkdir -p /run/sshd",
    ]
    for d, mode in BIND_DIRS.items():
        src = disk / d.strip("/").replace("/", "-")
        src.mkdir(mode=mode, parents=True, exist_ok=True)
        steps.append(f"mkdir -p {d} && mount --bind {shlex.quote(str(src))} {d}")
    steps += [f"echo {spec.name} > /proc/sys/kernel/hostname", f"touch {READY}", "exec sleep infinity"]
    # stdio on /dev/null (trap: a background `ip netns exec` keeps the caller's stdout open). `ip netns exec`,
    # unshare and `exec sleep` all exec in place, so this PID ends up as the holder.
    return subprocess.Popen(["ip", "netns", "exec", f"{prefix}-{spec.name}", "unshare", "-m", "-u",
                             "--propagation", "private", "sh", "-c", "; ".join(steps)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={"PATH": PATH}).pid


def _start_sshd(spec: _Spec, pid: int, disk: Path, ssh_dir: Path) -> None:
    key, cfg = disk / "ssh_host_ed25519_key", disk / "sshd_config"
    if not key.exists():  # kept across reboots, so known_hosts stays valid
        _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", str(key)])
    key.chmod(0o600)
    cfg.write_text("\n".join([
        f"ListenAddress {spec.address}", "Port 22", f"HostKey {key}", "PidFile /run/sshd.pid",
        f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}", "StrictModes no", "UsePAM no",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PrintMotd no", "PrintLastLog no", "Subsystem sftp internal-sftp", f"SetEnv PATH={PATH}",
        "MaxStartups 100:30:200", "MaxSessions 100", "",  # parallel Fabric connections are not refused
    ]))
    # Inside the host's namespaces, so SSH sessions land in the host with its own /run and /etc/wireguard.
    _sh(["nsenter", "-t", str(pid), "-n", "-m", "-u", "/usr/sbin/sshd", "-f", str(cfg), "-E", str(disk / "sshd.log")])


def _accepts(address: str) -> bool:
    try:
        socket.create_connection((address, 22), timeout=1).close()
        return True
    except OSError:
        return False


def _boot(prefix: str, specs: list[_Spec], state_dir: Path) -> dict[str, int]:
    """Namespaces, links, holders and sshd for some hosts; returns name -> holder PID."""
    for spec in specs:
        _net(prefix, spec)
    pids = {s.name: _holder(prefix, s, state_dir / "hosts" / s.name) for s in specs}
    for s in specs:
        failure = f"sandbox host {s.name} did not come up (its mounts failed?)"
        # /proc/PID/root looks into the holder's mount namespace, so this sees the host's own /run.
        _until(lambda: _dead(pids[s.name]) or Path(f"/proc/{pids[s.name]}/root{READY}").exists(), 10, failure)
        if _dead(pids[s.name]):
            raise SandboxError(failure)
    servers = [s for s in specs if s.role == "server"]
    for s in servers:
        _start_sshd(s, pids[s.name], state_dir / "hosts" / s.name, state_dir / "ssh")
    for s in servers:
        _until(lambda: _accepts(s.address), 10, f"sshd on sandbox host {s.name} ({s.address}) does not answer")
    return pids


def _write_ssh_files(ssh: Path, state_dir: Path, specs: list[_Spec]) -> None:
    keys = [(s.address, (state_dir / "hosts" / s.name / "ssh_host_ed25519_key.pub").read_text().split()[:2])
            for s in specs if s.role == "server"]
    atomic_write(ssh / "known_hosts", "".join(f"{addr} {kind} {key}\n" for addr, (kind, key) in keys))
    # Plain ssh reads ~/.ssh from the password database, not $HOME, so it needs `-F` this file.
    atomic_write(ssh / "config", f"Host 198.51.100.*\n  User root\n  IdentityFile {ssh / 'id_ed25519'}\n"
                 f"  UserKnownHostsFile {ssh / 'known_hosts'}\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n")


def _save(state_dir: Path, prefix: str, records: list[dict], made: list[str]) -> Sandbox:
    """`made`: the mount points up created on the machine (down removes them when still empty)."""
    state = {"prefix": prefix, "hosts": records, "made_dirs": made}
    atomic_write(state_dir / "sandbox.json", json.dumps(state, indent=1) + "\n")
    return _sandbox(state_dir, prefix, records)


def _remove_empty(dirs: list[str]) -> None:
    """The hosts' bind mounts die with them, but their mount points stay on the machine."""
    for d in dirs:
        with contextlib.suppress(OSError):  # not empty: something else uses it now
            os.rmdir(d)


def _record(spec: _Spec, pid: int) -> dict:
    return {**asdict(spec), "holder_pid": pid, "holder_start": _started(pid)}


def _state(state_dir: Path) -> tuple[list[dict], list[str]]:
    """The host records and the mount points `up` made, from sandbox.json (none when absent)."""
    try:
        state = json.loads((state_dir / "sandbox.json").read_text())
        return state["hosts"], state.get("made_dirs", [])
    except FileNotFoundError:
        return [], []
    except (ValueError, KeyError) as e:
        raise SandboxError(f"{state_dir / 'sandbox.json'} is unreadable ({e}); run `meshbeam sandbox up`") from None


def _sandbox(state_dir: Path, prefix: str, records: list[dict]) -> Sandbox:
    def role(r: str) -> list[SandboxHost]:
        return [SandboxHost(x["name"], x["address"], x["holder_pid"]) for x in records if x["role"] == r]

    ssh = state_dir / "ssh"
    return Sandbox(prefix, state_dir, tuple(role("server")), (role("laptop") or [None])[0],
                   (role("nat") or [None])[0], ssh / "config", ssh / "known_hosts", ssh / "id_ed25519")


def load(*, prefix: str = "mbx", state_dir: Path | None = None) -> Sandbox:
    state_dir = _dir(prefix, state_dir)
    records, _ = _state(state_dir)
    if not records:
        raise SandboxError(f"no sandbox {prefix!r} at {state_dir}; run `meshbeam sandbox up`")
    for r in records:
        if _started(r["holder_pid"]) != r["holder_start"]:
            raise SandboxError(f"sandbox host {r['name']} is not running; run `meshbeam sandbox up` again")
    return _sandbox(state_dir, prefix, records)


def down(*, prefix: str = "mbx", state_dir: Path | None = None, purge: bool = False) -> None:
    """Remove this prefix's namespaces, processes and links (only those); idempotent."""
    state_dir = _dir(prefix, state_dir)
    _need_root()
    names = set(re.findall(rf"^({prefix}-\S+)", _sh(["ip", "netns", "list"], check=False), re.M))
    records, made = _state(state_dir)
    for r in records:
        names.add(f"{prefix}-{r['name']}")
        if _started(r["holder_pid"]) == r["holder_start"]:  # also a live holder whose namespace lost its name
            _kill_netns(_ns_id(f"/proc/{r['holder_pid']}/ns/net"))
    for ns in names:
        _kill_netns(_ns_id(f"/run/netns/{ns}"))
    # Deleting a veth removes its peer at once; a namespace's teardown would do it later, asynchronously.
    for link in re.findall(rf"^\d+: ({prefix}-[^:@\s]+)", _sh(["ip", "-o", "link", "show"], check=False), re.M):
        _sh(["ip", "link", "del", link], check=False)
    for ns in names:
        _sh(["ip", "netns", "del", ns], check=False)
    _remove_empty(made)
    if purge:  # only what up creates: state_dir may be a directory the caller chose
        for sub in ("hosts", "ssh"):
            shutil.rmtree(state_dir / sub, ignore_errors=True)
        (state_dir / "sandbox.json").unlink(missing_ok=True)
        if state_dir.is_dir() and not any(state_dir.iterdir()):
            state_dir.rmdir()


def up(n: int, *, laptop: bool = False, prefix: str = "mbx", state_dir: Path | None = None) -> Sandbox:
    state_dir = _dir(prefix, state_dir)
    _preflight(n)
    down(prefix=prefix, state_dir=state_dir, purge=True)
    _check_free()
    _sh(["ip", "route", "replace", "blackhole", "198.18.0.0/15"])  # a stray mesh packet dies locally
    ssh, specs = state_dir / "ssh", _specs(prefix, n, laptop)
    made = [d for d in BIND_DIRS if not os.path.isdir(d)]  # the hosts' mkdir creates them on the machine
    ssh.mkdir(parents=True, exist_ok=True)
    _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"sandbox-{prefix}", "-f", str(ssh / "id_ed25519")])
    (ssh / "authorized_keys").write_text((ssh / "id_ed25519.pub").read_text())
    try:
        # A fixed MAC: a bridge otherwise takes its lowest port's, which changes when a host reboots.
        _sh(["ip", "link", "add", f"{prefix}-br", "address", _mac(UNDERLAY_GW), "type", "bridge"])
        _sh(["ip", "addr", "add", f"{UNDERLAY_GW}/24", "dev", f"{prefix}-br"])
        _sh(["ip", "link", "set", f"{prefix}-br", "up"])
        if laptop:
            _sh(["ip", "link", "add", f"{prefix}-lan", "type", "bridge"])
            _sh(["ip", "link", "set", f"{prefix}-lan", "up"])
        pids = _boot(prefix, specs, state_dir)
    except BaseException:
        down(prefix=prefix, state_dir=state_dir)
        _remove_empty(made)
        raise
    _write_ssh_files(ssh, state_dir, specs)
    return _save(state_dir, prefix, [_record(s, pids[s.name]) for s in specs], made)


def reboot(sb: Sandbox, host: str) -> Sandbox:
    """Kill everything in the host, then boot it again from the same disk (fresh /run, same host key)."""
    sb.host(host)
    records, made = _state(sb.state_dir)
    rec = next(r for r in records if r["name"] == host)
    spec, ns = _Spec(**{k: rec[k] for k in ("name", "role", "address", "ports", "gateway")}), f"{sb.prefix}-{host}"
    _kill_netns(_ns_id(f"/run/netns/{ns}"))
    for veth, *_ in spec.ports:
        _sh(["ip", "link", "del", veth], check=False)
    _sh(["ip", "netns", "del", ns], check=False)
    pid = _boot(sb.prefix, [spec], sb.state_dir)[host]
    return _save(sb.state_dir, sb.prefix, [_record(spec, pid) if r is rec else r for r in records], made)


def _enter(sb: Sandbox, host: str, argv: list[str], user: str | None) -> list[str]:
    as_user = ["runuser", "-u", user, "--"] if user else []
    return ["nsenter", "-t", str(sb.host(host).holder_pid), "-n", "-m", "-u", *as_user, *argv]


def run(sb: Sandbox, host: str, argv: list[str], *, input: bytes | None = None, timeout: float = 60,
        check: bool = True, user: str | None = None) -> subprocess.CompletedProcess:
    """Run argv inside a host. Input is bytes; stdout and stderr come back as text."""
    # A session of its own, so a timeout kills the whole group rather than leave children on our pipes.
    stdin = subprocess.DEVNULL if input is None else subprocess.PIPE
    with subprocess.Popen(_enter(sb, host, argv, user), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True, env={**os.environ, "PATH": PATH}) as p:
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise SandboxError(f"{shlex.join(argv)} on sandbox host {host} timed out after {timeout:g} s") from None
    r = subprocess.CompletedProcess(argv, p.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
    if check and r.returncode:
        last = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
        raise CommandError(f"{shlex.join(argv)} on sandbox host {host} exited {r.returncode}: {last}", r)
    return r


def spawn(sb: Sandbox, host: str, argv: list[str], *, log: Path, user: str | None = None) -> subprocess.Popen:
    """A long-running process inside a host; nsenter execs it, so Popen.pid is the process itself."""
    with open(log, "ab") as f:
        return subprocess.Popen(_enter(sb, host, argv, user), stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "PATH": PATH})
