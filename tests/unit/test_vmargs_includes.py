"""vmargs_includes: the files a vm.args pulls in with -args_file, walked as erlexec expands them."""

import pytest

from meshbeam.vmargs_includes import MAX_INCLUDE_DEPTH, check, gather, included_conflicts, included_files


@pytest.mark.parametrize("text, want", [
    ("-args_file /a\n+K true -args_file 'b c'\n", ["/a", "b c"]),
    ("-env X -args_file /a\n", ["/a"]),          # erlexec expands it even as another flag's argument
    ("# -args_file /a\n-eval '-args_file /b'\n", []),
    ("-args_file /a -extra -args_file /b\n", ["/a"]),
    ("-args_file\n", []),
    ("-args_file /a\0-args_file /b\n", ["/a"]),
])
def test_included_files(text, want):
    assert included_files(text) == want


def _conflicts(text, files):
    return [(c.line, c.path, c.path_line, c.what.split(",")[0]) for c in included_conflicts(text, files)]


@pytest.mark.parametrize("files, want", [
    ({"/i": "+K true\n-kernel net_ticktime 30\n-env FOO bar\n"}, []),
    ({"/i": "+K true\n-name x@y\n"}, [(2, "/i", 2, "sets -name")]),
    ({"/i": "-sname x\n-setcookie c -proto_dist inet6_tcp\n"},
     [(2, "/i", 1, "sets -sname"), (2, "/i", 2, "sets -setcookie"), (2, "/i", 2, "sets -proto_dist")]),
    ({"/i": "-kernel net_ticktime 30 inet_dist_listen_options []\n-kernel erl_epmd_node_listen_port 1\n"},
     [(2, "/i", 1, "sets -kernel inet_dist_listen_options"), (2, "/i", 2, "sets -kernel erl_epmd_node_listen_port")]),
    ({"/i": "-env ERL_EPMD_ADDRESS 0.0.0.0\n-env ERL_EPMD_PORT 1\n-env FOO ERL_EPMD_PORT\n"},
     [(2, "/i", 1, "sets -env ERL_EPMD_ADDRESS"), (2, "/i", 2, "sets -env ERL_EPMD_PORT")]),
    ({"/i": "-extra -name x@y\n"}, []),
    ({"/i": "-args_file /j\n", "/j": "\n\n-start_epmd true\n"}, [(2, "/j", 3, "sets -start_epmd")]),
    ({"/i": "-args_file /i\n"}, [(2, "/i", 0, "includes itself; erlexec would loop forever")]),
    ({"/i": "-args_file /j\n", "/j": "-args_file /i\n"}, [(2, "/i", 0, "includes itself; erlexec would loop forever")]),
    ({"/i": None}, [(2, "/i", 0, "cannot be read; erl refuses to start")]),
    ({}, [(2, "/i", 0, "not checked (its text was not given)")]),
    ({"/i": "-args_file j.args\n"}, [(2, "j.args", 0, "a relative path is opened from erl's working directory")]),
    ({"/i": "+K true\n\0-name x@y\n"}, [(2, "/i", 2, "has a NUL byte: erlexec stops reading there")]),
])
def test_included_conflicts(files, want):
    assert _conflicts("+K true\n-args_file /i\n", files) == want


def test_include_depth_is_bounded():
    files = {f"/f{i}": f"-args_file /f{i + 1}\n" for i in range(20)}
    [c] = included_conflicts("-args_file /f0\n", files)
    assert (c.line, c.path, c.what) == (1, f"/f{MAX_INCLUDE_DEPTH}", f"-args_file nested deeper than {MAX_INCLUDE_DEPTH}")


def test_check_raises_the_first_conflict_on_one_line():
    text = "+K true\n-args_file /etc/extra.args\n"
    with pytest.raises(ValueError, match=r"^vm.args line 2: -args_file /etc/extra.args line 3: sets -env ERL_EPMD_PORT, "
                                         r"which meshbeam manages in vm.args; remove it there$"):
        check(text, {"/etc/extra.args": "+P 100\n\n-env ERL_EPMD_PORT 4370\n"})
    check(text, {"/etc/extra.args": "+P 100\n"})




def test_gather_reads_each_reachable_absolute_path_once():
    files = {"/a": "-args_file /b\n-args_file /a\n", "/b": "-args_file rel.args\n-args_file /gone\n"}
    asked: list[str] = []

    def read(path: str) -> str | None:
        asked.append(path)
        return files.get(path)

    found = gather("-args_file /a\n-args_file /b\n", read)
    assert found == {"/a": files["/a"], "/b": files["/b"], "/gone": None}
    assert sorted(asked) == ["/a", "/b", "/gone"]
    assert sorted(c.what.split(",")[0] for c in included_conflicts("-args_file /a\n", found)) == [
        "a relative path is opened from erl's working directory", "cannot be read; erl refuses to start",
        "includes itself; erlexec would loop forever"]
