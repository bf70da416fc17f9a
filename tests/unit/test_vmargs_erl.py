"""vmargs against the real erl: the tokenizer reads what erlexec reads, and the block's place
first in the file wins where erl keeps the first occurrence of a flag."""

import random
import shutil
import socket
import subprocess
from pathlib import Path

from meshbeam.vmargs import DistSettings, render_block, tokenize

ERL = shutil.which("erl")
ALPHABET = list("ab -#\\'\"\n\t\r\f\v\0{},") + ["-name", "x@y", "-env", "-extra", "-args_file"]


def run_erl(tmp_path: Path, args_files: list[str], expr: str) -> str:
    assert ERL, "erl (Debian's erlang-base) must be installed for this test"
    argv = [ERL, "-noshell"]
    for i, text in enumerate(args_files):
        f = tmp_path / f"{i}.args"
        f.write_bytes(text.encode())
        argv += ["-args_file", str(f)]
    done = subprocess.run(argv + ["-eval", expr, "-s", "erlang", "halt"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tokenize_reads_what_erlexec_reads(tmp_path):
    rnd = random.Random(11)
    cases = ['-eval "a  b" x', "g#h i\nj", "'q#r' \"s#t\"", 'a\\"b', '"a\\"b" x', "a\\\nb c", '"unterminated x',
             "a\\", "a\r\nb\tc\fd\ve", "#c\\\nd", "a\0b c", "$HOME", ""]
    cases += ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 12))) for _ in range(400)]
    # one file per case, all plain arguments after a marker: erlexec ends each file's -extra
    # list at the end of that file and adds "--" after it
    files = [f"-extra MB{i}MB {case}" for i, case in enumerate(cases)]
    out = run_erl(tmp_path, files, '[io:format("arg ~s~n", [binary:encode_hex(list_to_binary(A))]) '
                                   "|| A <- init:get_plain_arguments()], ok")
    args = [bytes.fromhex(line[4:]).decode() for line in out.split("\n") if line.startswith("arg ")]
    per_case: dict[int, list[str]] = {}
    for a in args:
        if a.startswith("MB") and a.endswith("MB") and a[2:-2].isdigit():
            current = per_case.setdefault(int(a[2:-2]), [])
        else:
            current.append(a)
    for i, case in enumerate(cases):
        assert per_case[i][-1] == "--"
        assert per_case[i][:-1] == [t.text for t in tokenize(case)], repr(case)


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def test_the_block_wins_over_later_kernel_and_name_lines(tmp_path):
    # On loopback with no EPMD (-start_epmd false): nothing listens beyond 127.0.0.2.
    port = _free_port("127.0.0.2")
    s = DistSettings("app@127.0.0.2", "127.0.0.2", port, "none", ("app@127.0.0.2",))
    later = f"-kernel inet_dist_listen_min {port + 1} inet_dist_listen_max {port + 1}\n-name other@127.0.0.2\n"
    out = run_erl(tmp_path, [render_block(s) + later],
                  'io:format("~p ~p ~p~n", [node(), application:get_env(kernel, inet_dist_listen_min), '
                  "net_kernel:allowed()])")
    assert out.split("\n")[-2] == f"'app@127.0.0.2' {{ok,{port}}} {{ok,['app@127.0.0.2']}}"


def test_env_and_sname_win_from_anywhere_so_those_lines_are_disabled(tmp_path):
    text = "-env MB_X first\n-name a@127.0.0.2 -dist_listen false -start_epmd false\n-env MB_X second\n-sname b\n"
    out = run_erl(tmp_path, [text], 'io:format("~s ~s~n", [os:getenv("MB_X"), hd(string:split(atom_to_list(node()), "@"))])')
    assert out.split("\n")[-2] == "second b"


def test_erlexec_drops_everything_after_a_nul(tmp_path):
    out = run_erl(tmp_path, ["+K true\n\0\n-env MB_X set\n"], 'io:format("~p~n", [os:getenv("MB_X")])')
    assert out.split("\n")[-2] == "false"
