"""vm.args as erlexec reads it, and the block meshbeam manages in it (pure: text in, text out).

The tokenizer follows the args-file reader of erlexec as observed on OTP 25.2 (Debian 12),
which is what relx and mix releases feed vm.args through: whitespace separates arguments,
`#` outside quotes starts a comment to the end of the line (even mid-word), a backslash
outside quotes makes the next character literal (a newline too), and '...' / "..." group
with no escapes inside and are removed. `$VAR` is not expanded. erlexec holds the file as a
C string, so a NUL ends it: nothing after a NUL is read.

Where the block goes. With two occurrences of a flag in one args file, erl 25.2.3 keeps:
the first `-kernel inet_dist_use_interface`, `inet_dist_listen_min` and `_max` (the first
occurrence of a kernel parameter wins; only net_ticktime took the last); the first `-name`
(with a "Multiple -name" warning); but the last `-env VAR`, a `-sname` wherever it stands,
and no `-erl_epmd_port` at all when there are two (the port is then random). So the block
goes first in the file, before any flag, where nothing the user writes can override the
kernel parameters and name it sets; the flags whose position does not decide (`-sname`,
`-env ERL_EPMD_*`, `-erl_epmd_port`, ...) are commented out in the user's lines, and a file
pulled in with `-args_file` that sets one of them is refused.

Also here: the flags a roaming peer's `erl` joins with (join_commands), which add-peer prints.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .errors import ContentError

if TYPE_CHECKING:
    from .inventory import Mesh

MARK_BEGIN = "## meshbeam:begin (managed by meshbeam; edits inside are overwritten)"
MARK_END = "## meshbeam:end"
# How meshbeam marks a user line it turned off (vm.args: a comment; env.sh: `: #`, see
# envsh.apply_env_sh) and a line it re-added with the parts that did not conflict.
DISABLED = "# meshbeam: disabled, conflicts with the managed "
KEPT = "  # meshbeam: kept from the disabled line above"

_NODE = re.compile(r"[A-Za-z0-9_-]+@[A-Za-z0-9_.-]+")
_SPACE = " \t\n\r\f\v"
_SPECIAL = set(_SPACE) | set("#\\\"'")
# Whitespace and comments between arguments; then the pieces one argument is glued from:
# plain text, a quoted part (its quote may run to the end of the file), an escaped character.
_GAP = re.compile(r"(?:[ \t\n\r\f\v]+|#[^\n]*)+")
_PART = re.compile(r"""[^ \t\n\r\f\v#\\'"]+|'([^']*)'?|"([^"]*)"?|\\([\s\S]?)""")
# Flags that decide the node name, cookie, listen address/port or EPMD: the block owns them.
_OWNED_FLAGS = {"-name", "-sname", "-setcookie", "-cookie", "-start_epmd", "-erl_epmd_port"}
# ERL_EPMD_PORT moves EPMD off 4369, the port the firewall keeps on the mesh.
_OWNED_ENV = {"ERL_EPMD_ADDRESS", "ERL_EPMD_PORT"}
# erl_epmd_node_listen_port (OTP 27+) overrides -erl_epmd_port and the listen range.
OWNED_KERNEL = {"inet_dist_use_interface", "inet_dist_listen_min", "inet_dist_listen_max",
                 "erl_epmd_node_listen_port"}
# With identity binding on, the block names the distribution module too: a user's own
# -proto_dist (inet_tls, inet6_tcp) would replace meshbeam_dist, so it is disabled like -name.
DIST_FLAGS = _OWNED_FLAGS | {"-proto_dist"}



@dataclass(frozen=True)
class Token:
    text: str
    line: int  # 1-based line where the token starts
    end: int  # line of its last character (an escaped or quoted newline moves it on)


@dataclass(frozen=True)
class DistSettings:
    node: str
    address: str
    port: int = 9100
    epmd: str = "mesh"
    allow: tuple[str, ...] = ()
    name_flag: bool = True  # False for a mix release: its start script passes --name from RELEASE_NODE
    extra: tuple[str, ...] = ()  # more block lines, one flag each: distmod.VM_ARGS_LINES when names are bound to keys

    def __post_init__(self) -> None:
        check_node(self.node)
        try:
            ip = ipaddress.IPv4Address(self.address)
        except ValueError:
            raise ValueError(f"mesh address {self.address!r} is not an IPv4 address") from None
        if str(ip) != self.address or ip.is_unspecified:
            raise ValueError(f"mesh address {self.address!r} must be one canonical IPv4 address")
        if self.node.split("@", 1)[1] != self.address:
            raise ValueError(f"node {self.node} must be named after its mesh address {self.address}")
        if type(self.port) is not int or not 1 <= self.port <= 65535 or self.port == 4369:
            raise ValueError(f"distribution port {self.port!r} must be 1..65535 and not 4369 (EPMD)")
        if self.epmd not in ("mesh", "none"):
            raise ValueError(f"epmd must be 'mesh' or 'none', not {self.epmd!r}")
        if not self.allow:
            # allow([]) changes nothing: every cookie holder stays allowed.
            raise ValueError("the allow list is empty; net_kernel:allow([]) would allow everyone")
        allow_text(self.allow)  # checks every name
        for line in self.extra:
            if not re.fullmatch(r"-[a-z_]+ [A-Za-z0-9_/.]+", line):
                raise ValueError(f"extra block line {line!r} must be one flag and one plain argument")

    @property
    def owned_flags(self) -> frozenset[str]:
        """The flags of the user's lines that the block overrides (a user's -pa only adds to the path)."""
        return frozenset(_OWNED_FLAGS | (DIST_FLAGS & {line.split()[0] for line in self.extra}))


def check_node(name: str) -> None:
    if not isinstance(name, str) or not _NODE.fullmatch(name):
        raise ValueError(f"{name!r} is not a full node name like app@198.18.0.1")


_PLAIN_ATOM = re.compile(r"[^\x00-\x1f'\\]{0,255}")
_CONTROL = re.compile(r"[\x00-\x1f]")


def erl_atom(name: str) -> str:
    """`name` as a quoted Erlang atom: 'app@198.18.0.1'."""
    if _PLAIN_ATOM.fullmatch(name):
        return f"'{name}'"
    if len(name) > 255 or _CONTROL.search(name):
        raise ValueError(f"{name!r} cannot be an atom (at most 255 printable characters)")
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


@functools.lru_cache(maxsize=8)
def _atoms(names: tuple[str, ...]) -> tuple[str, frozenset[str]]:
    """The names checked, deduplicated in order and quoted, joined by commas; and their set."""
    unique = dict.fromkeys(names)
    for n in unique:
        check_node(n)
    return ",".join(map(erl_atom, unique)), frozenset(unique)


def allow_text(names: tuple[str, ...]) -> str:
    """The inside of `net_kernel:allow([...])` for `names` (checked, deduplicated, quoted).

    Every host's list is the cluster's names followed by that host's own control node, so
    all but the last name are the same for every host: caching on them quotes the cluster
    once per render instead of once per host.
    """
    names = tuple(names)
    text, seen = _atoms(names[:-1])
    own = names[-1]
    if own in seen:
        return text
    check_node(own)
    return f"{text},{erl_atom(own)}" if text else erl_atom(own)


def tokenize(text: str) -> list[Token]:
    """The arguments erlexec reads from `text` as an args file, with their lines."""
    text = text.split("\0", 1)[0]
    toks: list[Token] = []
    pos, line, size = 0, 1, len(text)
    while True:
        gap = _GAP.match(text, pos)
        if gap:
            line += text.count("\n", pos, gap.end())
            pos = gap.end()
        if pos >= size:
            return toks
        start, parts = pos, []
        while part := _PART.match(text, pos):
            parts.append(part.group(part.lastindex) if part.lastindex else part.group())
            pos = part.end()
        newlines = text.count("\n", start, pos)
        toks.append(Token("".join(parts), line, line + newlines))
        line += newlines


def nul_line(text: str) -> int | None:
    """The line of the first NUL in `text`, where erlexec stops reading; None without one."""
    at = text.find("\0")
    return None if at < 0 else text.count("\n", 0, at) + 1


def flags(toks: Sequence[Token]) -> list[tuple[Token, ...]]:
    """Group tokens into flag + arguments, as init does: a token starting with - or + opens a
    flag. `-env` takes exactly two arguments (erlexec); after `-extra` all is plain."""
    groups: list[list[Token]] = []
    for t in toks:
        head = groups[-1][0].text if groups else None
        if head is not None and (head == "-extra" or (head == "-env" and len(groups[-1]) < 3)
                                 or not t.text.startswith(("-", "+"))):
            groups[-1].append(t)
        else:
            groups.append([t])
    return [tuple(g) for g in groups]


def _depth(term: str) -> int:
    """Open brackets left in an Erlang term, skipping strings and quoted atoms."""
    depth, quote, esc = 0, "", False
    for c in term:
        if esc:
            esc = False
        elif quote:
            esc = c == "\\"
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        else:
            depth += (c in "{[(") - (c in "}])")
    return depth


def kernel_pairs(args: Sequence[Token]) -> list[tuple[Token, tuple[Token, ...]]]:
    """(key, value tokens) per -kernel pair. A value split by spaces (`{198, 18,0,1}`) keeps
    all its pieces, so they are not read as keys. A trailing key has no value tokens."""
    pairs, i = [], 0
    while i < len(args):
        j = min(i + 2, len(args))  # the value is args[i + 1:j]
        while j < len(args) and _depth(" ".join(t.text for t in args[i + 1:j])) > 0:
            j += 1
        pairs.append((args[i], tuple(args[i + 1:j])))
        i = j
    return pairs


def _split(group: tuple[Token, ...], owned: frozenset[str]) -> tuple[list[str], list[str]]:
    """(labels of what conflicts with the block, argument texts to keep)."""
    head, args = group[0].text, [t.text for t in group[1:]]
    if head in owned:
        return [head], []
    if head == "-env" and args[:1] and args[0] in _OWNED_ENV:
        return [f"-env {args[0]}"], []
    pairs = kernel_pairs(group[1:]) if head == "-kernel" else []
    owned = [k.text for k, _ in pairs if k.text in OWNED_KERNEL]
    if not owned:
        return [], [head, *args]
    kept = [t.text for k, v in pairs if k.text not in OWNED_KERNEL for t in (k, *v)]
    return [f"-kernel {k}" for k in owned], (["-kernel", *kept] if kept else [])


def _quote(arg: str) -> str:
    """Write `arg` so erlexec reads it back as exactly one argument."""
    if arg and not _SPECIAL & set(arg):
        return arg
    if "'" not in arg:
        return f"'{arg}'"
    if '"' not in arg:
        return f'"{arg}"'
    return "".join("\\" + c if c in _SPECIAL else c for c in arg)


def text_lines(text: str) -> list[str]:
    """Lines with their "\\n" (only "\\n": str.splitlines would also split on \\f, \\v ...)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def find_block(lines: list[str]) -> tuple[int, int] | None:
    """Index range [begin, end] of the managed block's lines, or None."""
    begins = [i for i, ln in enumerate(lines) if ln.strip().startswith(MARK_BEGIN.split(" (")[0])]
    ends = [i for i, ln in enumerate(lines) if ln.strip() == MARK_END]
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ContentError("the meshbeam block markers are damaged (need one begin, then one end); fix by hand")
    return begins[0], ends[0]


def render_block(s: DistSettings) -> str:
    """The managed block: one flag per line at line start, since relx greps `^-setcookie`,
    `^-kernel  *inet_dist_use_interface` and one -name line."""
    tuple_ = "{" + s.address.replace(".", ",") + "}"  # no spaces: `{198, 18,...}` fails boot
    epmd = ([f"-env ERL_EPMD_ADDRESS {s.address}"] if s.epmd == "mesh"
            else ["-start_epmd false", f"-erl_epmd_port {s.port}"])
    return "\n".join([
        MARK_BEGIN,
        *([f"-name {s.node}"] if s.name_flag else []),
        f"-kernel inet_dist_use_interface {tuple_}",
        f"-kernel inet_dist_listen_min {s.port} inet_dist_listen_max {s.port}",
        *epmd,
        *s.extra,
        # A failing -eval aborts boot, so a broken list fails closed.
        f'-eval "ok = net_kernel:allow([{allow_text(s.allow)}])"',
        MARK_END,
    ]) + "\n"


def _disable_conflicts(lines: list[str], owned: frozenset[str]) -> list[str]:
    """Comment out every line holding a flag the block owns; what else those lines held is
    re-added on one line after them (marked KEPT), so nothing of the user's is lost.
    The re-added line is glued to the entry before it, so indexes into `lines` stay valid."""
    units: list[list] = []  # [first line, last line, groups]: lines tied by tokens or flags
    for g in flags(tokenize("".join(lines))):
        first, last = g[0].line, max(t.end for t in g)
        if units and first <= units[-1][1]:
            units[-1][1] = max(units[-1][1], last)
            units[-1][2].append(g)
        else:
            units.append([first, last, [g]])
    out = list(lines)
    for first, last, groups in reversed(units):
        splits = [_split(g, owned) for g in groups]
        labels = [lab for labs, _ in splits for lab in labs]
        if not labels:
            continue
        last = min(last, len(out))
        for i in range(first - 1, last):
            out[i] = DISABLED + ", ".join(dict.fromkeys(labels)) + ": " + out[i]
        kept = " ".join(" ".join(map(_quote, k)) for _, k in splits if k)
        if kept:
            if "\n" in kept:
                raise ContentError(f"line {first}: an argument holds a newline; split that line by hand")
            end = "\n" if out[last - 1].endswith("\n") else ""
            out[last - 1] += ("" if end else "\n") + kept + KEPT + end
    return out


def apply_block(original: str, s: DistSettings) -> str:
    """Put the managed block first in a vm.args text and disable the user lines it overrides.

    An existing block, wherever it stands, moves to the top. Everything else stays byte for
    byte. Idempotent, and remove_block undoes it. Raises ValueError for a NUL byte (erlexec
    would silently drop what follows). Files pulled in with -args_file are vmargs_includes'.
    """
    nul = nul_line(original)
    if nul is not None:
        raise ContentError(f"vm.args line {nul} has a NUL byte: erlexec stops reading there; remove it")
    lines = text_lines(original)
    found = find_block(lines)
    if found:
        del lines[found[0]:found[1] + 1]
    return render_block(s) + "".join(_disable_conflicts(lines, s.owned_flags))


def remove_block(text: str) -> str:
    """Drop the block, restore the lines meshbeam disabled, drop the lines it re-added.
    Serves vm.args and env.sh alike (env.sh's disabled lines start with `: `)."""
    lines = text_lines(text)
    found = find_block(lines)
    if found:
        del lines[found[0]:found[1] + 1]
    out: list[str] = []
    for ln in lines:
        body = ln[2:] if ln.startswith(": " + DISABLED) else ln
        if body.startswith(DISABLED) and ": " in body[len(DISABLED):]:
            out.append(body[len(DISABLED):].split(": ", 1)[1])
        elif ln.rstrip("\n").endswith(KEPT):
            if not ln.endswith("\n") and out:  # apply added that newline to the line above
                out[-1] = out[-1][:-1]
        else:
            out.append(ln)
    return "".join(out)


def join_commands(mesh: Mesh, node: str, cookie_file: str) -> list[str]:
    """How a roaming peer joins as a hidden node: no listening port, no EPMD of its own.

    `-dist_listen false` implies hidden and needs no local EPMD, since nothing registers.
    The cookie comes from ~/.erlang.cookie, never from the command line.
    """
    flags = "-dist_listen false -start_epmd false"
    if mesh.epmd == "none":
        flags += f" -erl_epmd_port {mesh.dist_port}"
    return [
        f"install -m 400 {cookie_file} ~/.erlang.cookie",
        f"erl -name {node} {flags}",
        f'iex --name {node} --erl "{flags}"',
    ]
