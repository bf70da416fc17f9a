"""Distribution benchmark: meshbeam_dist against inet_tcp_dist between two nodes on loopback.

Node s@127.0.0.2 listens; node c@127.0.0.3 (allowed, connecting from its own address) measures,
with the same -proto_dist on both sides, in one run, the two protocols taking turns to go first:
  throughput   1 KB binaries sent one way to a process on s, per second (s acknowledges the last)
  round trip   median time of a 1 KB message to an echo process on s and back
  connect      median time of a fresh connection (net_adm:ping after disconnect_node): this is
               where meshbeam_dist does its work (source address, allowed file)
No EPMD: both nodes use -erl_epmd_port. The cookie comes from a temporary HOME.

Usage: python bench/dist.py [--messages N] [--round-trips N] [--connects N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import print_table

from meshbeam import distmod

SERVER, CLIENT = "s@127.0.0.2", "c@127.0.0.3"
PROTOS = {"inet_tcp_dist": "inet_tcp", "meshbeam_dist": distmod.PROTO}

BENCH = r"""
-module(mb_bench).
-export([run/1, echo/0, sink/2]).

echo() -> receive {From, Msg} -> From ! Msg, echo() end.

sink(From, 0) -> From ! done;
sink(From, N) -> receive _ -> sink(From, N - 1) end.

run([Server, Messages, RoundTrips, Connects]) ->
    S = list_to_atom(Server),
    pong = net_adm:ping(S),
    Payload = binary:copy(<<"x">>, 1024),
    Echo = spawn(S, ?MODULE, echo, []),
    _ = [round_trip(Echo, Payload) || _ <- lists:seq(1, 1000)],
    Rtts = [round_trip(Echo, Payload) || _ <- lists:seq(1, list_to_integer(RoundTrips))],
    N = list_to_integer(Messages),
    Sink = spawn(S, ?MODULE, sink, [self(), N]),
    T0 = erlang:monotonic_time(nanosecond),
    _ = [Sink ! Payload || _ <- lists:seq(1, N)],
    receive done -> ok end,
    Send = erlang:monotonic_time(nanosecond) - T0,
    Conns = [connect(S) || _ <- lists:seq(1, list_to_integer(Connects))],
    io:format("rtt_us ~p~nmsgs_per_s ~p~nconnect_us ~p~n",
              [median(Rtts) / 1000, N * 1.0e9 / Send, median(Conns) / 1000]),
    halt().

round_trip(Echo, Payload) ->
    T0 = erlang:monotonic_time(nanosecond),
    Echo ! {self(), Payload},
    receive Payload -> erlang:monotonic_time(nanosecond) - T0 end.

connect(S) ->
    true = erlang:disconnect_node(S),
    wait_gone(S),
    T0 = erlang:monotonic_time(nanosecond),
    pong = net_adm:ping(S),
    erlang:monotonic_time(nanosecond) - T0.

wait_gone(S) ->
    case lists:member(S, nodes(hidden)) of
        true -> timer:sleep(1), wait_gone(S);
        false -> timer:sleep(5)  % lets s see the close too, so the next ping finds no stale connection
    end.

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{SERVER} exited:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.2", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"{SERVER} does not listen on 127.0.0.2:{port}")


def one_run(work: Path, proto: str, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    common = ["-noshell", "-start_epmd", "false", "-erl_epmd_port", str(port), "-pa", str(work),
              "-proto_dist", proto]
    env = {**os.environ, "HOME": str(work / "home")}
    env.pop("ERL_EPMD_PORT", None)
    log = work / f"server-{proto}.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(["erl", *common, "-name", SERVER, "-kernel", "inet_dist_use_interface",
                                   "{127,0,0,2}", "-meshbeam", "allowed_file", str(work / "allowed")],
                                  env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        wait_listening(port, server, log)
        r = subprocess.run(["erl", *common, "-name", CLIENT, "-dist_listen", "false",
                            "-kernel", "inet_dist_connect_options", "[{ip,{127,0,0,3}}]",
                            "-run", "mb_bench", "run", SERVER, str(args.messages), str(args.round_trips),
                            str(args.connects)], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            sys.exit(f"{CLIENT} ({proto}) exited {r.returncode}:\n{r.stdout}{r.stderr}\n{log.read_text()}")
        return {k: float(v) for k, v in (line.split() for line in r.stdout.splitlines())}
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--round-trips", type=int, default=10_000)
    ap.add_argument("--connects", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for tool in ("erl", "erlc"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install erlang-base")
    with tempfile.TemporaryDirectory(prefix="mbbench-dist-") as tmp:
        work = Path(tmp)
        (work / f"{distmod.MODULE}.erl").write_bytes(distmod.source())
        (work / "mb_bench.erl").write_text(BENCH)
        subprocess.run(["erlc", "-o", str(work), str(work / f"{distmod.MODULE}.erl"), str(work / "mb_bench.erl")],
                       check=True)
        (work / "allowed").write_text(distmod.render_allowed([CLIENT]))
        home = work / "home"
        home.mkdir()
        (home / ".erlang.cookie").write_text("meshbeambenchcookie")
        (home / ".erlang.cookie").chmod(0o400)
        results: dict[str, list[dict[str, float]]] = {label: [] for label in PROTOS}
        for i in range(args.runs):
            # Each protocol goes first in every other run: whatever the VM does to the first of a
            # pair (caches, CPU frequency) falls on both alike.
            for label, proto in (list(PROTOS.items()) if i % 2 == 0 else list(PROTOS.items())[::-1]):
                results[label].append(one_run(work, proto, args))
    med = {label: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for label, runs in results.items()}
    base, ours = med["inet_tcp_dist"], med["meshbeam_dist"]
    print(f"loopback, {args.runs} runs each (medians), {args.messages} messages, {args.round_trips} round trips, "
          f"{args.connects} connections per run\n")
    print_table(["metric", "inet_tcp_dist", "meshbeam_dist", "meshbeam / inet_tcp"], [
        ["1 KB messages per second", base["msgs_per_s"], ours["msgs_per_s"],
         f"{ours['msgs_per_s'] / base['msgs_per_s']:.2f}x"],
        ["round trip, median us", base["rtt_us"], ours["rtt_us"], f"{ours['rtt_us'] / base['rtt_us']:.2f}x"],
        ["new connection, median us", base["connect_us"], ours["connect_us"],
         f"{ours['connect_us'] / base['connect_us']:.2f}x"],
    ])


if __name__ == "__main__":
    main()
