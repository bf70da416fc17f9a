import random
import re
import subprocess

import pytest

from meshbeam.beamcfg import (
    KEPT,
    MARK_BEGIN,
    MARK_END,
    DistSettings,
    Finding,
    apply_block,
    apply_env_sh,
    erl_atom,
    libcluster_topology,
    lint,
    remove_block,
    render_block,
    tokenize,
)

S = DistSettings("app@198.18.0.1", "198.18.0.1", 9100, "mesh", ("app@198.18.0.1", "app@198.18.0.2"))
EXPR = "ok = net_kernel:allow(['app@198.18.0.1','app@198.18.0.2'])"


def texts(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


# --- tokenize: each case was checked against erl 25.2.3 (`-extra` + init:get_plain_arguments) ---

@pytest.mark.parametrize("src, want", [
    ('-eval "a  b" x', ["-eval", "a  b", "x"]),          # quotes group, inner spaces kept
    ("g#h i\nj", ["g", "j"]),                             # # is a comment even mid-word
    ("'q#r' \"s#t\"", ["q#r", "s#t"]),                    # ... but not inside quotes
    ('a\\"b', ['a"b']),                                   # backslash escapes outside quotes
    ('"a\\"b" x', ["a\\b x"]),                            # no escapes inside quotes
    ("'x''y' \"x\"'y'z", ["xy", "xyz"]),                  # adjacent quoted parts join
    ("n\\ o p\\#q", ["n o", "p#q"]),
    ("a\\\nb c", ["a\nb", "c"]),                          # escaped newline is literal
    ('"a\nb" c', ["a\nb", "c"]),
    ("a \"\" ''", ["a", "", ""]),                         # empty quotes give empty arguments
    ('"unterminated x', ["unterminated x"]),
    ("a\\", ["a"]),
    ("a\r\nb\tc\fd\ve", ["a", "b", "c", "d", "e"]),
    ("#c\\\nd", ["d"]),                                   # a backslash does not extend a comment
    ("a\x00b c", ["a"]),                                  # NUL ends the file
    ("$HOME", ["$HOME"]),
    ("", []),
])
def test_tokenize_matches_erlexec(src, want):
    assert texts(src) == want


def test_tokenize_lines_are_where_tokens_start():
    toks = tokenize('# c\n-name a@b\n\n-eval "x\ny" z\n')
    assert [(t.text, t.line) for t in toks] == [("-name", 2), ("a@b", 2), ("-eval", 4), ("x\ny", 4), ("z", 5)]


# --- render_block ---

def test_render_block_exact_text():
    assert render_block(S) == (
        f"{MARK_BEGIN}\n"
        "-name app@198.18.0.1\n"
        "-kernel inet_dist_use_interface {198,18,0,1}\n"
        "-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9100\n"
        "-env ERL_EPMD_ADDRESS 198.18.0.1\n"
        f'-eval "{EXPR}"\n'
        f"{MARK_END}\n"
    )


def test_render_block_without_epmd():
    block = render_block(DistSettings("a@198.18.0.3", "198.18.0.3", 9200, "none", ("a@198.18.0.3",)))
    assert "-start_epmd false\n-erl_epmd_port 9200\n" in block
    assert "ERL_EPMD_ADDRESS" not in block


def test_eval_survives_erlexec_tokenizing():
    toks = texts(render_block(S))
    assert toks[toks.index("-eval") + 1] == EXPR
    assert toks == ["-name", "app@198.18.0.1", "-kernel", "inet_dist_use_interface", "{198,18,0,1}",
                    "-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9100",
                    "-env", "ERL_EPMD_ADDRESS", "198.18.0.1", "-eval", EXPR]


def test_block_suits_relx_greps_and_lints_clean():
    block = render_block(S)
    assert len(re.findall(r"^-name ", block, re.M)) == 1
    assert re.search(r"^-kernel  *inet_dist_use_interface \{198,18,0,1\}$", block, re.M)
    assert not re.search(r"^-setcookie", block, re.M)
    assert lint(block, bind_address="198.18.0.1") == []


def test_allow_list_is_deduplicated_in_order():
    s = DistSettings("a@198.18.0.1", "198.18.0.1", allow=("b@198.18.0.2", "a@198.18.0.1", "b@198.18.0.2"))
    assert "allow(['b@198.18.0.2','a@198.18.0.1'])" in render_block(s)


@pytest.mark.parametrize("kw", [
    dict(allow=()),
    dict(node="app"),
    dict(node="app@198.18.0.9"),
    dict(address="198.18.0.256", node="app@198.18.0.256"),
    dict(address="0.0.0.0", node="app@0.0.0.0"),
    dict(port=0), dict(port=70000), dict(port=4369), dict(port="9100"),
    dict(epmd="local"),
    dict(allow=("ok@198.18.0.2", "bad name@x")),
    dict(allow=("x@y'])",)),
])
def test_settings_reject_bad_input(kw):
    args = dict(node="app@198.18.0.1", address="198.18.0.1", allow=("app@198.18.0.1",)) | kw
    with pytest.raises(ValueError):
        DistSettings(**args)


# --- apply_block / remove_block ---

RELX = """## Name of the node
-name app@127.0.0.1

## Cookie for distributed erlang
-setcookie secret

## Heartbeat management
##-heart

-kernel inet_dist_listen_min 9000 net_ticktime 30
+K true
+A30
"""

SAMPLES = [
    "",
    RELX,
    "-sname x",                                           # no trailing newline
    "\t-name   old@h  \t# trailing comment\n\n\n   +P 1000000   \n",
    "-name a@b\r\n-env ERL_EPMD_ADDRESS 1.2.3.4\r\n+K true\r\n",  # CRLF
    "# only a comment",
    "-name a@b -setcookie c +K true\n-smp auto",
    "-kernel inet_dist_use_interface {1,2,3,4} logger_level info",  # split, no newline
    "-name\n  old@h\n-eval 'x\ny'\n+K true\n",               # flag spanning lines
    "-eval 'io:format(\"-name x\")'\n# -name y\n-env FOO -name\n",  # quoted/commented/argument
    "-name a@b\n-extra -name c@d\n",
    "-start_epmd false -erl_epmd_port 4370\n-cookie x\n-kernel erl_epmd_node_listen_port 1\n",
    "-kernel inet_dist_use_interface {198, 18,0,1} logger_level info net_ticktime\n",
]

FRAGMENTS = ["-name a@b", "-sname s", "-setcookie 'c d'", "-kernel inet_dist_listen_min 1 net_ticktime 2",
             "-kernel inet_dist_use_interface {1, 2,3,4} x", "+K true", "# -name c", "", "  \t", "-eval 'x",
             "y'", "a\\", "-extra", "-env ERL_EPMD_ADDRESS 1", "-env X -name", "\r", "q#\"", "\"", "\f"]


BLOCK_TOKENS = texts(render_block(S))


def test_apply_and_remove_hold_on_generated_files():
    rnd = random.Random(7)
    refused = 0
    for _ in range(400):
        original = "\n".join(rnd.choice(FRAGMENTS) for _ in range(rnd.randint(0, 8))) + rnd.choice(["", "\n"])
        try:
            once = apply_block(original, S)
        except ValueError:  # a kept argument spans lines: refused rather than rewritten
            refused += 1
            continue
        assert apply_block(once, S) == once, original
        assert remove_block(once) == original, original
        assert texts(once)[:len(BLOCK_TOKENS)] == BLOCK_TOKENS, original
        lines = original.splitlines(keepends=True)
        k = rnd.randint(0, len(lines))
        if k and not lines[k - 1].endswith("\n"):
            continue
        moved = apply_block("".join(lines[:k]) + render_block(S) + "".join(lines[k:]), S)
        toks = texts(moved)
        n = len(BLOCK_TOKENS)
        start = next(i for i in range(len(toks)) if toks[i:i + n] == BLOCK_TOKENS)  # intact
        assert "-extra" not in toks[:start] and apply_block(moved, S) == moved, original
    assert refused < 40


@pytest.mark.parametrize("original", SAMPLES)
def test_apply_is_idempotent_and_remove_undoes_it(original):
    once = apply_block(original, S)
    assert apply_block(once, S) == once
    assert remove_block(once) == original


@pytest.mark.parametrize("original", SAMPLES)
def test_applied_file_has_only_the_managed_distribution_flags(original):
    toks = texts(apply_block(original, S))
    flags = toks[:toks.index("-extra")] if "-extra" in toks else toks
    flags = [t for i, t in enumerate(flags) if "-env" not in flags[max(0, i - 2):i]]  # -env takes two
    owned = [t for t in flags if t in ("-name", "-sname", "-setcookie", "-cookie", "-start_epmd", "-erl_epmd_port")]
    assert owned == ["-name"]
    assert toks[toks.index("-name") + 1] == "app@198.18.0.1"
    assert toks.count("inet_dist_listen_min") == 1 and "erl_epmd_node_listen_port" not in toks


@pytest.mark.parametrize("original", SAMPLES)
def test_changing_settings_changes_only_the_block(original):
    other = DistSettings("app@198.18.0.7", "198.18.0.7", 9300, "none", ("app@198.18.0.7",))
    a, b = apply_block(original, S), apply_block(apply_block(original, S), other)
    assert b == a.replace(render_block(S), render_block(other))


def test_empty_original_is_just_the_block():
    assert apply_block("", S) == render_block(S)


def test_relx_file_conflicts_are_commented_with_reasons():
    out = apply_block(RELX, S)
    assert out.startswith(render_block(S))
    rest = out[len(render_block(S)):].splitlines()
    assert rest[1] == "# meshbeam: disabled, conflicts with the managed -name: -name app@127.0.0.1"
    assert rest[4] == "# meshbeam: disabled, conflicts with the managed -setcookie: -setcookie secret"
    assert rest[9] == ("# meshbeam: disabled, conflicts with the managed -kernel inet_dist_listen_min: "
                       "-kernel inet_dist_listen_min 9000 net_ticktime 30")
    assert rest[10] == "-kernel net_ticktime 30" + KEPT
    untouched = [ln for i, ln in enumerate(RELX.splitlines()) if i not in (1, 4, 9)]
    assert [ln for i, ln in enumerate(rest) if i not in (1, 4, 9, 10)] == untouched


def test_line_with_several_flags_keeps_the_others():
    out = apply_block("-name a@b -setcookie 'c d' +K true '' \"it's\"\n", S)
    disabled, kept = out[len(render_block(S)):].splitlines()
    assert disabled.startswith("# meshbeam: disabled, conflicts with the managed -name, -setcookie: -name a@b")
    assert texts(kept) == ["+K", "true", "", "it's"]


def test_flag_spanning_lines_is_disabled_whole():
    out = apply_block("-name\n  old@h\n+K true\n", S)
    assert out.endswith("managed -name: -name\n# meshbeam: disabled, conflicts with the managed -name:   old@h\n+K true\n")


def test_quoted_commented_and_argument_text_is_not_a_flag():
    original = "-eval 'io:format(\"-name x\")'\n# -name y\n-env FOO -name\n"
    assert apply_block(original, S) == render_block(S) + original


def test_existing_block_is_replaced_in_place():
    original = "+K true\n" + render_block(S) + "-name old@h\n"
    other = DistSettings("b@198.18.0.2", "198.18.0.2", allow=("b@198.18.0.2",))
    out = apply_block(original, other)
    assert out.startswith("+K true\n" + render_block(other) + "# meshbeam: disabled")


def test_block_after_extra_moves_to_the_top():
    out = apply_block("+K true\n-extra foo\n" + render_block(S), S)
    assert out == render_block(S) + "+K true\n-extra foo\n"


def test_block_inside_a_quoted_argument_moves_to_the_top():
    out = apply_block("-eval 'a\n" + render_block(S) + "b'\n", S)
    assert out.startswith(render_block(S))


@pytest.mark.parametrize("text", [MARK_BEGIN + "\n-name x\n", "x\n" + MARK_END + "\n",
                                  render_block(S) + render_block(S)])
def test_damaged_markers_are_refused(text):
    with pytest.raises(ValueError):
        apply_block(text, S)
    with pytest.raises(ValueError):
        remove_block(text)


def test_kept_argument_with_a_newline_is_refused():
    with pytest.raises(ValueError, match="line 1"):
        apply_block("-name a@b -eval 'x\ny'\n", S)


# --- lint ---

def codes(text: str, **kw) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in lint(text, **kw)]


def test_lint_unknown_kernel_param_suggests_the_real_one():
    text = "-name a@198.18.0.1\n\n-kernel inet_dist_listen_min 9100 inedist_listen_max 9100\n"
    assert codes(text) == [(3, "listen-min-max"), (3, "unknown-kernel-param")]
    f = lint(text)[1]
    assert "did you mean inet_dist_listen_max?" in f.message and "-kernel inedist_listen_max" in f.message


def test_lint_erl_epmd_port_is_a_flag_not_a_kernel_param():
    [f] = lint("-kernel erl_epmd_port 9100\n")
    assert f.code == "unknown-kernel-param" and "erl_epmd_node_listen_port" in f.message


def test_lint_space_in_term():
    text = "-kernel inet_dist_use_interface {198, 18,0,1}\n-name a@198.18.0.1\n"
    assert codes(text) == [(1, "space-in-term")]  # the pieces are not mistaken for keys
    assert "-kernel inet_dist_use_interface" in lint(text)[0].message


def test_lint_cookie_flags_and_empty_allow():
    text = "-cookie abc\n-setcookie abc\n-eval \"net_kernel:allow( [ ] )\"\n-eval 'ok = net_kernel:allow([a@b])'\n"
    assert codes(text) == [(1, "obsolete-cookie"), (2, "setcookie"), (3, "empty-allow")]


@pytest.mark.parametrize("text, want", [
    ("-kernel inet_dist_listen_max 9100\n", [(1, "listen-min-max")]),
    ("\n-kernel inet_dist_listen_min 9100\n", [(2, "listen-min-max")]),
    ("-kernel inet_dist_listen_min 9100\n-kernel inet_dist_listen_max 9100\n", []),
])
def test_lint_listen_min_max(text, want):
    assert codes(text) == want


def test_lint_name_address_mismatch():
    assert codes("-name a@198.18.0.9\n", bind_address="198.18.0.1") == [(1, "name-address-mismatch")]
    assert codes("-name a@198.18.0.1\n", bind_address="198.18.0.1") == []
    text = "-kernel inet_dist_use_interface {198,18,0,1}\n-name a@web.example\n"
    [f] = lint(text)
    assert (f.line, f.code) == (2, "name-address-mismatch") and "-name a@web.example" in f.message
    assert codes(text, bind_address="198.18.0.1") == [(2, "name-address-mismatch")] * 2


def test_lint_ignores_plain_arguments_and_messages_are_one_line():
    assert lint("-extra -cookie x -setcookie y\n") == []
    findings = lint(RELX + "-cookie x\n-kernel foo 1\n", bind_address="198.18.0.1")
    assert findings and all(isinstance(f, Finding) and "\n" not in f.message for f in findings)
    assert lint(RELX) == lint(RELX)


# --- erl_atom / libcluster ---

def test_erl_atom_quotes():
    assert erl_atom("app@198.18.0.1") == "'app@198.18.0.1'"
    assert erl_atom("it's\\") == "'it\\'s\\\\'"
    with pytest.raises(ValueError):
        erl_atom("a\nb")


def test_libcluster_topology():
    assert libcluster_topology(["app@198.18.0.1", "app@198.18.0.2"]) == (
        "config :libcluster,\n"
        "  topologies: [\n"
        "    meshbeam: [\n"
        "      strategy: Cluster.Strategy.Epmd,\n"
        "      config: [\n"
        "        hosts: [\n"
        '          :"app@198.18.0.1",\n'
        '          :"app@198.18.0.2"\n'
        "        ]\n"
        "      ]\n"
        "    ]\n"
        "  ]\n"
    )
    for bad in (dict(nodes=[]), dict(nodes=['a@b"#{x}']), dict(nodes=["a@b"], name="Bad")):
        with pytest.raises(ValueError):
            libcluster_topology(bad["nodes"], name=bad.get("name", "meshbeam"))


# --- env.sh ---

ENV_SH = """#!/bin/sh
# export RELEASE_NODE=commented
export RELEASE_DISTRIBUTION=sname
if [ -n "$X" ]; then
  RELEASE_NODE="app@${HOST}"
fi
export RELEASE_COOKIE='abc' # keep it secret
export RELEASE_NODE=a@b; echo hi
export RELEASE_TMP=/tmp"""


def test_env_sh_block_disables_conflicts_and_stays_valid_sh():
    out = apply_env_sh(ENV_SH, "app@198.18.0.1")
    assert out.endswith(f"export RELEASE_TMP=/tmp\n{MARK_BEGIN}\nexport RELEASE_DISTRIBUTION=name\n"
                        f"export RELEASE_NODE=app@198.18.0.1\n{MARK_END}\n")
    lines = out.splitlines()
    assert lines[1] == "# export RELEASE_NODE=commented"
    assert lines[2] == ": # meshbeam: disabled, conflicts with the managed RELEASE_DISTRIBUTION: export RELEASE_DISTRIBUTION=sname"
    assert lines[4].startswith(": # meshbeam: disabled") and lines[6].startswith(": # meshbeam: disabled")
    assert lines[7] == "export RELEASE_NODE=a@b; echo hi"  # not a lone assignment: the block overrides it
    assert subprocess.run(["sh", "-n"], input=out, text=True).returncode == 0
    assert remove_block(out) == ENV_SH + "\n"


@pytest.mark.parametrize("original", ["", ENV_SH, ENV_SH + "\n", "x=1\n" + MARK_BEGIN + "\n" + MARK_END + "\ny=2\n"])
def test_env_sh_is_idempotent_and_a_new_node_only_changes_the_block(original):
    once = apply_env_sh(original, "app@198.18.0.1")
    assert apply_env_sh(once, "app@198.18.0.1") == once
    assert apply_env_sh(once, "app@198.18.0.2") == once.replace("=app@198.18.0.1", "=app@198.18.0.2")


def test_env_sh_keeps_an_existing_block_in_place_and_rejects_bad_names():
    out = apply_env_sh("x=1\n" + MARK_BEGIN + "\n" + MARK_END + "\ny=2\n", "a@b")
    assert out.startswith("x=1\n" + MARK_BEGIN) and out.endswith(MARK_END + "\ny=2\n")
    with pytest.raises(ValueError):
        apply_env_sh("", "a@b; rm -rf /")
