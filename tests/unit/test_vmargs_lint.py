"""vmargs_lint: one row per case, (vm.args text, options, expected (line, code) findings)."""

import pytest

from meshbeam.vmargs_lint import Finding, lint

RELX = """## Name of the node
-name app@127.0.0.1

## Cookie for distributed erlang
-setcookie secret

-kernel inet_dist_listen_min 9000 net_ticktime 30
+K true
"""

CASES = [
    # (id, text, keyword arguments, findings as (line, code))
    ("clean", "-name a@198.18.0.1\n-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9100\n", {}, []),
    ("empty", "", {}, []),
    ("typo-in-kernel-key", "-name a@198.18.0.1\n\n-kernel inet_dist_listen_min 9100 inedist_listen_max 9100\n", {},
     [(3, "listen-min-max"), (3, "unknown-kernel-param")]),
    ("erl_epmd_port-is-a-flag", "-kernel erl_epmd_port 9100\n", {}, [(1, "unknown-kernel-param")]),
    ("space-in-tuple", "-kernel inet_dist_use_interface {198, 18,0,1}\n-name a@198.18.0.1\n", {}, [(1, "space-in-term")]),
    ("obsolete-cookie", "-cookie abc\n", {}, [(1, "obsolete-cookie")]),
    ("setcookie", "\n-setcookie abc\n", {}, [(2, "setcookie")]),
    ("empty-allow", "-eval \"net_kernel:allow( [ ] )\"\n", {}, [(1, "empty-allow")]),
    ("allow-with-names", "-eval 'ok = net_kernel:allow([a@b])'\n", {}, []),
    ("only-max", "-kernel inet_dist_listen_max 9100\n", {}, [(1, "listen-min-max")]),
    ("only-min", "\n-kernel inet_dist_listen_min 9100\n", {}, [(2, "listen-min-max")]),
    ("min-and-max-apart", "-kernel inet_dist_listen_min 9100\n-kernel inet_dist_listen_max 9100\n", {}, []),
    ("name-off-bind-address", "-name a@198.18.0.9\n", {"bind_address": "198.18.0.1"}, [(1, "name-address-mismatch")]),
    ("name-on-bind-address", "-name a@198.18.0.1\n", {"bind_address": "198.18.0.1"}, []),
    ("name-off-interface", "-kernel inet_dist_use_interface {198,18,0,1}\n-name a@web.example\n", {},
     [(2, "name-address-mismatch")]),
    ("name-off-both", "-kernel inet_dist_use_interface {198,18,0,1}\n-name a@web.example\n",
     {"bind_address": "198.18.0.1"}, [(2, "name-address-mismatch")] * 2),
    ("plain-arguments", "-extra -cookie x -setcookie y\n", {}, []),
    ("comment-and-quotes", "# -cookie x\n-eval '-setcookie y'\n", {}, []),
    ("nul-byte", "+K true\n-name a@b\0\n-setcookie x\n", {}, [(2, "nul-byte")]),
    ("relx-template", RELX, {"bind_address": "198.18.0.1"},
     [(2, "name-address-mismatch"), (5, "setcookie"), (7, "listen-min-max")]),
    ("args-file-unread-without-included", "-args_file /etc/x.args\n", {}, []),
    ("args-file-clean", "-args_file /etc/x.args\n", {"included": {"/etc/x.args": "+K true\n"}}, []),
    ("args-file-managed", "+K true\n-args_file /etc/x.args\n",
     {"included": {"/etc/x.args": "-name x@y\n-kernel inet_dist_use_interface {0,0,0,0}\n"}},
     [(2, "args-file"), (2, "args-file")]),
    ("args-file-missing", "-args_file /etc/x.args\n", {"included": {"/etc/x.args": None}}, [(1, "args-file")]),
    ("args-file-nested", "-args_file a\n", {"included": {"a": "-args_file b\n", "b": "-env ERL_EPMD_PORT 1\n"}},
     [(1, "args-file")]),
]


@pytest.mark.parametrize("text, kw, want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lint(text, kw, want):
    findings = lint(text, **kw)
    assert [(f.line, f.code) for f in findings] == want
    assert all(isinstance(f, Finding) and f.message and "\n" not in f.message for f in findings)


def test_messages_name_the_flag_and_suggest_the_fix():
    [minmax, typo] = lint("-kernel inet_dist_listen_min 9100 inedist_listen_max 9100\n")
    assert "did you mean inet_dist_listen_max?" in typo.message and "-kernel inedist_listen_max" in typo.message
    [f] = lint("-kernel erl_epmd_port 9100\n")
    assert "erl_epmd_node_listen_port" in f.message
    [f] = lint("-kernel inet_dist_use_interface {198, 18,0,1}\n")
    assert "-kernel inet_dist_use_interface" in f.message
    [f] = lint("-kernel inet_dist_use_interface {198,18,0,1}\n-name a@web.example\n")
    assert "-name a@web.example" in f.message


def test_args_file_findings_name_the_file_and_its_line():
    [f] = lint("\n-args_file /etc/x.args\n", included={"/etc/x.args": "+K true\n\n-setcookie c\n"})
    assert (f.line, f.code) == (2, "args-file")
    assert f.message == "-args_file /etc/x.args line 3: sets -setcookie, which meshbeam manages in vm.args; remove it there"
