"""A sandbox host's own network and sshd: its namespace's links and addresses, its host key, its sshd
options (shared by plain hosts, sandbox.py, and systemd hosts, sandbox_systemd.py)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from . import sandbox_proc as proc
from .sandbox_proc import PATH

NAT_RULES = """table ip meshbeam_nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    ip saddr 203.0.113.0/24 oifname "ul0" masquerade; }
  chain lan_guard { type filter hook forward priority filter; policy accept;
    iifname "ul0" oifname "lan0" ct state != { established, related } drop; }
}
"""


@dataclass(frozen=True)
class Spec:
    name: str
    role: str  # "server" | "nat" | "laptop"
    address: str
    ports: list[list[str]]  # [root-side veth, root bridge, name inside, cidr]
    gateway: str | None = None


def mac(ip: str) -> str:
    return "02:00:" + ":".join(f"{int(b):02x}" for b in ip.split("/")[0].split("."))


def net(prefix: str, spec: Spec) -> None:
    ns = f"{prefix}-{spec.name}"
    proc.sh(["ip", "netns", "add", ns])
    proc.sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    for veth, bridge, inner, cidr in spec.ports:
        # A fixed MAC per address, as a real NIC keeps across reboots, so neighbours' ARP caches stay right.
        proc.sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", inner, "address", mac(cidr), "netns", ns])
        proc.sh(["ip", "link", "set", veth, "master", bridge, "up"])
        proc.sh(["ip", "-n", ns, "addr", "add", cidr, "dev", inner])
        proc.sh(["ip", "-n", ns, "link", "set", inner, "up"])
    if spec.gateway:
        proc.sh(["ip", "-n", ns, "route", "add", "default", "via", spec.gateway])
    if spec.role == "nat":  # forwarding and masquerade inside the router only; it has no default route
        proc.sh(["ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
        proc.sh(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=NAT_RULES.encode())


def host_key(spec: Spec, disk: Path) -> Path:
    key = disk / "ssh_host_ed25519_key"
    if not key.exists():  # kept across reboots, so known_hosts stays valid
        proc.sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", str(key)])
    key.chmod(0o600)
    return key


def sshd_options(address: str, host_key: str, authorized_keys: str) -> list[str]:
    """What a sandbox host's sshd needs on top of the defaults (trap: sshd settings for a sandbox host)."""
    return [f"ListenAddress {address}", f"HostKey {host_key}", f"AuthorizedKeysFile {authorized_keys}",
            "StrictModes no", "UsePAM no", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PrintMotd no", "PrintLastLog no", f"SetEnv PATH={PATH}",
            "MaxStartups 100:30:200", "MaxSessions 100"]  # parallel Fabric connections are not refused


def accepts(address: str) -> bool:
    try:
        socket.create_connection((address, 22), timeout=1).close()
        return True
    except OSError:
        return False
