"""vmargs: the tokenizer, the managed block, apply/remove, included args files.

Tokenizer cases were checked against erl 25.2.3; test_vmargs_erl.py checks them against the
installed erl again, together with the first-wins behaviour the block's position relies on.
"""

import random
import re
from dataclasses import replace

import pytest

from meshbeam import distmod
from meshbeam.vmargs import (
    DISABLED,
    KEPT,
    MARK_BEGIN,
    MARK_END,
    DistSettings,
    allow_text,
    apply_block,
    erl_atom,
    remove_block,
    render_block,
    tokenize,
)
from meshbeam.vmargs_lint import lint

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
        # a block anywhere (an earlier version's file) moves to the top, and down still restores
        moved = apply_block("".join(lines[:k]) + render_block(S) + "".join(lines[k:]), S)
        assert moved == once and remove_block(moved) == original, original
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


def test_existing_block_anywhere_moves_to_the_top():
    original = "+K true\n" + render_block(S) + "-name old@h\n"
    other = DistSettings("b@198.18.0.2", "198.18.0.2", allow=("b@198.18.0.2",))
    out = apply_block(original, other)
    assert out == render_block(other) + "+K true\n# meshbeam: disabled, conflicts with the managed -name: -name old@h\n"
    assert remove_block(out) == "+K true\n-name old@h\n"


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




# --- the block goes first; files from a version that put it elsewhere migrate ---

OTHER = DistSettings("app@198.18.0.7", "198.18.0.7", 9300, "none", ("app@198.18.0.7",))


@pytest.mark.parametrize("user", [s for s in SAMPLES if s.endswith("\n") or s == ""] + [RELX + "-env ERL_EPMD_PORT 4370\n"])
def test_block_written_at_the_end_migrates_to_the_top(user):
    # what a version that appended the block wrote: user lines disabled, then the block
    old = "".join(ln for ln in apply_block(user, OTHER).splitlines(keepends=True)
                  if ln not in render_block(OTHER).splitlines(keepends=True)) + render_block(OTHER)
    new = apply_block(old, S)
    assert new.startswith(render_block(S)) and new.count(MARK_BEGIN) == 1
    assert new == apply_block(user, S)
    assert remove_block(new) == user


def test_block_goes_before_a_leading_comment_and_every_flag():
    out = apply_block("# my release\n-kernel net_ticktime 30\n", S)
    assert out == render_block(S) + "# my release\n-kernel net_ticktime 30\n"


# --- NUL bytes: erlexec reads the file as a C string and stops at the first NUL ---

@pytest.mark.parametrize("text, line", [
    ("\0", 1),
    ("+K true\n-name a@b\0\n", 2),
    ("+K true\n\0\n" + render_block(S), 2),  # above an existing block: erlexec would drop the block
    ("# c\n\n-eval 'x\0'\n", 3),
])
def test_nul_byte_is_refused_with_its_line(text, line):
    with pytest.raises(ValueError, match=f"^vm.args line {line} has a NUL byte: erlexec stops reading there; remove it$"):
        apply_block(text, S)
    assert remove_block(text) == text.replace(render_block(S), "")  # down still works


# --- ERL_EPMD_PORT moves EPMD off the port the firewall keeps on the mesh ---

@pytest.mark.parametrize("settings", [S, OTHER])
def test_user_erl_epmd_port_is_disabled(settings):
    original = "-env ERL_EPMD_PORT 4370\n-env ERL_EPMD_PORTS x\n"
    out = apply_block(original, settings)
    assert out == (render_block(settings) + "# meshbeam: disabled, conflicts with the managed -env ERL_EPMD_PORT: "
                   "-env ERL_EPMD_PORT 4370\n-env ERL_EPMD_PORTS x\n")
    assert remove_block(out) == original


# --- allow list and atoms ---

def test_allow_text_matches_quoting_each_name_whatever_the_cache_holds():
    nodes = tuple(f"app@198.18.0.{i}" for i in range(1, 40))
    for own in ("meshbeam_ctl@198.18.0.1", "app@198.18.0.3", "app@198.18.0.1"):
        names = nodes + (own,)
        assert allow_text(names) == ",".join(erl_atom(n) for n in dict.fromkeys(names))
    assert allow_text(("a@b",)) == "'a@b'"
    assert allow_text(("a@b", "a@b")) == "'a@b'"
    for bad in (nodes + ("x y@z",), ("x y@z",) + nodes):
        with pytest.raises(ValueError):
            allow_text(bad)


@pytest.mark.parametrize("name, want", [
    ("app@198.18.0.1", "'app@198.18.0.1'"),
    ("", "''"),
    ("it's\\", "'it\\'s\\\\'"),
    ("é@x", "'é@x'"),
    ("a" * 255, "'" + "a" * 255 + "'"),
])
def test_erl_atom(name, want):
    assert erl_atom(name) == want


@pytest.mark.parametrize("name", ["a\nb", "a\0", "\x1f", "a" * 256, "'" * 256])
def test_erl_atom_refuses(name):
    with pytest.raises(ValueError):
        erl_atom(name)


# --- golden: the managed block as it is written to vm.args ---

GOLDEN_ALLOW = ("app@198.18.0.1", "app@198.18.0.2", "web@198.18.0.3", "laptop@198.18.0.9")


@pytest.mark.parametrize("name, settings", [
    ("vmargs/block-name.txt", DistSettings("app@198.18.0.1", "198.18.0.1", 9100, "mesh",
                                           GOLDEN_ALLOW + ("meshbeam_ctl@198.18.0.1",))),
    ("vmargs/block-epmd-none.txt", DistSettings("web@198.18.0.3", "198.18.0.3", 9200, "none",
                                                GOLDEN_ALLOW + ("meshbeam_ctl@198.18.0.3",))),
    ("vmargs/block-mix-release.txt", DistSettings("app@198.18.0.2", "198.18.0.2", 9100, "mesh",
                                                  GOLDEN_ALLOW + ("meshbeam_ctl@198.18.0.2",), name_flag=False)),
    ("vmargs/block-identity.txt", DistSettings("app@198.18.0.1", "198.18.0.1", 9100, "mesh",
                                               GOLDEN_ALLOW + ("meshbeam_ctl@198.18.0.1",),
                                               extra=distmod.VM_ARGS_LINES)),
])
def test_block_golden(golden, name, settings):
    golden(name, render_block(settings))


def test_relx_file_golden(golden):
    golden("vmargs/relx-applied.txt", apply_block(RELX + "-env ERL_EPMD_PORT 4370\n", S))


# --- names bound to keys: the block names meshbeam_dist ---

IDENTITY = DistSettings("app@198.18.0.1", "198.18.0.1", allow=("app@198.18.0.1",), extra=distmod.VM_ARGS_LINES)


def test_a_users_proto_dist_is_disabled_only_when_the_block_sets_one():
    user = "-proto_dist inet_tls\n-pa /srv/app/extra\n+sbwt none\n"
    bound = apply_block(user, IDENTITY)
    assert DISABLED + "-proto_dist: -proto_dist inet_tls\n" in bound
    assert "\n-pa /srv/app/extra\n" in bound  # a user's -pa only adds to the code path: kept
    assert "-proto_dist meshbeam\n-pa /etc/meshbeam/ebin\n" in bound
    assert remove_block(bound) == user
    plain = apply_block(user, replace(IDENTITY, extra=()))
    assert "\n-proto_dist inet_tls\n" in plain and "meshbeam_dist" not in plain and "/etc/meshbeam" not in plain


@pytest.mark.parametrize("line", ["-proto_dist meshbeam; halt", "-pa /etc/x -pa /tmp", "", "+K true"])
def test_an_extra_block_line_is_one_flag_and_one_plain_argument(line):
    with pytest.raises(ValueError, match="one flag and one plain argument"):
        replace(IDENTITY, extra=(line,))
