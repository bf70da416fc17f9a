"""The facts script's kinds (meshbeam/probes.py) and typed flags (plantypes.Flag, Facts.has)."""

from __future__ import annotations

import base64
import subprocess

import pytest

from meshbeam import firewallplan, hostlib, plan, probes
from meshbeam.command import sh
from meshbeam.errors import RemoteError
from meshbeam.inventory import Host, Mesh
from meshbeam.plantypes import IFACE, SYSTEMD, Facts, FileFact, Flag, Query

HOST = Host("s1", "root@198.51.100.11", "198.18.0.1", "198.51.100.11:51820", "A" * 43 + "=")
MESH = Mesh(cidr="198.18.0.0/24", hosts=(HOST,))
Q = Query("mb0", ("/etc/a", "/etc/b", "~app/.erlang.cookie"), ("wg", "erl"), ("app",),
          (("systemd", sh("true")), ("nft-table", sh("false"))), ("/etc/tinc/mb0/hosts",))


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


GOOD = "\n".join([
    "tool 1",
    "addr 198.18.0.1/24",
    "flag 0",
    f"list 0 {b64('s1' + chr(0) + 's2' + chr(0))}",
    f"user 0 {b64('app:x:1000:1000::/home/app:/bin/sh' + chr(10))}",
    "actor 0 root", "file 0 640 root", b64(b"line\x00two\n"),
    "actor 1 root", "link 1",
    "actor 2 app", "nofile 2",
])


def test_each_kind_reads_its_records():
    facts = probes.parse_facts(GOOD, Q)
    assert facts.tools == {"erl"} and facts.iface_addrs == ("198.18.0.1/24",)
    assert facts.flags == {"systemd"} and facts.probed == {"systemd", "nft-table"}
    assert facts.listings == {"/etc/tinc/mb0/hosts": ("s1", "s2")} and facts.homes == {"app": "/home/app"}
    assert facts.files["/etc/a"] == FileFact("/etc/a", True, 0o640, "root", b"line\x00two\n")
    assert facts.files["/etc/b"].problem == "is a symbolic link"
    assert facts.files["~app/.erlang.cookie"] == FileFact("~app/.erlang.cookie", False, actor="app")


@pytest.mark.parametrize("line", [
    "tool 7",  # an index beyond the query's list
    "flag x",
    "tool 0 extra",
    "addr 300.1.2.3/24",
    "list 0 !!!",
    "file 0 999 root",
    "hello",
    " ",
])
def test_a_line_no_kind_expects_is_an_error(line):
    with pytest.raises(RemoteError, match="unexpected output from the facts script"):
        probes.parse_facts(f"{GOOD}\n{line}", Q)


def test_a_file_record_without_its_contents_is_an_error():
    cut = GOOD.replace("actor 2 app\nnofile 2", "actor 2 app\nfile 2 600 app")
    with pytest.raises(RemoteError, match="unexpected output"):
        probes.parse_facts(cut, Q)


def test_a_path_the_script_skipped_is_an_error():
    with pytest.raises(RemoteError, match="said nothing about /etc/b"):
        probes.parse_facts(GOOD.replace("\nlink 1", ""), Q)


def test_the_script_is_hostlib_then_one_line_per_question():
    text = probes.facts_script(Q).render()
    preamble = hostlib.COMMON.render() + "\n" + hostlib.FACTS.render() + "\n"
    assert text.startswith(preamble)
    body = text[len(preamble):].splitlines()
    assert len(body) == len(Q.tools) + 1 + len(Q.probes) + len(Q.listdirs) + len(Q.users) + len(Q.paths)
    assert body[-1].startswith('f=; home_of app && f="$home"/.erlang.cookie;')


def test_one_question_asked_under_two_names_runs_once_and_answers_both():
    q = Query("mb0", (), (), probes=(("a", sh("true")), ("b", sh("false")), ("c", sh("true"))))
    body = probes.facts_script(q).render().splitlines()
    assert sum(line.startswith("if true;") for line in body) == 1
    out = subprocess.run(["sh", "-s"], input=probes.facts_script(q).render(), capture_output=True, text=True,
                         check=True).stdout
    assert probes.parse_facts(out, q).flags == {"a", "c"}


def test_a_home_path_of_a_user_without_a_home_is_no_file(tmp_path):
    q = Query("mb0", ("~no-such-user-here/.erlang.cookie", "~root/.meshbeam-test-absent"), ())
    out = subprocess.run(["sh", "-s"], input=probes.facts_script(q).render(), capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert out.splitlines() == ["nofile 0", "actor 1 root", "nofile 1"]


def test_the_kinds_commands_and_parsers_agree_on_a_real_shell(tmp_path):
    """Every kind but files (their reading acts as other users: tests/e2e/test_hostile_scripts.py)."""
    (tmp_path / "a b").mkdir()
    (tmp_path / "c").write_text("")
    q = Query("mbnone0", (), ("sh", "no-such-tool-here"), ("root", "no-such-user-here"),
              (("yes", sh("true")), ("no", sh("false"))), (str(tmp_path), str(tmp_path / "absent")))
    out = subprocess.run(["sh", "-s"], input=probes.facts_script(q).render(), capture_output=True, text=True,
                         check=True).stdout
    facts = probes.parse_facts(out, q)
    assert facts.tools == {"sh"} and facts.flags == {"yes"} and facts.iface_addrs == ()
    assert facts.homes == {"root": "/root"}
    assert sorted(facts.listings[str(tmp_path)]) == ["a b", "c"] and facts.listings[str(tmp_path / "absent")] == ()


# ---- typed flags -------------------------------------------------------------------------------------


def test_a_flag_the_query_did_not_ask_about_is_a_bug_not_false():
    q = plan.query(MESH, HOST)  # no node on this host: no firewall probes
    facts = probes.parse_facts("flag 0\n", Query(q.interface, (), (), probes=q.probes))
    assert facts.has(SYSTEMD) and not facts.has(IFACE)
    with pytest.raises(LookupError, match="did not probe 'nft-table'"):
        facts.has(firewallplan.TABLE_LOADED)
    with pytest.raises(LookupError, match="did not probe 'nft-tabel'"):
        facts.has(Flag("nft-tabel", sh("true")))


def test_facts_written_by_hand_count_every_probe_as_asked():
    facts = Facts(tools=frozenset({"wg"}), flags=frozenset({"systemd"}), iface_addrs=(), homes={}, files={},
                  listings={})
    assert facts.has(SYSTEMD) and not facts.has(firewallplan.TABLE_LOADED)
    with pytest.raises(ValueError, match="not probed"):
        Facts(flags=frozenset({"systemd", "nft-table"}), probed=frozenset({"systemd"}))


def test_the_query_asks_every_flag_by_its_name():
    names = [n for n, _ in plan.query(MESH, HOST).probes]
    assert names[:2] == [SYSTEMD.name, IFACE.name] and len(names) == len(set(names))
    assert IFACE.probe(MESH, HOST) == ("iface", sh("ip link show dev {} >/dev/null 2>&1", MESH.interface))
