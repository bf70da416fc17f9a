"""Lint of a vm.args text: the mistakes Erlang accepts silently or that break boot (pure)."""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from .vmargs import Token, flags, kernel_pairs, nul_line, tokenize
from .vmargs_includes import included_conflicts

# Keys documented in kernel_app(6) (OTP 25-27) plus the undocumented ones OTP 25.2's kernel
# reads (found in its abstract code). Erlang accepts any other key without a word.
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

_EMPTY_ALLOW = re.compile(r"net_kernel\s*:\s*allow\s*\(\s*\[\s*\]\s*\)")
_FLAG_FINDINGS = {
    "-cookie": ("obsolete-cookie", "-cookie: obsolete and ignored; put the cookie in ~/.erlang.cookie (mode 0400)"),
    "-setcookie": ("setcookie", "-setcookie: the cookie shows in ps even from an args file; "
                                "use ~/.erlang.cookie (mode 0400)"),
}


@dataclass(frozen=True)
class Finding:
    line: int
    code: str
    message: str


def _join(toks: Sequence[Token]) -> str:
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


def _lint_kernel(args: Sequence[Token], seen: dict[str, tuple[int, str]]) -> list[Finding]:
    out = []
    for key, vals in kernel_pairs(args):
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


def _lint_listen(kernel: dict[str, tuple[int, str]]) -> list[Finding]:
    given = [end for end in ("min", "max") if f"inet_dist_listen_{end}" in kernel]
    if len(given) != 1:
        return []
    end, other = ("min", "max") if given == ["min"] else ("max", "min")
    why = "(max defaults to min); set both" if end == "min" else "so the listen port is random"
    return [Finding(kernel[f"inet_dist_listen_{end}"][0], "listen-min-max",
                    f"-kernel inet_dist_listen_{end}: set without inet_dist_listen_{other}, {why}")]


def lint(text: str, *, bind_address: str | None = None,
         included: Mapping[str, str | None] | None = None) -> list[Finding]:
    """Mistakes in a vm.args text that Erlang accepts silently or that break boot.

    With `included` (the texts of the files -args_file pulls in; the contract is
    vmargs_includes.included_conflicts'), distribution settings in those files are reported at the
    line of vm.args that pulls them in. Without it, included files are not looked at.
    """
    out: list[Finding] = []
    nul = nul_line(text)
    if nul is not None:
        out.append(Finding(nul, "nul-byte", "a NUL byte: erlexec stops reading the file there, "
                                            "every line after it is ignored; remove it"))
    kernel: dict[str, tuple[int, str]] = {}
    names = []
    for g in flags(tokenize(text)):
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
    if included is not None:
        out += [Finding(c.line, "args-file", c.detail) for c in included_conflicts(text, included)]
    return sorted(out, key=lambda f: (f.line, f.code))
