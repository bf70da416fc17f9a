"""A mix release's env.sh: the managed block that names the node (pure: text in, text out).

vmargs.remove_block undoes apply_env_sh too.
"""

from __future__ import annotations

import re

from .vmargs import DISABLED, MARK_BEGIN, MARK_END, check_node, find_block, text_lines

# One complete simple assignment on its own line, nothing else: safe to neutralise.
_SH_ASSIGN = re.compile(r"[ \t]*(?:export[ \t]+)?(RELEASE_DISTRIBUTION|RELEASE_NODE|RELEASE_COOKIE|RELEASE_MODE)="
                        r"""(?:'[^']*'|"[^"\\`]*"|[^\s'"\\`;&|<>()#])*[ \t]*(?:#.*)?""")


def apply_env_sh(original: str, node: str, *, interactive: bool = False) -> str:
    """Set RELEASE_DISTRIBUTION=name and RELEASE_NODE in a mix release's env.sh.

    With `interactive`, also RELEASE_MODE=interactive: a release boots in embedded mode by
    default, where only the modules of its boot script can load, so distribution could not
    load meshbeam_dist from -pa and the node would not start. The start script reads env.sh
    before it defaults RELEASE_MODE, so the block's export wins.

    The block goes at the end (an existing one stays put): the last assignment wins in sh,
    so it also beats assignments we leave alone (in conditionals, after `;`). A lone
    assignment of RELEASE_DISTRIBUTION/NODE/COOKIE becomes `: # meshbeam: disabled, ...`:
    a no-op command, not a bare comment, so an `if` it was the only statement of stays
    valid sh. (A heredoc line that looks like one would be rewritten too.) RELEASE_MODE is
    disabled only when the block sets it.
    """
    check_node(node)
    mode = "export RELEASE_MODE=interactive\n" if interactive else ""
    block = f"{MARK_BEGIN}\nexport RELEASE_DISTRIBUTION=name\nexport RELEASE_NODE={node}\n{mode}{MARK_END}\n"
    lines = text_lines(original)
    found = find_block(lines)
    if found:
        del lines[found[0]:found[1] + 1]
    for i, ln in enumerate(lines):
        m = _SH_ASSIGN.fullmatch(ln.rstrip("\r\n"))
        continued = i > 0 and lines[i - 1].rstrip("\r\n").endswith("\\")
        if m and not continued and (interactive or m.group(1) != "RELEASE_MODE"):
            lines[i] = f": {DISABLED}{m.group(1)}: {ln}"
    spot = found[0] if found else len(lines)
    if spot == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines[:spot]) + block + "".join(lines[spot:])
