"""A change that would break a rule across members is refused, on every path that commits one.

The rules across members are checked once per command: in full when mesh.yaml is read (it may
have been edited by hand), and for the new members only against what was there (add-host,
add-host --from, add-peer). So each conflict is tried on each path, with mesh.yaml either as
meshbeam wrote it (the change brings the conflict) or edited by hand (the file has it): exit
status 2, one line naming the problem, and the inventory byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshbeam import inventory
from meshbeam.errors import InputError
from meshbeam.inventory import Host, Mesh
from tests.conftest import invoke
from tests.unit.test_validation import S9, refused_on_command_line, set_field

KEY = "A" * 43 + "="

# The `inv` fixture: hosts s1 (198.18.0.1), s2 (SSH port 2222), s3, the peer laptop; dist_port 9100.
# The `tinc_inv` fixture: hosts s1, s2, the peer lap. A command's "FILE" is a CSV of `rows`.
# (id, fixture, hand edits of mesh.yaml, command, CSV rows for --from, what the error line holds)
CASES: list[tuple[str, str, list[tuple[str, object]], list[str], str, tuple[str, ...]]] = [
    # the same name twice
    ("name of a host: add-host", "inv", [], ["add-host", "--", "s1", S9], "",
     ("the name 's1' is already used",)),
    ("name of a peer: add-host", "inv", [], ["add-host", "--", "laptop", S9], "",
     ("the name 'laptop' is already used",)),
    ("name of a host: add-peer", "inv", [], ["add-peer", "--", "s2"], "", ("the name 's2' is already used",)),
    ("name of a peer: add-peer", "inv", [], ["add-peer", "--", "laptop"], "", ("the name 'laptop' is already used",)),
    ("name of a host: --from", "inv", [], ["add-host", "--from", "FILE"], "x1,198.51.100.31\ns3,198.51.100.32\n",
     ("row 2", "field 'name'", "the name 's3' is already used")),
    ("name twice in the file: --from", "inv", [], ["add-host", "--from", "FILE"],
     "x1,198.51.100.31\nx1,198.51.100.32\n", ("row 2", "field 'name'", "the name 'x1' appears twice")),
    ("name twice by hand: add-host", "inv", [("hosts.1.name", "s1")], ["add-host", "--", "s9", S9], "",
     ("hosts[1]", "the name 's1' is used twice")),
    ("name twice by hand: add-peer", "inv", [("peers.0.name", "s3")], ["add-peer", "--", "p9"], "",
     ("peers[0]", "the name 's3' is used twice")),
    # the same mesh address twice (new members get a free one: only a hand edit brings it)
    ("address twice by hand: add-host", "inv", [("hosts.2.address", "198.18.0.1")], ["add-host", "--", "s9", S9],
     "", ("hosts[2] (s3)", "invalid address '198.18.0.1': already used by s1")),
    ("address twice by hand: add-peer", "inv", [("peers.0.address", "198.18.0.2")], ["add-peer", "--", "p9"], "",
     ("peers[0] (laptop)", "already used by s2")),
    ("address twice by hand: --from", "inv", [("peers.0.address", "198.18.0.3")], ["add-host", "--from", "FILE"],
     "x1,198.51.100.31\n", ("peers[0] (laptop)", "already used by s3")),
    # one Erlang node name for two members: a node name holds its member's address, so the
    # address is what is refused first
    ("node name twice by hand: add-host", "inv", [("hosts.2.node_name", "app"), ("hosts.2.address", "198.18.0.1")],
     ["add-host", "--", "s9", S9], "", ("hosts[2] (s3)", "already used by s1")),
    # two names that are one to tinc ('-' is written '_')
    ("tinc form of a host: add-host", "tinc_inv", [("hosts.0.name", "a_b")], ["add-host", "--", "a-b", S9], "",
     ("'a-b' and 'a_b' are both 'a_b' to tinc",)),
    ("tinc form of a peer: add-host", "tinc_inv", [("peers.0.name", "a-b")], ["add-host", "--", "a_b", S9], "",
     ("'a_b' and 'a-b' are both 'a_b' to tinc",)),
    ("tinc form of a host: add-peer", "tinc_inv", [("hosts.1.name", "c-d")], ["add-peer", "--", "c_d"], "",
     ("'c_d' and 'c-d' are both 'c_d' to tinc",)),
    ("tinc form of a host: --from", "tinc_inv", [("hosts.0.name", "a_b")], ["add-host", "--from", "FILE"],
     "x1,198.51.100.31\na-b,198.51.100.32\n", ("row 2", "field 'name'", "'a-b' and 'a_b' are both 'a_b' to tinc")),
    ("tinc forms in the file: --from", "tinc_inv", [], ["add-host", "--from", "FILE"],
     "web-1,198.51.100.31\nweb_1,198.51.100.32\n", ("row 2", "field 'name'", "'web_1' and 'web-1'")),
    ("tinc forms by hand: add-peer", "tinc_inv", [("hosts.0.name", "a_b"), ("hosts.1.name", "a-b")],
     ["add-peer", "--", "p9"], "", ("hosts[1] (a-b)", "'a-b' and 'a_b' are both 'a_b' to tinc")),
    # a host's SSH port is the distribution port (the firewall would cut SSH off)
    ("SSH on dist_port: add-host", "inv", [], ["add-host", "--", "s9", f"root@{S9}:9100"], "",
     ("invalid dist_port 9100: it is the SSH port of hosts[",)),
    ("SSH on dist_port: --from", "inv", [], ["add-host", "--from", "FILE"],
     f"x1,198.51.100.31\nx2,root@{S9}:9100\n", ("row 2", "field 'ssh'", "invalid dist_port 9100")),
    ("SSH on dist_port by hand: add-host", "inv", [("hosts.1.ssh", "root@198.51.100.12:9100")],
     ["add-host", "--", "s9", S9], "", ("invalid dist_port 9100: it is the SSH port of hosts[1] (s2)",)),
    ("SSH on dist_port by hand: add-peer", "inv", [("hosts.2.ssh", "198.51.100.13:9100")], ["add-peer", "--", "p9"],
     "", ("invalid dist_port 9100: it is the SSH port of hosts[2] (s3)",)),
]


@pytest.mark.parametrize("fixture,edits,args,rows,needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_conflict_is_refused_and_nothing_is_written(request, tmp_path, fixture, edits, args, rows, needles):
    d = request.getfixturevalue(fixture)
    for where, value in edits:
        set_field(d, where, value)
    if rows:
        table = tmp_path / "hosts.csv"
        table.write_text("name,ssh\n" + rows)
        args = [str(table) if a == "FILE" else a for a in args]
    refused_on_command_line(d, args, *needles)


def test_the_same_change_without_the_conflict_is_taken(inv, tmp_path):
    """The cases above fail for their conflict, not for something else on the same path."""
    table = tmp_path / "hosts.csv"
    table.write_text(f"name,ssh\nx1,198.51.100.31\nx2,root@{S9}:9101\n")
    for args in (["add-host", "--", "s9", f"root@{S9}:9101"], ["add-host", "--from", str(table)],
                 ["add-peer", "--", "p9"]):
        r = invoke(args[0], "--dir", str(inv), *args[1:])
        assert r.exit_code == 0, r.output
    names = [m.name for m in inventory.load(inv).members]
    assert names == ["s1", "s2", "s3", "s9", "x1", "x2", "laptop", "p9"]


def _host(i: int, **fields: object) -> Host:
    base: dict[str, object] = dict(name=f"h{i}", ssh=f"root@198.51.100.{i}", address=f"198.18.0.{i}",
                                   endpoint=f"198.51.100.{i}:51820", public_key=KEY, vm_args="/srv/app/vm.args")
    return Host(**(base | fields))  # type: ignore[arg-type]


# Hosts of one application share their node settings, and validate checks each set once: a host
# whose settings differ, after many that share theirs, is still checked in full.
ODD_ONE_OUT = [
    (dict(node_name="9lives"), "invalid node_name"),
    (dict(run_user="Root!"), "invalid run_user"),
    (dict(vm_args="/srv/app/vm.args.bak"), "invalid vm_args"),
    (dict(mix_release=True), "a mix release's vm_args"),
    (dict(mix_release=1), "invalid mix_release 1"),
    (dict(service="bad name"), "invalid service"),
    (dict(vm_args=None, service="app.service"), "give vm_args too"),
    (dict(endpoint="198.51.100.9:0"), "invalid endpoint port"),
    (dict(endpoint="198.51.100.009:51820"), "invalid endpoint"),
    (dict(ssh="root@198.51.100.9:9100"), "invalid dist_port 9100: it is the SSH port of hosts[3] (h4)"),
]


@pytest.mark.parametrize("odd,needle", ODD_ONE_OUT, ids=[n for _, n in ODD_ONE_OUT])
def test_a_host_unlike_the_others_is_checked_in_full(odd, needle):
    hosts = tuple(_host(i) for i in range(1, 4)) + (_host(4, **odd),)
    inventory.validate(Mesh(cidr="198.18.0.0/24", hosts=hosts[:3]))
    with pytest.raises(InputError, match=needle.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        inventory.validate(Mesh(cidr="198.18.0.0/24", hosts=hosts))


def test_the_usual_endpoint_is_still_ipv4_only_for_tinc(tinc_inv):
    """An endpoint that is the SSH address at the mesh port is taken as valid without a second
    parse: it must still be refused where the backend cannot use it."""
    refused_on_command_line(tinc_inv, ["add-host", "--", "s9", "[2001:db8::1]"], "invalid endpoint", "IPv4-only")


def test_an_endpoint_at_the_ssh_address_but_another_port_is_parsed(inv: Path):
    set_field(inv, "hosts.0.endpoint", "198.51.100.11:65536")
    refused_on_command_line(inv, ["add-peer", "--", "p9"], "hosts[0] (s1)", "invalid endpoint port")
