"""Growth benchmark: the cost of one inventory change as the inventory grows, through the CLI.

An inventory is built as a user would: `init`, then hosts added with `add-host --vm-args` (in a
loop) and with `add-host --from FILE` (bulk). At each size (default 100, 500, 1000 hosts) it
measures --runs calls each of `add-host` (with --vm-args), `add-peer`, `remove-peer` and
`remove-host`, every one a fresh process (start-up included), and prints the median wall time
and the peak RSS of the median call (GNU time). Then a bulk import of --import-size hosts into
a new inventory. `python -c pass` and `meshbeam --help` are measured as start-up floors.

Usage: python bench/grow.py [--sizes 100,500,1000] [--runs 5] [--import-size 1000] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import VM_ARGS, MESH_CIDR, Measured, checked, how_run, measure, meshbeam, print_table, \
    underlay_address, write_hosts_csv


def median(runs: list[Measured]) -> Measured:
    return sorted(runs, key=lambda m: m.wall)[len(runs) // 2]


def mb(*args: str, inv: Path) -> Measured:
    return checked(measure([*meshbeam(), *args, "--dir", str(inv)]), f"meshbeam {' '.join(args)}")


class Inventory:
    """One inventory grown through the CLI; `count` hosts, named in the order they were added."""

    def __init__(self, directory: Path) -> None:
        self.dir, self.count, self.serial = directory, 0, 0
        mb("init", "--cidr", MESH_CIDR, inv=directory)

    def _name(self) -> str:
        self.serial += 1
        return f"h{self.serial:05d}"

    def bulk_to(self, n: int) -> None:
        if n > self.count:
            names = [self._name() for _ in range(n - self.count)]
            write_hosts_csv(self.dir.parent / "grow.csv", names, self.serial)
            mb("add-host", "--from", str(self.dir.parent / "grow.csv"), inv=self.dir)
            self.count = n

    def add_host(self) -> tuple[str, Measured]:
        name = self._name()
        m = mb("add-host", name, f"root@{underlay_address(self.serial)}", "--vm-args", VM_ARGS, inv=self.dir)
        self.count += 1
        return name, m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,500,1000", help="inventory sizes (hosts), comma-separated")
    ap.add_argument("--runs", type=int, default=5, help="calls of each command per size; the median is shown")
    ap.add_argument("--import-size", type=int, default=1000, help="hosts in the bulk import")
    ap.add_argument("--out-dir", type=Path, help="where inventories go (default: the temp directory)")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if sizes[0] < args.runs:
        raise SystemExit("each size must be at least --runs")
    print(f"meshbeam: {' '.join(meshbeam())}; median of {args.runs} calls, each a new process; {how_run()}\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mbbench-grow-", dir=args.out_dir) as tmp:
        python = median([checked(measure([sys.executable, "-c", "pass"]), "python") for _ in range(args.runs)])
        floor = median([checked(measure([*meshbeam(), "--help"]), "meshbeam --help") for _ in range(args.runs)])
        inv = Inventory(Path(tmp) / "inv")
        loop = sizes[0] - args.runs  # the first hosts one add-host at a time, as a user would
        for _ in range(min(loop, 20)):
            inv.add_host()
        for n in sizes:
            inv.bulk_to(n - args.runs)
            added = [inv.add_host() for _ in range(args.runs)]
            peers = [(mb("add-peer", f"p{i}", inv=inv.dir), mb("remove-peer", f"p{i}", inv=inv.dir))
                     for i in range(args.runs)]
            removed = [mb("remove-host", name, inv=inv.dir) for name, _ in added]
            inv.count -= args.runs
            row: list[object] = [n]
            for runs in ([m for _, m in added], [a for a, _ in peers], [r for _, r in peers], removed):
                med = median(runs)
                row += [statistics.median(m.wall for m in runs), med.maxrss_mb]
            rows.append(row)
        bulk_dir = Path(tmp) / "bulk"
        bulk_dir.mkdir()
        mb("init", "--cidr", MESH_CIDR, inv=bulk_dir / "inv")
        write_hosts_csv(bulk_dir / "hosts.csv", [f"b{i:05d}" for i in range(args.import_size)])
        bulk = mb("add-host", "--from", str(bulk_dir / "hosts.csv"), inv=bulk_dir / "inv")
    print_table(["hosts", "add-host s", "RSS MB", "add-peer s", "RSS MB", "remove-peer s", "RSS MB",
                 "remove-host s", "RSS MB"], rows)
    print(f"\nstart-up floors: python -c pass {python.wall:.3f} s, {python.maxrss_mb:.0f} MB; "
          f"meshbeam --help {floor.wall:.3f} s, {floor.maxrss_mb:.0f} MB")
    print(f"bulk import (add-host --from CSV, --vm-args on each) of {args.import_size} hosts into a new inventory: "
          f"{bulk.wall:.2f} s, {bulk.maxrss_mb:.0f} MB, user {bulk.user:.2f} s + sys {bulk.sys:.2f} s")


if __name__ == "__main__":
    main()
