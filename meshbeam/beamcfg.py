"""vm.args and env.sh editing for Erlang distribution on the mesh (pure: text in, text out).

The tokenizer follows the args-file reader of erlexec as observed on OTP 25.2 (Debian 12),
which is what relx and mix releases feed vm.args through: whitespace separates arguments,
`#` outside quotes starts a comment to the end of the line (even mid-word), a backslash
outside quotes makes the next character literal (a newline too), and '...' / "..." group
with no escapes inside and are removed. `$VAR` is not expanded. A NUL ends the file.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from typing import Sequence

MARK_BEGIN = "## meshbeam:begin (managed by meshbeam; edits inside are overwritten)"
MARK_END = "## meshbeam:end"
# How meshbeam marks a user line it turned off (vm.args: a comment; env.sh: `: #`, see
# apply_env_sh) and a line it re-added with the parts that did not conflict.
DISABLED = "# meshbeam: disabled, conflicts with the managed "
KEPT = "  # meshbeam: kept from the disabled line above"

_NODE = re.compile(r"[A-Za-z0-9_-]+@[A-Za-z0-9_.-]+")
_SPACE = " \t\n\r\f\v"
_SPECIAL = set(_SPACE) | set("#\\\"'")
# Flags that decide the node name, cookie, listen address/port or EPMD: the block owns them.
_OWNED_FLAGS = {"-name", "-sname", "-setcookie", "-cookie", "-start_epmd", "-erl_epmd_port"}
# erl_epmd_node_listen_port (OTP 27+) overrides -erl_epmd_port and the listen range.
_OWNED_KERNEL = {"inet_dist_use_interface", "inet_dist_listen_min", "inet_dist_listen_max",
                 "erl_epmd_node_listen_port"}
# Keys documented in kernel_app(6) (OTP 25-27) plus the undocumented ones OTP 25.2's kernel
# reads (found in its abstract code). Anything else is accepted silently by Erlang (beam-facts).
KERNEL_PARAMS = frozenset("""
    boot_server_slaves check_ip connect_all dist_auto_connect dist_nodelay distributed
    epmd_module erl_epmd_node_listen_port error_logger error_logger_format_depth
    gethost_extra_args gethost_poolsize gethost_prioritize global_connect_retries
    global_groups global_multi_name_action inet_backend inet_default_connect_options
    inet_default_listen_options inet_dist_connect_options inet_dist_listen_max
    inet_dist_listen_min inet_dist_listen_options inet_dist_use_interface inet_dns_when_nis
    inet_parse_error_log inet_warnings inetrc logger logger_default_metadata logger_level
    logger_metadata logger_sasl_compatible net_setuptime net_ticker_spawn_options
    net_tickintensity net_ticktime permissions prevent_overlapping_partitions shell_docs_ansi
    shell_history shell_history_drop shell_history_file_bytes shell_history_path
    shutdown_func shutdown_timeout source_search_rules standard_io_encoding
    start_boot_server start_compile_server start_disk_log start_dist_ac start_distribution
    start_pg start_timer sync_nodes_mandatory sync_nodes_optional sync_nodes_timeout
""".split())


@dataclass(frozen=True)
class Token:
    text: str
    line: int  # 1-based line where the token starts


@dataclass(frozen=True)
class _Tok:
    text: str
    line: int
    end: int  # line of its last character, counting an escaped/quoted newline as moving on


@dataclass(frozen=True)
class Finding:
    line: int
    code: str
    message: str


@dataclass(frozen=True)
class DistSettings:
    node: str
    address: str
    port: int = 9100
    epmd: str = "mesh"
    allow: tuple[str, ...] = ()
    name_flag: bool = True  # False for a mix release: its start script passes --name from RELEASE_NODE

    def __post_init__(self) -> None:
        _check_node(self.node)
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
            # allow([]) changes nothing: every cookie holder stays allowed (beam-facts).
            raise ValueError("the allow list is empty; net_kernel:allow([]) would allow everyone")
        for n in self.allow:
            _check_node(n)


def _check_node(name: str) -> None:
    if not isinstance(name, str) or not _NODE.fullmatch(name):
        raise ValueError(f"{name!r} is not a full node name like app@198.18.0.1")


def _scan(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    buf: list[str] | None = None
    start = line = 1
    quote, escaped, comment = "", False, False
    for ch in text.split("\0", 1)[0]:
        if comment:
            comment = ch != "\n"
        elif quote:
            if ch == quote:
                quote = ""
            else:
                buf.append(ch)  # type: ignore[union-attr]
        elif escaped:
            buf.append(ch)  # type: ignore[union-attr]
            escaped = False
        elif ch in _SPACE or ch == "#":
            if buf is not None:
                toks.append(_Tok("".join(buf), start, line))
                buf = None
            comment = ch == "#"
        else:
            if buf is None:
                buf, start = [], line
            if ch == "\\":
                escaped = True
            elif ch in "\"'":
                quote = ch
            else:
                buf.append(ch)
        if ch == "\n":
            line += 1
    if buf is not None:
        toks.append(_Tok("".join(buf), start, line))
    return toks


def tokenize(text: str) -> list[Token]:
    """The arguments erlexec reads from `text` as an args file, with their start lines."""
    return [Token(t.text, t.line) for t in _scan(text)]


def _flags(toks: list[_Tok]) -> list[tuple[_Tok, ...]]:
    """Group tokens into flag + arguments, as init does: a token starting with - or + opens a
    flag. `-env` takes exactly two arguments (erlexec); after `-extra` all is plain."""
    groups: list[list[_Tok]] = []
    for t in toks:
        head = groups[-1][0].text if groups else None
        if head is not None and (head == "-extra" or (head == "-env" and len(groups[-1]) < 3)
                                 or not t.text.startswith(("-", "+"))):
            groups[-1].append(t)
        else:
            groups.append([t])
    return [tuple(g) for g in groups]


def _split(group: tuple[_Tok, ...]) -> tuple[list[str], list[str]]:
    """(labels of what conflicts with the block, argument texts to keep)."""
    head, args = group[0].text, [t.text for t in group[1:]]
    if head in _OWNED_FLAGS:
        return [head], []
    if head == "-env" and args[:1] == ["ERL_EPMD_ADDRESS"]:
        return ["-env ERL_EPMD_ADDRESS"], []
    pairs = _kernel_pairs(group[1:]) if head == "-kernel" else []
    owned = [k.text for k, _ in pairs if k.text in _OWNED_KERNEL]
    if not owned:
        return [], [head, *args]
    kept = [t.text for k, v in pairs if k.text not in _OWNED_KERNEL for t in (k, *v)]
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


def _lines(text: str) -> list[str]:
    """Lines with their "\\n" (only "\\n": str.splitlines would also split on \\f, \\v ...)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _find_block(lines: list[str]) -> tuple[int, int] | None:
    """Index range [begin, end] of the managed block's lines, or None."""
    begins = [i for i, ln in enumerate(lines) if ln.strip().startswith(MARK_BEGIN.split(" (")[0])]
    ends = [i for i, ln in enumerate(lines) if ln.strip() == MARK_END]
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError("the meshbeam block markers are damaged (need one begin, then one end); fix by hand")
    return begins[0], ends[0]


def render_block(s: DistSettings) -> str:
    """The managed block: one flag per line at line start, since relx greps `^-setcookie`,
    `^-kernel  *inet_dist_use_interface` and one -name line (beam-facts)."""
    tuple_ = "{" + s.address.replace(".", ",") + "}"  # no spaces: `{198, 18,...}` fails boot
    epmd = ([f"-env ERL_EPMD_ADDRESS {s.address}"] if s.epmd == "mesh"
            else ["-start_epmd false", f"-erl_epmd_port {s.port}"])
    allow = ",".join(erl_atom(n) for n in dict.fromkeys(s.allow))
    return "\n".join([
        MARK_BEGIN,
        *([f"-name {s.node}"] if s.name_flag else []),
        f"-kernel inet_dist_use_interface {tuple_}",
        f"-kernel inet_dist_listen_min {s.port} inet_dist_listen_max {s.port}",
        *epmd,
        # A failing -eval aborts boot, so a broken list fails closed (beam-facts).
        f'-eval "ok = net_kernel:allow([{allow}])"',
        MARK_END,
    ]) + "\n"


def _disable_conflicts(lines: list[str]) -> list[str]:
    """Comment out every line holding a flag the block owns; what else those lines held is
    re-added on one line after them (marked KEPT), so nothing of the user's is lost.
    The re-added line is glued to the entry before it, so indexes into `lines` stay valid."""
    units: list[list] = []  # [first line, last line, groups]: lines tied by tokens or flags
    for g in _flags(_scan("".join(lines))):
        first, last = g[0].line, max(t.end for t in g)
        if units and first <= units[-1][1]:
            units[-1][1] = max(units[-1][1], last)
            units[-1][2].append(g)
        else:
            units.append([first, last, [g]])
    out = list(lines)
    for first, last, groups in reversed(units):
        splits = [_split(g) for g in groups]
        labels = [lab for labs, _ in splits for lab in labs]
        if not labels:
            continue
        last = min(last, len(out))
        for i in range(first - 1, last):
            out[i] = DISABLED + ", ".join(dict.fromkeys(labels)) + ": " + out[i]
        kept = " ".join(" ".join(map(_quote, k)) for _, k in splits if k)
        if kept:
            if "\n" in kept:
                raise ValueError(f"line {first}: an argument holds a newline; split that line by hand")
            end = "\n" if out[last - 1].endswith("\n") else ""
            out[last - 1] += ("" if end else "\n") + kept + KEPT + end
    return out


def _safe_spot(lines: list[str], index: int) -> bool:
    """Can the block go before lines[index] without landing inside an argument (a quote or
    escaped newline spanning lines) or after `-extra` (where flags are plain arguments)?"""
    for t in _scan("".join(lines)):
        if t.line <= index < t.end or (t.text == "-extra" and t.line <= index):
            return False
    return True


def apply_block(original: str, s: DistSettings) -> str:
    """Put the managed block into a vm.args text and disable the user lines it overrides.

    An existing block is replaced where it stands; otherwise (or if that spot became unsafe)
    the block goes first in the file, where nothing before it can swallow it.
    Everything else stays byte for byte. Idempotent, and remove_block undoes it.
    """
    lines = _lines(original)
    found = _find_block(lines)
    spot = 0
    if found:
        del lines[found[0]:found[1] + 1]
        spot = found[0] if _safe_spot(lines, found[0]) else 0
    lines = _disable_conflicts(lines)
    return "".join(lines[:spot]) + render_block(s) + "".join(lines[spot:])


def remove_block(text: str) -> str:
    """Drop the block, restore the lines meshbeam disabled, drop the lines it re-added."""
    lines = _lines(text)
    found = _find_block(lines)
    if found:
        del lines[found[0]:found[1] + 1]
    out: list[str] = []
    for ln in lines:
        body = ln[2:] if ln.startswith(": " + DISABLED) else ln  # env.sh form
        if body.startswith(DISABLED) and ": " in body[len(DISABLED):]:
            out.append(body[len(DISABLED):].split(": ", 1)[1])
        elif ln.rstrip("\n").endswith(KEPT):
            if not ln.endswith("\n") and out:  # apply added that newline to the line above
                out[-1] = out[-1][:-1]
        else:
            out.append(ln)
    return "".join(out)


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


def _kernel_pairs(args: tuple[_Tok, ...]) -> list[tuple[_Tok, tuple[_Tok, ...]]]:
    """(key, value tokens) per -kernel pair. A value split by spaces (`{198, 18,0,1}`) keeps
    all its pieces, so they are not read as keys. A trailing key has no value tokens."""
    pairs, i = [], 0
    while i < len(args):
        j = min(i + 2, len(args))  # the value is args[i + 1:j]
        while j < len(args) and _depth(_join(args[i + 1:j])) > 0:
            j += 1
        pairs.append((args[i], args[i + 1:j]))
        i = j
    return pairs


def _join(toks: Sequence[_Tok]) -> str:
    return " ".join(t.text for t in toks)


def _tuple_address(term: str) -> str | None:
    """`{198,18,0,1}` (or an IPv6 8-tuple) as an address string; None if it is not one."""
    try:
        nums = [int(p) for p in term.replace(" ", "").strip("{}").split(",")]
        packed = bytes(nums) if len(nums) == 4 else b"".join(n.to_bytes(2, "big") for n in nums)
        return str(ipaddress.ip_address(packed))
    except (ValueError, OverflowError):
        return None


def _same_host(host: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(address)
    except ValueError:
        return host == address


_EMPTY_ALLOW = re.compile(r"net_kernel\s*:\s*allow\s*\(\s*\[\s*\]\s*\)")
_FLAG_FINDINGS = {
    "-cookie": ("obsolete-cookie", "-cookie: obsolete and ignored; put the cookie in ~/.erlang.cookie (mode 0400)"),
    "-setcookie": ("setcookie", "-setcookie: the cookie shows in ps even from an args file; "
                                "use ~/.erlang.cookie (mode 0400)"),
}


def _lint_kernel(args: tuple[_Tok, ...], seen: dict[str, tuple[int, str]]) -> list[Finding]:
    out = []
    for key, vals in _kernel_pairs(args):
        value = _join(vals)
        seen[key.text] = (key.line, value)
        if key.text not in KERNEL_PARAMS:
            near = difflib.get_close_matches(key.text, sorted(KERNEL_PARAMS), n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            out.append(Finding(key.line, "unknown-kernel-param",
                               f"-kernel {key.text}: not a kernel parameter, Erlang ignores it silently{hint}"))
        if len(vals) > 1:
            out.append(Finding(vals[0].line, "space-in-term",
                               f"-kernel {key.text}: spaces split {value} into {len(vals)} arguments; boot fails "
                               f"(bad_environment_value), write it without spaces"))
    return out


def lint(text: str, *, bind_address: str | None = None) -> list[Finding]:
    """Mistakes in a vm.args text that Erlang accepts silently or that break boot."""
    out: list[Finding] = []
    kernel: dict[str, tuple[int, str]] = {}
    names = []
    for g in _flags(_scan(text)):
        flag, line = g[0].text, g[0].line
        if flag == "-kernel":
            out += _lint_kernel(g[1:], kernel)
        elif flag in _FLAG_FINDINGS:
            out.append(Finding(line, *_FLAG_FINDINGS[flag]))
        elif flag == "-eval" and _EMPTY_ALLOW.search(_join(g[1:])):
            out.append(Finding(line, "empty-allow", "-eval: net_kernel:allow([]) changes nothing, "
                                                    "every node with the cookie stays allowed"))
        elif flag == "-name" and len(g) > 1:
            names.append(g[1])
    out += _lint_listen(kernel)
    expected = [(bind_address, "the bind address")] if bind_address else []
    if "inet_dist_use_interface" in kernel:
        addr = _tuple_address(kernel["inet_dist_use_interface"][1])
        expected += [(addr, "inet_dist_use_interface")] if addr else []
    for node in names:
        host = node.text.partition("@")[2]
        out += [Finding(node.line, "name-address-mismatch",
                        f"-name {node.text}: host {host or '(none)'} differs from {what} {addr}; "
                        f"peers would dial {host or 'it'}, not the address it listens on")
                for addr, what in expected if not _same_host(host, addr)]
    return sorted(out, key=lambda f: (f.line, f.code))


def _lint_listen(kernel: dict[str, tuple[int, str]]) -> list[Finding]:
    given = [end for end in ("min", "max") if f"inet_dist_listen_{end}" in kernel]
    if len(given) != 1:
        return []
    end, other = ("min", "max") if given == ["min"] else ("max", "min")
    why = "(max defaults to min); set both" if end == "min" else "so the listen port is random"
    return [Finding(kernel[f"inet_dist_listen_{end}"][0], "listen-min-max",
                    f"-kernel inet_dist_listen_{end}: set without inet_dist_listen_{other}, {why}")]


def erl_atom(name: str) -> str:
    """`name` as a quoted Erlang atom: 'app@198.18.0.1'."""
    if len(name) > 255 or any(ord(c) < 32 for c in name):
        raise ValueError(f"{name!r} cannot be an atom (at most 255 printable characters)")
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libcluster_topology(nodes: Sequence[str], *, name: str = "meshbeam") -> str:
    """An Elixir `config :libcluster` snippet listing the nodes for Cluster.Strategy.Epmd."""
    if not re.fullmatch(r"[a-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"topology name {name!r} must be a plain lowercase Elixir atom")
    if not nodes:
        raise ValueError("a libcluster topology needs at least one node")
    for n in nodes:
        _check_node(n)  # also guarantees no `"`, `\` or `#{` inside the atom literal
    hosts = ",\n".join(f'          :"{n}"' for n in dict.fromkeys(nodes))
    return (f"config :libcluster,\n  topologies: [\n    {name}: [\n"
            f"      strategy: Cluster.Strategy.Epmd,\n      config: [\n        hosts: [\n"
            f"{hosts}\n        ]\n      ]\n    ]\n  ]\n")


# One complete simple assignment on its own line, nothing else: safe to neutralise.
_SH_ASSIGN = re.compile(r"[ \t]*(?:export[ \t]+)?(RELEASE_DISTRIBUTION|RELEASE_NODE|RELEASE_COOKIE)="
                        r"""(?:'[^']*'|"[^"\\`]*"|[^\s'"\\`;&|<>()#])*[ \t]*(?:#.*)?""")


def apply_env_sh(original: str, node: str) -> str:
    """Set RELEASE_DISTRIBUTION=name and RELEASE_NODE in a mix release's env.sh.

    The block goes at the end (an existing one stays put): the last assignment wins in sh,
    so it also beats assignments we leave alone (in conditionals, after `;`). A lone
    assignment of RELEASE_DISTRIBUTION/NODE/COOKIE becomes `: # meshbeam: disabled, ...`:
    a no-op command, not a bare comment, so an `if` it was the only statement of stays
    valid sh. (A heredoc line that looks like one would be rewritten too.)
    """
    _check_node(node)
    block = f"{MARK_BEGIN}\nexport RELEASE_DISTRIBUTION=name\nexport RELEASE_NODE={node}\n{MARK_END}\n"
    lines = _lines(original)
    found = _find_block(lines)
    if found:
        del lines[found[0]:found[1] + 1]
    for i, ln in enumerate(lines):
        m = _SH_ASSIGN.fullmatch(ln.rstrip("\r\n"))
        continued = i > 0 and lines[i - 1].rstrip("\r\n").endswith("\\")
        if m and not continued:
            lines[i] = f": {DISABLED}{m.group(1)}: {ln}"
    spot = found[0] if found else len(lines)
    if spot == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines[:spot]) + block + "".join(lines[spot:])
