"""Start-up benchmark: `meshbeam --help` and `meshbeam list` against the floor, `python -c pass`.

Reports the median and the fastest of --runs runs each, the ratio of the medians to the floor,
whether `--help` imports the SSH and crypto stacks (which only `up` needs), and the top-level
imports that cost `--help` the most (from `python -X importtime`).

Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import checked, how_run, measure, meshbeam, print_table, write_hosts_csv

HEAVY = ("fabric", "paramiko", "nacl", "invoke", "cryptography")


def timings(argv: list[str], runs: int) -> tuple[float, float]:
    """(median, fastest) wall seconds of `runs` runs."""
    walls = [checked(measure(argv), " ".join(argv)).wall for _ in range(runs)]
    return statistics.median(walls), min(walls)


def import_times(argv: list[str]) -> list[tuple[int, int, str]]:
    """(cumulative microseconds, nesting depth, module) of every import, from `-X importtime` on stderr."""
    r = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=True)
    out = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            out.append((int(cumulative), (len(name) - len(name.lstrip()) - 1) // 2, name.strip()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mbbench-startup-") as tmp:
        inv = str(Path(tmp) / "inv")
        checked(measure([*meshbeam(), "init", "--dir", inv, "--cidr", "198.18.0.0/24"]), "init")
        write_hosts_csv(Path(tmp) / "hosts.csv", ["s1", "s2", "s3"])
        checked(measure([*meshbeam(), "add-host", "--from", str(Path(tmp) / "hosts.csv"), "--dir", inv]), "add-host")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "meshbeam --help": [*meshbeam(), "--help"],
            "meshbeam list (3 hosts)": [*meshbeam(), "list", "--dir", inv],
        }
        results = {label: timings(argv, args.runs) for label, argv in commands.items()}
    floor = results["python -c pass"][0]
    print(f"{args.runs} runs each; meshbeam is {' '.join(meshbeam())}; {how_run()}\n")
    print_table(["command", "median ms", "fastest ms", "median / floor"],
                [[label, med * 1000, fast * 1000, f"{med / floor:.1f}x"] for label, (med, fast) in results.items()])
    imports = import_times(["-m", "meshbeam", "--help"])
    loaded = {name.split(".")[0] for _, _, name in imports}
    print("\nimported by `meshbeam --help`: " + ", ".join(f"{m} {'YES' if m in loaded else 'no'}" for m in HEAVY))
    print("costliest imports of `--help`, two outer levels (cumulative ms, one run of -X importtime):")
    for us, depth, name in sorted((i for i in imports if i[1] <= 1), reverse=True)[:8]:
        print(f"  {'  ' * depth}{name:<36} {us / 1000:6.1f}")

if __name__ == "__main__":
    main()
