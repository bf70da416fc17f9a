"""The benchmark scripts still run at a tiny size. They print figures; nothing here checks a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run(script: str, *args: str) -> str:
    r = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{script} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_render_bench_runs_small() -> None:
    out = run("render.py", "--size", "10")
    for header in ("hosts", "inventory gen s", "meshbeam s", "output MB", "s per MB", "wg-meshconf s"):
        assert header in out


def test_startup_bench_runs() -> None:
    out = run("startup.py", "--runs", "2")
    for header in ("command", "median ms", "fastest ms", "median / floor", "python -c pass", "meshbeam --help"):
        assert header in out
    assert "imported by `meshbeam --help`:" in out


def test_grow_bench_runs_small() -> None:
    out = run("grow.py", "--sizes", "3,5", "--runs", "2", "--import-size", "10")
    for header in ("hosts", "add-host s", "add-peer s", "remove-peer s", "remove-host s", "RSS MB"):
        assert header in out
    assert "bulk import" in out and "start-up floor" in out
