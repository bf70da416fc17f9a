"""Files a vm.args pulls in with `-args_file`, as erlexec expands them (pure: texts in, findings out).

An included file comes after the managed block, where `-env` and `-sname` still win; it is not
meshbeam's to rewrite, so any distribution setting there is refused rather than overridden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from .errors import ContentError
from .vmargs import DIST_FLAGS, OWNED_KERNEL, flags, kernel_pairs, nul_line, tokenize

# erlexec follows -args_file without a limit (a file that includes itself loops forever);
# the walk stops here and says so.
MAX_INCLUDE_DEPTH = 8


@dataclass(frozen=True)
class Included:
    """A distribution setting found in a file that vm.args pulls in with -args_file."""

    line: int  # the line of vm.args whose -args_file leads to it
    path: str  # the file where it was found
    path_line: int  # its line in that file (0 when it is about the file as a whole)
    what: str

    @property
    def detail(self) -> str:
        where = f"{self.path} line {self.path_line}" if self.path_line else self.path
        return f"-args_file {where}: {self.what}"

    def __str__(self) -> str:
        return f"vm.args line {self.line}: {self.detail}"


def _includes(text: str) -> list[tuple[int, str]]:
    """(line, path) of every `-args_file PATH` erlexec expands in `text`."""
    toks = tokenize(text)
    plain = [t.text for t in toks]
    if "-extra" in plain:
        toks = toks[:plain.index("-extra")]
    return [(t.line, n.text) for t, n in zip(toks, toks[1:]) if t.text == "-args_file"]


def included_files(text: str) -> list[str]:
    """The paths `text` pulls in with -args_file, in order, as written (quotes removed).

    erlexec expands `-args_file PATH` wherever the token stands before `-extra`, even as
    another flag's argument; a relative PATH is opened from erl's working directory, not
    from the directory of the file that names it.
    """
    return [path for _, path in _includes(text)]


def _managed_in(text: str) -> list[tuple[int, str]]:
    """(line, label) of every distribution setting in an included args file."""
    out = []
    for g in flags(tokenize(text)):
        head, args = g[0].text, g[1:]
        if head in DIST_FLAGS:
            out.append((g[0].line, head))
        elif head == "-env" and args and args[0].text.startswith("ERL_EPMD_"):
            out.append((g[0].line, f"-env {args[0].text}"))
        elif head == "-kernel":
            out += [(k.line, f"-kernel {k.text}") for k, _ in kernel_pairs(args)
                    if k.text.startswith("inet_dist_") or k.text in OWNED_KERNEL]
    return out


def included_conflicts(text: str, included: Mapping[str, str | None]) -> list[Included]:
    """Distribution settings in the files vm.args `text` pulls in with -args_file, followed
    to MAX_INCLUDE_DEPTH.

    Contract for `included`: a mapping from each path exactly as included_files() returns it
    (for vm.args and, recursively, for every included file) to that file's text, or to None
    when the file could not be read (erl then refuses to start). A path the mapping lacks is
    reported as not checked, so the caller must read every file the walk reaches: call
    included_files() on each text read and fetch those paths too. The caller resolves
    relative paths (erlexec opens them from erl's working directory) and must not follow
    symlinks it should not.
    """
    out: list[Included] = []

    def walk(body: str, chain: tuple[str, ...], top: int) -> None:
        for line, path in _includes(body):
            where = top or line
            if path in chain:
                out.append(Included(where, path, 0, "includes itself; erlexec would loop forever"))
            elif len(chain) >= MAX_INCLUDE_DEPTH:
                out.append(Included(where, path, 0, f"-args_file nested deeper than {MAX_INCLUDE_DEPTH}"))
            elif not path.startswith("/"):
                out.append(Included(where, path, 0, "a relative path is opened from erl's working directory, "
                                                     "which meshbeam cannot know: write it as an absolute path"))
            elif path not in included:
                out.append(Included(where, path, 0, "not checked (its text was not given)"))
            elif (sub := included[path]) is None:
                out.append(Included(where, path, 0, "cannot be read; erl refuses to start"))
            else:
                nul = nul_line(sub)
                if nul is not None:
                    out.append(Included(where, path, nul, "has a NUL byte: erlexec stops reading there"))
                out.extend(Included(where, path, n, f"sets {label}, which meshbeam manages in vm.args; "
                                                    "remove it there") for n, label in _managed_in(sub))
                walk(sub, chain + (path,), where)

    walk(text, (), 0)
    return out


def check(text: str, included: Mapping[str, str | None]) -> None:
    """Raise ContentError naming the first of included_conflicts, if any."""
    conflicts = included_conflicts(text, included)
    if conflicts:
        raise ContentError(str(conflicts[0]))


def gather(text: str, read: Callable[[str], str | None]) -> dict[str, str | None]:
    """The texts of every absolute path reachable from `text` through -args_file, each read once with `read`
    (None: it cannot be read), to MAX_INCLUDE_DEPTH: the mapping included_conflicts takes."""
    found: dict[str, str | None] = {}
    todo = [(text, 0)]
    while todo:
        body, depth = todo.pop()
        for path in included_files(body) if depth < MAX_INCLUDE_DEPTH else ():
            if path.startswith("/") and path not in found:
                found[path] = read(path)
                todo.append((found[path] or "", depth + 1))
    return found
