"""Converge benchmark on a sandbox of N real hosts (root, Linux): `meshbeam up` against the SSH floor.

Every host runs a node (--vm-args), so `up` writes the wg-quick config, the vm.args block, the
cookie and the nftables table, and brings the interface up; with `--identity key` (meshbeam's
default) it also installs meshbeam_dist, compiled once on this machine (the sandbox hosts run its
ERTS), or with `--compile-on-hosts` (MESHBEAM_ERL empty, as for an operator without erl) compiled
by each host with its own erlc. Measured, in one run:
  floor           one parallel round of `ssh -F CONFIG HOST true` to every host (median of 3 rounds)
  first run       `meshbeam up` on fresh hosts
  no-op run       `meshbeam up` again: nothing to change
  after add-peer  `meshbeam add-peer laptop`, then `meshbeam up` (every host gets a new peer)
The inventory is made before the sandbox starts, as a user would: `init`, then one `add-host
--vm-args` per host. `up` runs with `--parallel N` (every host at once, as the floor does).

--breakdown splits a no-op `up` into its parts, measured the same way: one parallel round of
`ssh HOST sh -s` running the facts script `up` sends, and a Python process that opens meshbeam's
SSH connections (Fabric/Paramiko, with its host-key checks) to every host at once and closes them.
--parallel-sweep P,... times a no-op `up` with each `--parallel` value (the default is chosen from it).

Ansible (optional) runs `bench/ansible/mesh.yml`, the same work without meshbeam_dist, on a fresh
sandbox from the files `meshbeam render` wrote. It goes into a throwaway venv, looked up on PATH, then there:
    python3 -m venv /tmp/ansible-venv && /tmp/ansible-venv/bin/pip install ansible-core

Usage: python bench/converge.py [--size N] [--identity key|none] [--compile-on-hosts] [--breakdown]
                                [--parallel-sweep P,...] [--no-ansible] [--ansible-playbook PATH]
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

from meshbeam import inventory, plan, probes, sandbox

PREFIX = "mbbn"
VM_ARGS = "/srv/app/vm.args"
USER_VM_ARGS = b"## the application's own flags\n+K true\n+sbwt none\n"
PLAYBOOK_DIR = Path(__file__).resolve().parent / "ansible"
STEPS = ("first run", "no-op run", "after add-peer")

CONNECT_ALL = """
import sys, time
t0 = time.perf_counter()
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import fabric, paramiko
from meshbeam import inventory, remote
t1 = time.perf_counter()
mesh, options = inventory.load(Path(sys.argv[1])), remote.SSHOptions(Path(sys.argv[2]))
with ThreadPoolExecutor(len(mesh.hosts)) as pool:
    conns = list(pool.map(lambda h: remote.connect(h, options), mesh.hosts))
t2 = time.perf_counter()
for c in conns:
    c.close()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def servers(n: int) -> list[tuple[str, str]]:
    """(name, address) of the sandbox's servers: s1.. at 198.51.100.11.. (checked once it is up)."""
    return [(f"s{i}", f"198.51.100.{10 + i}") for i in range(1, n + 1)]


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
        if [(s.name, s.address) for s in box.servers] != servers(n):
            sandbox.down(prefix=PREFIX, purge=True)
            sys.exit(f"the sandbox's servers are not {servers(n)[0]}...: the inventory was made for those")
        with ThreadPoolExecutor(n) as pool:  # the application's vm.args, which `up` (or the playbook) extends
            list(pool.map(lambda s: ssh(box, s.address, f"mkdir -p {os.path.dirname(VM_ARGS)} && cat > {VM_ARGS}",
                                        USER_VM_ARGS), box.servers))
        return box


def ssh(box: sandbox.Sandbox, address: str, command: str, stdin: bytes = b"") -> None:
    """Plain OpenSSH with the sandbox's config, as a person would log in."""
    subprocess.run(["ssh", "-F", str(box.ssh_config), address, command], input=stdin, check=True,
                   capture_output=True)


def parallel_round(box: sandbox.Sandbox, command: str, stdin: dict[str, bytes] | None = None) -> float:
    """Wall time of one round of `ssh HOST COMMAND` to every host at once."""
    start = time.perf_counter()
    with ThreadPoolExecutor(len(box.servers)) as pool:
        list(pool.map(lambda s: ssh(box, s.address, command, (stdin or {}).get(s.name, b"")), box.servers))
    return time.perf_counter() - start


def cli(*args: str, env: dict[str, str] | None = None) -> Measured:
    return checked(measure([*meshbeam(), *args], env=env), f"meshbeam {' '.join(args)}")


def no_op(m: Measured, what: str) -> Measured:
    if m.stdout.split()[-2:] != ["no", "changes"]:  # printed when every host had none
        sys.exit(f"{what} was not a no-op:\n{m.stdout}")
    return m


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
    inventory_ = {"mesh": {"hosts": snapshot["hosts"], "vars": {
        "ansible_user": "root", "ansible_ssh_common_args": f"-F {box.ssh_config}",
        "render_dir": snapshot["render_dir"], "cookie_file": str(inv / "keys" / "cookie"), "vm_args": VM_ARGS}}}
    inv_file, cp_dir = tmp / "hosts.yml", tempfile.mkdtemp(dir=tmp)  # a fresh ControlPath dir: no warm masters
    inv_file.write_text(yaml.safe_dump(inventory_))
    env = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOK_DIR / "ansible.cfg"), "ANSIBLE_SSH_CONTROL_PATH_DIR": cp_dir}
    return checked(measure([playbook, "-i", str(inv_file), "-f", str(n), str(PLAYBOOK_DIR / "mesh.yml")], env=env),
                   "ansible-playbook")


def breakdown(box: sandbox.Sandbox, inv: Path) -> list[list[object]]:
    """The parts of a no-op `up`: the facts scripts over plain ssh, and opening meshbeam's connections."""
    mesh = inventory.load(inv)
    scripts = {h.name: probes.facts_script(plan.query(mesh, h)).render().encode() for h in mesh.hosts}
    facts = parallel_round(box, "sh -s", scripts)
    m = checked(measure([sys.executable, "-c", CONNECT_ALL, str(inv), str(box.ssh_config)]), "connect all")
    imports, connects = map(float, m.stdout.split())
    return [["facts script over ssh, all hosts at once", facts],
            ["Python process opening meshbeam's SSH connections to all hosts", m.wall],
            ["  of which: importing Fabric/Paramiko and meshbeam", imports],
            ["  of which: connecting (handshake, host key, auth)", connects]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8, help="sandbox hosts (1-50)")
    ap.add_argument("--identity", choices=("key", "none"), default="key", help="`meshbeam init --identity`")
    ap.add_argument("--compile-on-hosts", action="store_true",
                    help="MESHBEAM_ERL empty: each host compiles meshbeam_dist itself")
    ap.add_argument("--breakdown", action="store_true", help="time the parts of a no-op `up`")
    ap.add_argument("--parallel-sweep", default="", help="comma-separated --parallel values for no-op runs")
    ap.add_argument("--no-ansible", action="store_true")
    ap.add_argument("--ansible-playbook", default=find_tool("ansible-playbook", "/tmp/ansible-venv"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("converge.py needs root: the sandbox uses network namespaces")
    playbook = None if args.no_ansible else args.ansible_playbook
    n = args.size
    mb: dict[str, Measured] = {}
    ans: dict[str, Measured] = {}
    sweep: list[list[object]] = []
    parts: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="mbbench-converge-") as tmp_name:
        tmp, inv = Path(tmp_name), Path(tmp_name) / "inv"
        env = {**os.environ, "MESHBEAM_DIR": str(inv), **({"MESHBEAM_ERL": ""} if args.compile_on_hosts else {})}
        cli("init", "--cidr", "198.18.0.0/24", "--identity", args.identity, env=env)
        for name, address in servers(n):
            cli("add-host", name, f"root@{address}", "--vm-args", VM_ARGS, env=env)
        snapshots = []
        if playbook:
            cli("render", "--out", str(tmp / "render1"), env=env)
            snapshots.append(ansible_vars(inv, tmp / "render1"))
        box = sandbox_up(n)
        env["MESHBEAM_SSH_CONFIG"] = str(box.ssh_config)
        try:
            floor = statistics.median(parallel_round(box, "true") for _ in range(3))
            up = ("up", "--parallel", str(n))
            mb["first run"] = cli(*up, env=env)
            mb["no-op run"] = no_op(cli(*up, env=env), "the second `up`")
            if args.breakdown:
                parts = breakdown(box, inv)
            for p in filter(None, args.parallel_sweep.split(",")):
                m = no_op(cli("up", "--parallel", p, env=env), f"`up --parallel {p}`")
                sweep.append([int(p), m.wall, f"{m.wall / floor:.1f}x", m.user + m.sys])
            cli("add-peer", "laptop", env=env)
            mb["after add-peer"] = cli(*up, env=env)
            if playbook:
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
    compiled = " (each host compiles meshbeam_dist)" if args.compile_on_hosts and args.identity == "key" else ""
    print(f"{n} sandbox hosts, identity {args.identity}{compiled}; floor = one parallel round of `ssh HOST true` "
          f"(median of 3): {floor:.3f} s\n")
    rows: list[list[object]] = [["ssh floor", floor, "1.0x", "", "", "", "", ""]]
    for step in STEPS:
        m = mb[step]
        row: list[object] = [step, m.wall, f"{m.wall / floor:.1f}x", m.user + m.sys, m.maxrss_mb]
        if ans:
            a = ans[step]
            row += [a.wall, f"{a.wall / floor:.1f}x", f"{m.wall / a.wall:.2f}"]
        else:
            row += ["not run", "", ""]
        rows.append(row)
    print_table(["step", "meshbeam s", "/ floor", "CPU s", "RSS MB", "ansible s", "/ floor", "meshbeam/ansible"], rows)
    if parts:
        print("\nparts of a no-op `up`, measured separately in the same run:")
        print_table(["part", "s"], parts)
    if sweep:
        print("\nno-op `up` by --parallel (CPU s: meshbeam's own process):")
        print_table(["--parallel", "s", "/ floor", "CPU s"], sweep)
    if not playbook:
        print("\nansible: " + ("not run (--no-ansible)" if args.no_ansible else
                               "not installed (pip install ansible-core)"))


if __name__ == "__main__":
    main()
