"""bench/converge.py still runs on a sandbox of 2 hosts (root; fails rather than skips without it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_converge_bench_runs_on_two_hosts() -> None:
    assert os.geteuid() == 0, "bench/converge.py needs root (network namespaces); run the tests as root"
    r = subprocess.run([sys.executable, str(BENCH / "converge.py"), "--size", "2", "--no-ansible", "--breakdown",
                        "--parallel-sweep", "1"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"converge.py exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    for header in ("step", "meshbeam s", "/ floor", "ssh floor", "first run", "no-op run", "after add-peer",
                   "facts script over ssh", "opening meshbeam's SSH connections", "--parallel"):
        assert header in r.stdout
    assert "ansible: not run (--no-ansible)" in r.stdout
