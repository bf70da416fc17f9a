"""Render benchmark: `meshbeam render` against `wg-meshconf genconfig` on full meshes of 250/500/1000 hosts.

wg-meshconf (PyPI, GPL-3) goes into a throwaway venv, never into meshbeam's environment:
    python3 -m venv /tmp/wgm-venv && /tmp/wgm-venv/bin/pip install wg-meshconf==2.5.1
It is looked up on PATH, then in /tmp/wgm-venv; without it that column says "skipped: not installed".

Both tools get the same members: names, /32 addresses, endpoints and private keys. Its database is
a CSV with the columns below (QUOTE_ALL), which this script writes directly. wg-meshconf has no
preshared keys, so its files lack the PresharedKey lines, and it derives a peer's public key from
the private key once per [Peer] section: n*(n-1) X25519 operations.

The tools run in rounds: meshbeam, the write floor, wg-meshconf, then again, so that each round's
figures share the machine's state; on this VM the cost of writing the same files swings several
fold within minutes. Each figure is the median of --runs rounds (default 3), and the ratio is the
median of the rounds' ratios. Peak RSS is that of the median run. The write floor is a bare
Python writing files of the same names and sizes as meshbeam's output. Everything is written
under --out-dir (default: the system temp directory); its file system type is printed, because
the kernel's share of a render differs by file system (ext4 against tmpfs: finding 8 of
BENCHMARKS.md).

Usage: python bench/render.py [--size N] [--runs N] [--out-dir DIR] [--wg-meshconf PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import (
    MESH_CIDR,
    Measured,
    checked,
    find_tool,
    how_run,
    measure,
    meshbeam,
    print_table,
    write_hosts_csv,
)

SIZES = (250, 500, 1000)
WGM_COLUMNS = ("Name", "Address", "Endpoint", "AllowedIPs", "ListenPort", "PersistentKeepalive", "FwMark",
               "PrivateKey", "DNS", "MTU", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig")


def make_inventory(directory: Path, n: int) -> dict[str, tuple[str, str, str]]:
    """n hosts, each with --vm-args, added as a user would: `meshbeam init`, then one
    `meshbeam add-host --from` CSV. Returns name -> (mesh address, endpoint host, private key)."""
    from meshbeam import inventory, keys

    checked(measure([*meshbeam(), "init", "--cidr", MESH_CIDR, "--dir", str(directory)]), "meshbeam init")
    names = [f"h{i:04d}" for i in range(n)]
    write_hosts_csv(directory.parent / "hosts.csv", names)
    checked(measure([*meshbeam(), "add-host", "--from", str(directory.parent / "hosts.csv"), "--dir", str(directory)]),
            "meshbeam add-host --from")
    mesh, store = inventory.load(directory), keys.KeyStore(directory)
    return {h.name: (h.address, h.endpoint.rsplit(":", 1)[0], store.private_key(h.name)) for h in mesh.hosts}


def write_wgm_database(path: Path, members: dict[str, tuple[str, str, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, WGM_COLUMNS, quoting=csv.QUOTE_ALL)
        w.writeheader()
        for name, (address, endpoint, private) in members.items():
            w.writerow({"Name": name, "Address": f"{address}/32", "Endpoint": endpoint, "ListenPort": 51820,
                        "PrivateKey": private})


def output_mb(out: Path, n: int) -> float:
    """Size of the rendered tree, after checking it holds a full mesh: n configs of n-1 peers each."""
    confs = sorted(out.rglob("*.conf"))
    peers = confs[0].read_text().count("[Peer]") if confs else 0
    if len(confs) != n or peers != n - 1:
        raise SystemExit(f"{out}: {len(confs)} configs with {peers} peers in the first; want {n} with {n - 1}")
    return sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6


WRITE_FLOOR = """
import json, os, sys
for rel, size in json.load(open(sys.argv[1])):
    path = os.path.join(sys.argv[2], rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x" * size)
"""


def write_floor_argv(rendered: Path, target: Path, listing: Path) -> list[str]:
    """A bare Python that writes files of the same names and sizes as `rendered`: the part of a
    render that is the kernel's (page cache, ext4) and the interpreter's start, not meshbeam's."""
    files = [(str(f.relative_to(rendered)), f.stat().st_size) for f in sorted(rendered.rglob("*")) if f.is_file()]
    listing.write_text(json.dumps(files))
    return [sys.executable, "-c", WRITE_FLOOR, str(listing), str(target)]


def fs_type(path: Path) -> str:
    """The type of the file system holding `path`: that of its longest mount point in /proc/mounts."""
    path, best, kind = path.resolve(), "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        mount, fs = line.split()[1:3]
        mount = mount.replace("\\040", " ")
        if (path == Path(mount) or Path(mount) in path.parents) and len(mount) > len(best):
            best, kind = mount, fs
    return kind


def median(runs: list[Measured]) -> Measured:
    return sorted(runs, key=lambda m: m.wall)[len(runs) // 2]


def run_in(argv: list[str], out: Path, what: str) -> Measured:
    shutil.rmtree(out, ignore_errors=True)
    return checked(measure(argv), what)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, help=f"one inventory of this many hosts (default: {SIZES})")
    ap.add_argument("--runs", type=int, default=3, help="rounds of the tools per size; the median is shown")
    ap.add_argument("--out-dir", type=Path, help="where inventories and outputs go (default: the temp directory)")
    ap.add_argument("--wg-meshconf", default=find_tool("wg-meshconf", "/tmp/wgm-venv"))
    args = ap.parse_args()
    sizes = (args.size,) if args.size else SIZES
    wgm = args.wg_meshconf
    base = args.out_dir or Path(tempfile.gettempdir())
    print(f"meshbeam: {' '.join(meshbeam())}; {how_run()}\nwg-meshconf: {wgm or 'skipped: not installed'}\n"
          f"output under {base} ({fs_type(base)}); {os.cpu_count()} CPUs (meshbeam renders in one process per CPU)\n")
    rows, points = [], []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="mbbench-render-", dir=base) as tmp:
            t = Path(tmp)
            start = time.perf_counter()
            members = make_inventory(t / "inv", n)
            gen = time.perf_counter() - start
            mb_argv = [*meshbeam(), "render", "--out", str(t / "mb"), "--dir", str(t / "inv")]
            run_in(mb_argv, t / "mb", "meshbeam render")  # its output lists the files the floor writes
            mb_mb = output_mb(t / "mb", n)
            floor_argv = write_floor_argv(t / "mb", t / "floor", t / "files.json")
            wgm_argv = [str(wgm), "-d", str(t / "database.csv"), "genconfig", "-o", str(t / "wgm")]
            if wgm:
                write_wgm_database(t / "database.csv", members)
            mbs, floors, wgms = [], [], []
            for _ in range(args.runs):
                mbs.append(run_in(mb_argv, t / "mb", "meshbeam render"))
                floors.append(run_in(floor_argv, t / "floor", "write floor"))
                if wgm:
                    wgms.append(run_in(wgm_argv, t / "wgm", "wg-meshconf genconfig"))
            mb, floor = median(mbs), median(floors)
            points.append((n, mb.wall, mb_mb))
            row: list[object] = [n, gen, mb.wall, mb.maxrss_mb, mb_mb, mb.wall / mb_mb, floor.wall]
            if wgm:
                w = median(wgms)
                ratio = statistics.median(x.wall / m.wall for x, m in zip(wgms, mbs))
                row += [w.wall, w.maxrss_mb, output_mb(t / "wgm", n), ratio]
            else:
                row += ["skipped: not installed", "", "", ""]
            rows.append(row)
    print_table(["hosts", "inventory gen s", "meshbeam s", "RSS MB", "output MB", "s per MB", "write floor s",
                 "wg-meshconf s", "RSS MB", "output MB", "wgm/meshbeam time"], rows)
    if len(points) > 1:
        print("\nmeshbeam s per output MB includes its fixed start-up; the marginal cost leaves it out:")
        for (n0, t0, mb0), (n1, t1, mb1) in zip(points, points[1:]):
            print(f"  {n0} -> {n1} hosts: {(t1 - t0) / (mb1 - mb0):.4f} s per extra output MB")
    n = sizes[-1]  # the medians at this size
    print(f"\nat {n} hosts, rounds (meshbeam s / write floor s" + (" / wg-meshconf s):" if wgm else "):"))
    for i, (m, f) in enumerate(zip(mbs, floors)):
        print(f"  {i + 1}: {m.wall:.2f} / {f.wall:.2f}" + (f" / {wgms[i].wall:.1f}" if wgm else ""))
    print(f"at {n} hosts, CPU of the median run: meshbeam user {mb.user:.2f} s + sys {mb.sys:.2f} s")
    print(f"at {n} hosts, the write floor (same files from a bare Python): {floor.wall:.2f} s, "
          f"user {floor.user:.2f} s + sys {floor.sys:.2f} s; meshbeam/floor {mb.wall / floor.wall:.2f}")
    if wgm:
        print(f"at {n} hosts, CPU of the median run: wg-meshconf user {w.user:.2f} s + sys {w.sys:.2f} s")
        print(f"at {n} hosts: wg-meshconf/meshbeam wall time, median of the rounds {ratio:.1f} "
              f"(medians {w.wall:.2f} s vs {mb.wall:.2f} s); peak RSS {mb.maxrss_mb / w.maxrss_mb:.2f} "
              f"({mb.maxrss_mb:.0f} MB vs {w.maxrss_mb:.0f} MB)")


if __name__ == "__main__":
    main()
