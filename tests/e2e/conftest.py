"""The sandbox of real hosts (sshd, wireguard-go, erl) shared by the end-to-end tests.

These tests need root on Linux. They fail loudly where that is missing rather than skip.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshbeam import inventory, sandbox
from meshbeam.cli import app
from meshbeam.keys import KeyStore

RUN_USER = "mbapp"  # the Erlang nodes' user
HOME = "/srv/mbapp"  # /srv is private to each sandbox host, so each host has its own home
E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an end-to-end test: `pytest -m "not e2e"` runs the unit suite alone."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def sb(request: pytest.FixtureRequest) -> Iterator[sandbox.Sandbox]:
    """3 servers and a laptop behind NAT; each test module names its own prefix (SANDBOX_PREFIX)."""
    assert os.geteuid() == 0, "end-to-end tests need root (network namespaces); run them as root"
    prefix = request.module.SANDBOX_PREFIX
    had = {d for d in sandbox.BIND_DIRS if os.path.isdir(d)}
    box = sandbox.up(3, laptop=True, prefix=prefix)
    try:
        yield box
        assert_ssh_still_works(sandbox.load(prefix=prefix))
    finally:
        sandbox.down(prefix=prefix, purge=True)
    left = {d for d in sandbox.BIND_DIRS if os.path.isdir(d)} - had
    assert not left, f"the sandbox left its mount points on the machine: {sorted(left)}"


@pytest.fixture(scope="module")
def run_user():
    """A system user for the nodes; its home lives under each host's private /srv."""
    created = False
    try:
        pwd.getpwnam(RUN_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--home-dir", HOME, "--no-create-home", RUN_USER], check=True)
        created = True
    yield RUN_USER
    if created:
        subprocess.run(["userdel", RUN_USER], check=True)


def assert_ssh_still_works(box: sandbox.Sandbox) -> None:
    """meshbeam never touches SSH access or a default policy: after a run, a fresh ssh still gets in."""
    for h in box.servers:
        r = subprocess.run(["ssh", "-F", str(box.ssh_config), "-o", "ConnectTimeout=5", h.address,
                            "nft list ruleset | grep -c 'policy drop' || true"], capture_output=True, text=True)
        assert r.returncode == 0, f"ssh to {h.name} fails after the tests: {r.stderr.strip()}"
        assert r.stdout.strip() == "0", f"{h.name} has a drop policy after the tests"


class Meshbeam:
    """Runs the real CLI against one inventory and the sandbox's SSH config."""

    def __init__(self, directory: Path, box: sandbox.Sandbox) -> None:
        self.dir = directory
        self.box = box
        self.outputs: list[str] = []  # everything meshbeam printed, searched for secrets later

    def __call__(self, *args: str, ok: bool = True, env: dict[str, str] | None = None):
        env = {"MESHBEAM_DIR": str(self.dir), "MESHBEAM_SSH_CONFIG": str(self.box.ssh_config), "COLUMNS": "200",
               **(env or {})}
        r = CliRunner().invoke(app, list(args), env=env)
        self.outputs.append(r.output)
        if ok:
            assert r.exit_code == 0, f"meshbeam {' '.join(args)} -> {r.exit_code}\n{r.output}\n{r.stderr}"
        return r


def sh(box: sandbox.Sandbox, host: str, cmd: str, **kw) -> subprocess.CompletedProcess:
    return sandbox.run(box, host, ["sh", "-c", cmd], **kw)


def eventually(check, timeout: float = 20.0, interval: float = 0.5):
    """Retry `check` until it returns truthy; return the last result (asserted by the caller)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def mesh_ip(mb: Meshbeam, name: str) -> str:
    return inventory.load(mb.dir).member(name).address


def ping(box: sandbox.Sandbox, host: str, ip: str) -> bool:
    return sh(box, host, f"ping -c1 -W1 {ip}", check=False).returncode == 0


def laptop_up(mb: Meshbeam, peer: str) -> None:
    """Bring the sandbox laptop into the mesh as `peer`, the way its owner would."""
    mesh = inventory.load(mb.dir)
    src = mb.dir / "peers" / (peer if mesh.backend == "tinc" else f"{peer}.conf")
    if mesh.backend == "tinc":
        conf = f"/etc/tinc/{mesh.interface}"
        sh(mb.box, "laptop", f"rm -rf {conf} && mkdir -p {conf}/hosts")
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            dest = f"{conf}/{f.relative_to(src)}"
            mode = oct(f.stat().st_mode & 0o777)[2:]
            sandbox.run(mb.box, "laptop", ["sh", "-c", f"cat > {dest} && chmod {mode} {dest}"], input=f.read_bytes())
        sh(mb.box, "laptop", f"tincd -n {mesh.interface}")
    else:
        conf = f"/etc/wireguard/{mesh.interface}.conf"
        sandbox.run(mb.box, "laptop", ["sh", "-c", f"umask 077; cat > {conf}"], input=src.read_bytes())
        sh(mb.box, "laptop", f"wg-quick up {mesh.interface}")


def laptop_down(mb: Meshbeam) -> None:
    mesh = inventory.load(mb.dir)
    if mesh.backend == "tinc":
        sh(mb.box, "laptop", f"tincd -n {mesh.interface} -k; sleep 1")
    else:
        sh(mb.box, "laptop", f"wg-quick down {mesh.interface}")


ECHO_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7777)); s.listen(1)
c, _ = s.accept()
while (data := c.recv(100)):
    c.sendall(data)
"""

ECHO_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], 7777), timeout=5)
for line in sys.stdin:
    c.sendall(line.encode()); print(c.recv(100).decode().strip(), flush=True)
"""


@contextmanager
def tcp_session(mb: Meshbeam, server: str, client: str, tmp: Path) -> Iterator[Callable[[str], str]]:
    """One TCP connection over the mesh, kept open: yields echo(line) -> what came back."""
    ip = mesh_ip(mb, server)
    (tmp / "srv.py").write_text(ECHO_SERVER)
    (tmp / "cli.py").write_text(ECHO_CLIENT)
    srv = sandbox.spawn(mb.box, server, ["python3", str(tmp / "srv.py"), ip], log=tmp / "srv.log")
    cli = None
    try:
        assert eventually(lambda: ":7777" in sh(mb.box, server, "ss -Hltn").stdout)
        holder = mb.box.host(client).holder_pid
        cli = subprocess.Popen(["nsenter", "-t", str(holder), "-n", "-m", "python3", "-u", str(tmp / "cli.py"), ip],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def echo(line: str) -> str:
            assert cli is not None and cli.stdin and cli.stdout
            cli.stdin.write(line + "\n")
            cli.stdin.flush()
            return cli.stdout.readline().strip()

        yield echo
    finally:
        for p in (cli, srv):
            if p is not None:
                p.kill()
                p.wait()


def secrets_of(mb: Meshbeam) -> list[str]:
    """Every secret of the inventory as text: private keys, preshared keys, the cookie."""
    keys = mb.dir / "keys"
    found = [p.read_text().strip() for p in keys.glob("*.key")] + [(keys / "cookie").read_text().strip()]
    mesh, store = inventory.load(mb.dir), KeyStore(mb.dir)
    found += [(keys / "psk-secret").read_text().strip()]
    found += [store.psk(a.public_key, b.public_key) for a in mesh.members for b in mesh.members if a.name < b.name]
    return [s for s in found if s]
