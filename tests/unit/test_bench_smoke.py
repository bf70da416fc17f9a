"""The benchmark scripts still run at a tiny size. They print figures; nothing here checks a time.

The three scripts run at once, without wg-meshconf, with their meshbeam commands run inside
their own processes (bench/common.py's IN_PROCESS) and a bytecode cache for the rest, so
that the test costs little more than starting them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
RUNS = {
    "render.py": ["--size", "2", "--runs", "1", "--wg-meshconf", ""],
    "startup.py": ["--runs", "1"],
    "grow.py": ["--sizes", "1", "--runs", "1", "--import-size", "2"],
}
HEADERS = {
    "render.py": ("hosts", "inventory gen s", "meshbeam s", "output MB", "s per MB", "wg-meshconf s",
                  "skipped: not installed"),
    "startup.py": ("command", "median ms", "fastest ms", "median / floor", "python -c pass", "meshbeam --help",
                   "imported by `meshbeam --help`:"),
    "grow.py": ("hosts", "add-host s", "add-peer s", "remove-peer s", "remove-host s", "RSS MB", "bulk import",
                "start-up floors"),
}


def test_bench_scripts_run_small(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    env["MESHBEAM_BENCH_IN_PROCESS"] = "1"
    procs = {script: subprocess.Popen([sys.executable, str(BENCH / script), *args], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env)
             for script, args in RUNS.items()}
    for script, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"{script} exited {p.returncode}\n{out}\n{err}"
        for header in HEADERS[script]:
            assert header in out, f"{script}: {header!r} missing from\n{out}"
