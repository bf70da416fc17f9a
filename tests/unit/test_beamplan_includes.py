"""Files vm.args pulls in with -args_file: `up` reads each (a level per round trip) and refuses one that
sets what the managed block sets, since erlexec reads it after the block (pure, facts in)."""

from __future__ import annotations

import pytest

from meshbeam import beamplan
from meshbeam.inventory import Host, Mesh
from meshbeam.plan import Facts, FileFact

VM_ARGS = "/srv/app/vm.args"
HOST = Host("s1", "root@198.51.100.11", "198.18.0.1", "198.51.100.11:51820", "A" * 43 + "=", vm_args=VM_ARGS)
MESH = Mesh(cidr="198.18.0.0/24", hosts=(HOST,))


def facts(files: dict[str, str | None]) -> Facts:
    """Every path beamplan reads, absent unless `files` gives its text (None: absent too)."""
    found = {p: FileFact(p, False) for p in beamplan.query_paths(HOST)}
    found |= {p: FileFact(p, True, 0o644, "root", t.encode()) if t is not None else FileFact(p, False)
              for p, t in files.items()}
    return Facts(files=found, homes={"root": "/root"})


@pytest.mark.parametrize("files, wanted", [
    ({VM_ARGS: "+K true\n"}, ()),
    ({VM_ARGS: "-args_file /srv/a.args\n-args_file rel.args\n"}, ("/srv/a.args",)),  # relative: the plan refuses it
    ({VM_ARGS: "-args_file /srv/a.args\n", "/srv/a.args": "-args_file /srv/b.args\n"}, ("/srv/b.args",)),
    ({VM_ARGS: "-args_file /srv/a.args\n", "/srv/a.args": None}, ()),  # read: absent
    ({VM_ARGS: "-args_file /srv/a.args\n", "/srv/a.args": "-args_file /srv/app/vm.args\n"}, ()),  # a loop
    ({VM_ARGS: "# -args_file /srv/a.args\n-extra -args_file /srv/b.args\n"}, ()),  # as erlexec reads it
])
def test_the_files_still_to_read_are_those_reached_and_not_yet_read(files, wanted):
    assert beamplan.included_paths(HOST, facts(files)) == wanted


@pytest.mark.parametrize("files, error", [
    ({VM_ARGS: "-args_file /srv/a.args\n", "/srv/a.args": "-name evil@198.18.0.1\n"},
     "vm.args line 1: -args_file /srv/a.args line 1: sets -name, which meshbeam manages"),
    ({VM_ARGS: "+K true\n-args_file /srv/a.args\n", "/srv/a.args": "-args_file /srv/b.args\n",
      "/srv/b.args": "-proto_dist inet_tcp\n"},
     "vm.args line 2: -args_file /srv/b.args line 1: sets -proto_dist"),
    ({VM_ARGS: "-args_file /srv/a.args\n", "/srv/a.args": None}, "cannot be read; erl refuses to start"),
    ({VM_ARGS: "-args_file rel.args\n"}, "a relative path is opened from erl's working directory"),
    ({VM_ARGS: "-args_file /srv/a.args\n", "/srv/a.args": "-args_file /srv/a.args\n"}, "includes itself"),
    ({VM_ARGS: "-args_file /srv/a.args\n", "/srv/a.args": f"-args_file {VM_ARGS}\n"}, "includes itself"),
])
def test_an_include_that_overrides_the_block_stops_the_plan(files, error):
    with pytest.raises(ValueError, match=error):
        beamplan.layer(MESH, HOST, "cookie", facts(files))


def test_an_include_with_only_other_flags_is_fine():
    writes, _, _ = beamplan.layer(MESH, HOST, "cookie", facts({VM_ARGS: "-args_file /srv/a.args\n",
                                                                "/srv/a.args": "+sbwt none\n-pa /srv/lib\n"}))
    vm = next(w for w in writes if w.path == VM_ARGS).content.decode()
    assert vm.endswith("-args_file /srv/a.args\n") and "-proto_dist meshbeam" in vm
