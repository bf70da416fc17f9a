"""Compile meshbeam_dist on the operator's machine, once per `up`, for the hosts that can load it.

Booting an Erlang VM to compile costs each host about half a second of CPU; one compile here
serves every host whose node runs a matching ERTS (distmod.Build.loads_on), and the others
compile with their own erlc as before. The erl used is MESHBEAM_ERL when set (empty: none,
every host compiles), else the first on PATH. It boots without the user's ~/.erlang, compiles
with `deterministic` (no paths or times in the .beam, so the same source gives the same bytes)
and prints the version of the ERTS it ran on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import distmod

TIMEOUT = 120  # seconds; a compile takes about half a second

# Constant Erlang: no value from the inventory is in it.
_COMPILE = ('case compile:file("{m}", [deterministic, report_errors, {{outdir, "."}}]) of '
            '{{ok, _}} -> io:put_chars(erlang:system_info(version)), halt(0); '
            '_ -> halt(1) end.').format(m=distmod.MODULE)


def compile_here() -> distmod.Build:
    chosen = os.environ.get("MESHBEAM_ERL")
    if chosen == "":
        return distmod.Build(why_not="MESHBEAM_ERL is empty")
    erl = shutil.which(chosen or "erl")
    if erl is None:
        return distmod.Build(why_not=f"no {chosen or 'erl'} on this machine")
    with tempfile.TemporaryDirectory(prefix="meshbeam-dist-") as d:
        work = Path(d)
        (work / f"{distmod.MODULE}.erl").write_bytes(distmod.source())
        try:
            r = subprocess.run([erl, "-noshell", "-noinput", "-boot", "no_dot_erlang", "-eval", _COMPILE],
                               cwd=work, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            return distmod.Build(why_not=f"{erl} failed here: {e}")
        version = r.stdout.decode(errors="replace").strip()
        beam = work / f"{distmod.MODULE}.beam"
        if r.returncode != 0 or not distmod.erts_version(version) or not beam.is_file():
            said = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
            return distmod.Build(why_not=f"{erl} failed here (exit {r.returncode}): {said[0][:200] if said else ''}")
        return distmod.Build(erts=version, beam=beam.read_bytes())
