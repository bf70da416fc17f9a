"""Converge benchmark on a sandbox of N real hosts (root, Linux): `meshbeam up` against the SSH floor and Ansible.

Every host runs a node (--vm-args), so `up` writes the wg-quick config, the vm.args block, the
cookie and the nftables table, and brings the interface up. Measured, in one run:
  floor           one parallel round of `ssh -F CONFIG HOST true` to every host (median of 3 rounds)
  first run       `meshbeam up` on fresh hosts
  no-op run       `meshbeam up` again: nothing to change
  after add-peer  `meshbeam add-peer laptop`, then `meshbeam up` (every host gets a new peer)
and the same three with `ansible-playbook bench/ansible/mesh.yml` on a fresh sandbox, from the files
`meshbeam render` wrote. Ansible goes into a throwaway venv, looked up on PATH, then there:
    python3 -m venv /tmp/ansible-venv && /tmp/ansible-venv/bin/pip install ansible-core

Usage: python bench/converge.py [--size N] [--no-ansible] [--ansible-playbook PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from common import Measured, checked, find_tool, measure, meshbeam, print_table

from meshbeam import sandbox

PREFIX = "mbbn"
VM_ARGS = "/srv/app/vm.args"
USER_VM_ARGS = b"## the application's own flags\n+K true\n+sbwt none\n"
PLAYBOOK_DIR = Path(__file__).resolve().parent / "ansible"
STEPS = ("first run", "no-op run", "after add-peer")


def sandbox_up(n: int) -> sandbox.Sandbox:
    """Our own sandbox; while another one holds the shared underlay, wait for it (10 minutes at most)."""
    deadline = time.monotonic() + 600
    while True:
        try:
            box = sandbox.up(n, prefix=PREFIX)
        except sandbox.SandboxError as e:
            if "already holds" not in str(e) or time.monotonic() > deadline:
                raise
            print(f"waiting for the underlay: {e}", file=sys.stderr)
            time.sleep(10)
            continue
        for s in box.servers:  # the application's vm.args, which `up` (or the playbook) extends
            ssh(box, s.address, f"mkdir -p {os.path.dirname(VM_ARGS)} && cat > {VM_ARGS}", USER_VM_ARGS)
        return box


def ssh(box: sandbox.Sandbox, address: str, command: str, stdin: bytes = b"") -> None:
    """Plain OpenSSH with the sandbox's config, as a person would log in."""
    subprocess.run(["ssh", "-F", str(box.ssh_config), address, command], input=stdin, check=True,
                   capture_output=True)


def ssh_floor(box: sandbox.Sandbox) -> float:
    """Median wall time of 3 rounds of `ssh HOST true` to every host at once."""
    def round_trip() -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(len(box.servers)) as pool:
            list(pool.map(lambda s: ssh(box, s.address, "true"), box.servers))
        return time.perf_counter() - start

    return statistics.median(round_trip() for _ in range(3))


def cli(*args: str, env: dict[str, str] | None = None) -> Measured:
    return checked(measure([*meshbeam(), *args], env=env), f"meshbeam {' '.join(args)}")


def ansible_vars(inv: Path, render_dir: Path) -> dict:
    """Per-host variables for the playbook, from the public mesh.yaml, as of this render."""
    mesh = yaml.safe_load((inv / "mesh.yaml").read_text())
    nodes = [f"{h['node_name']}@{h['address']}" for h in mesh["hosts"]]
    nodes += [f"{p['name'].replace('-', '_')}@{p['address']}" for p in mesh["peers"] or []]
    hosts = {}
    for h in mesh["hosts"]:
        allow = nodes + [f"meshbeam_ctl@{h['address']}"]
        hosts[h["name"]] = {"ansible_host": h["ssh"].split("@")[-1], "mesh_address": h["address"],
                            "node": f"{h['node_name']}@{h['address']}",
                            "allow_atoms": ", ".join(f"'{a}'" for a in allow)}
    return {"render_dir": str(render_dir), "hosts": hosts}


def run_playbook(playbook: str, box: sandbox.Sandbox, inv: Path, snapshot: dict, tmp: Path, n: int) -> Measured:
    inventory = {"mesh": {"hosts": snapshot["hosts"], "vars": {
        "ansible_user": "root", "ansible_ssh_common_args": f"-F {box.ssh_config}",
        "render_dir": snapshot["render_dir"], "cookie_file": str(inv / "keys" / "cookie"), "vm_args": VM_ARGS}}}
    inv_file, cp_dir = tmp / "hosts.yml", tempfile.mkdtemp(dir=tmp)  # a fresh ControlPath dir: no warm masters
    inv_file.write_text(yaml.safe_dump(inventory))
    env = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOK_DIR / "ansible.cfg"), "ANSIBLE_SSH_CONTROL_PATH_DIR": cp_dir}
    return checked(measure([playbook, "-i", str(inv_file), "-f", str(n), str(PLAYBOOK_DIR / "mesh.yml")], env=env),
                   "ansible-playbook")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8, help="sandbox hosts (1-50)")
    ap.add_argument("--no-ansible", action="store_true")
    ap.add_argument("--ansible-playbook", default=find_tool("ansible-playbook", "/tmp/ansible-venv"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("converge.py needs root: the sandbox uses network namespaces")
    playbook = None if args.no_ansible else args.ansible_playbook
    n = args.size
    mb: dict[str, Measured] = {}
    ans: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="mbbench-converge-") as tmp_name:
        tmp, inv = Path(tmp_name), Path(tmp_name) / "inv"
        box = sandbox_up(n)
        try:
            env = {**os.environ, "MESHBEAM_DIR": str(inv), "MESHBEAM_SSH_CONFIG": str(box.ssh_config)}
            cli("init", "--cidr", "198.18.0.0/24", env=env)
            for s in box.servers:
                cli("add-host", s.name, f"root@{s.address}", "--vm-args", VM_ARGS, env=env)
            cli("render", "--out", str(tmp / "render1"), env=env)
            snapshots = [ansible_vars(inv, tmp / "render1")]
            floor = ssh_floor(box)
            up = ("up", "--parallel", str(n))
            mb["first run"] = cli(*up, env=env)
            mb["no-op run"] = cli(*up, env=env)
            if mb["no-op run"].stdout.split()[-2:] != ["no", "changes"]:  # printed when every host had none
                sys.exit(f"the second `up` was not a no-op:\n{mb['no-op run'].stdout}")
            cli("add-peer", "laptop", env=env)
            mb["after add-peer"] = cli(*up, env=env)
            cli("render", "--out", str(tmp / "render2"), env=env)
            snapshots.append(ansible_vars(inv, tmp / "render2"))
        finally:
            sandbox.down(prefix=PREFIX, purge=True)
        if playbook:
            box = sandbox_up(n)  # fresh hosts, so the playbook's first run does the whole job too
            try:
                for step, snap in zip(STEPS, (snapshots[0], snapshots[0], snapshots[1])):
                    ans[step] = run_playbook(playbook, box, inv, snap, tmp, n)
                if set(re.findall(r" changed=(\d+)", ans["no-op run"].stdout)) != {"0"}:
                    sys.exit(f"the second playbook run changed something:\n{ans['no-op run'].stdout}")
            finally:
                sandbox.down(prefix=PREFIX, purge=True)
    print(f"{n} sandbox hosts; floor = one parallel round of `ssh HOST true` (median of 3): {floor:.3f} s\n")
    rows: list[list[object]] = [["ssh floor", floor, "1.0x", "", "", "", ""]]
    for step in STEPS:
        m = mb[step]
        row: list[object] = [step, m.wall, f"{m.wall / floor:.1f}x", m.maxrss_mb]
        if ans:
            a = ans[step]
            row += [a.wall, f"{a.wall / floor:.1f}x", f"{m.wall / a.wall:.2f}"]
        else:
            row += ["not run", "", ""]
        rows.append(row)
    print_table(["step", "meshbeam s", "/ floor", "RSS MB", "ansible s", "/ floor", "meshbeam/ansible"], rows)
    if not playbook:
        print("\nansible: " + ("not run (--no-ansible)" if args.no_ansible else
                               "not installed (pip install ansible-core)"))


if __name__ == "__main__":
    main()
