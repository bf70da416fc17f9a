"""The facts script (pure): each kind of fact as its shell command and its parser side by side.

As in pyinfra's facts, a kind has a `command` (what the host runs) and a `process` (what its output
means), but every kind answers in the one script that `facts_script` builds, so reading a host costs
one round trip whatever the query asks (remote.gather sends it).

The records are lines whose first word names their kind. Each names what it is about by its index in
the Query's own lists, never by echoing a path or a name back: a value holding a newline cannot forge a
line. Host text that is not a fixed token (file contents, passwd lines, directory entries) travels as
base64. A line that no kind expects is an error, never skipped.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import ClassVar

from . import hostlib
from .command import Cmd, join, lines, sh
from .errors import RemoteError
from .plantypes import Facts, FileFact, Query

_TOKEN = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_INDEX = re.compile(r"(\d+)")
_INDEX_B64 = re.compile(r"(\d+) ([A-Za-z0-9+/=]*)")


class Kind:
    """One kind of fact: its lines of the facts script, and the records they print."""

    RECORDS: ClassVar[dict[str, re.Pattern[str]]]  # a record's first word -> the rest of its line

    def __init__(self, q: Query) -> None:
        self.q = q

    def command(self) -> list[Cmd]:
        raise NotImplementedError

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        """Take one record; `more` yields the lines after it, for a record that spans two."""
        raise NotImplementedError


class Tools(Kind):
    """The query's tools found on the host's PATH."""

    RECORDS = {"tool": _INDEX}

    def __init__(self, q: Query) -> None:
        super().__init__(q)
        self.found: set[str] = set()

    def command(self) -> list[Cmd]:
        return [sh('command -v {} >/dev/null 2>&1 && echo "tool {}"', t, i) for i, t in enumerate(self.q.tools)]

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        self.found.add(self.q.tools[int(m[1])])


class Addrs(Kind):
    """The IPv4 addresses on the mesh interface."""

    RECORDS = {"addr": re.compile(r"([0-9./]+)")}

    def __init__(self, q: Query) -> None:
        super().__init__(q)
        self.found: list[str] = []

    def command(self) -> list[Cmd]:
        return [sh('ip -o -4 addr show dev {} 2>/dev/null | while read -r _ _ _ a _; do echo "addr $a"; done',
                   self.q.interface)]

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        self.found.append(str(ipaddress.IPv4Interface(m[1]).with_prefixlen))


class Flags(Kind):
    """The query's probes (plantypes.Flag) whose condition succeeded."""

    RECORDS = {"flag": _INDEX}

    def __init__(self, q: Query) -> None:
        super().__init__(q)
        self.found: set[str] = set()

    def command(self) -> list[Cmd]:
        # Two layers may ask one question under two names: the host answers it once.
        asked: dict[Cmd, list[int]] = {}
        for i, (_, cond) in enumerate(self.q.probes):
            asked.setdefault(cond, []).append(i)
        return [sh("if {}; then {}; fi", cond, join((sh('echo "flag {}"', i) for i in idx), "; "))
                for cond, idx in asked.items()]

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        self.found.add(self.q.probes[int(m[1])][0])


class Listings(Kind):
    """The entry names of the query's directories (none for a directory that is absent)."""

    RECORDS = {"list": _INDEX_B64}

    def __init__(self, q: Query) -> None:
        super().__init__(q)
        self.found: dict[str, tuple[str, ...]] = {}

    def command(self) -> list[Cmd]:
        return [sh('echo "list {} $(find {} -mindepth 1 -maxdepth 1 -printf \'%f\\0\' 2>/dev/null | base64 -w0)"',
                   i, d) for i, d in enumerate(self.q.listdirs)]

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        names = base64.b64decode(m[2]).decode(errors="replace").split("\0")
        self.found[self.q.listdirs[int(m[1])]] = tuple(n for n in names if n and "/" not in n and n not in (".", ".."))


class Users(Kind):
    """The home directories of the query's users that exist on the host."""

    RECORDS = {"user": _INDEX_B64}

    def __init__(self, q: Query) -> None:
        super().__init__(q)
        self.homes: dict[str, str] = {}

    def command(self) -> list[Cmd]:
        return [sh('echo "user {} $(getent passwd {} | base64 -w0)"', i, u) for i, u in enumerate(self.q.users)]

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        fields = base64.b64decode(m[2]).decode(errors="replace").rstrip("\n").split(":")
        if len(fields) >= 7 and fields[0] == self.q.users[int(m[1])]:
            self.homes[fields[0]] = fields[5]


class Erts(Kind):
    """The ERTS versions installed beside the erl on the host's PATH (its erts-VSN directories).

    Only directory names are read, never a file in them, and a name that is not a version is skipped.
    """

    RECORDS = {"erts": re.compile(r"([0-9][0-9.]*)")}

    def __init__(self, q: Query) -> None:
        super().__init__(q)
        self.found: list[str] = []

    def command(self) -> list[Cmd]:
        if not self.q.erl_erts:
            return []
        return [sh('if e=$(readlink -f "$(command -v erl)"); then for d in "${e%/bin/erl}"/erts-*; do '
                   'v=${d##*/erts-}; case $v in ""|*[!0-9.]*) ;; *) [ -d "$d" ] && echo "erts $v" ;; esac; done; fi')]

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        self.found.append(m[1])


def _file_path(p: str) -> Cmd:
    """Sets $f to a queried path; ~USER/REST is resolved through the host's passwd (hostlib's
    home_of), and is no path at all for a user without a home."""
    if p.startswith("~"):
        user, _, rest = p[1:].partition("/")
        return sh('f=; home_of {} && f="$home"/{}', user, rest)
    return sh("f={}", p)


class Files(Kind):
    """The query's paths, each read by hostlib's `fact` as the one who may act in its directory."""

    RECORDS = {
        **{word: _INDEX for word in ("nofile", "link", "other", "unreadable")},
        "actor": re.compile(rf"(\d+) ({_TOKEN})"),
        "file": re.compile(rf"(\d+) ([0-7]{{1,4}}) ({_TOKEN})"),  # its contents in base64 on the next line
    }
    PROBLEMS = {
        "link": "is a symbolic link",
        "other": "is not a regular file",
        "unreadable": "cannot be read by the user who owns its directory",
    }

    def __init__(self, q: Query) -> None:
        super().__init__(q)
        self.actors: dict[int, str] = {}
        self.found: dict[int, FileFact] = {}

    def command(self) -> list[Cmd]:
        return [sh('{}; case $f in /*) fact {} "$f" ;; *) echo "nofile {}" ;; esac', _file_path(p), i, i)
                for i, p in enumerate(self.q.paths)]

    def process(self, word: str, m: re.Match[str], more: Iterator[str]) -> None:
        i = int(m[1])
        path = self.q.paths[i]
        if word == "actor":
            self.actors[i] = m[2]
        elif word == "file":
            self.found[i] = FileFact(path, True, int(m[2], 8), m[3], base64.b64decode(next(more), validate=True))
        elif word == "nofile":
            self.found[i] = FileFact(path, False)
        else:
            self.found[i] = FileFact(path, True, problem=self.PROBLEMS[word])

    def files(self) -> dict[str, FileFact]:
        """Every queried path's fact, with who may act in its directory; a path the script skipped is an error."""
        out: dict[str, FileFact] = {}
        for i, p in enumerate(self.q.paths):
            actor = self.actors.get(i, "root")
            fact = self.found.get(i)
            if actor == "unsafe":
                fact = FileFact(p, True, problem="is in a directory that two users, or anyone, can change")
            elif fact is None:
                raise RemoteError(f"the facts script said nothing about {p}")
            out[p] = replace(fact, actor=actor)
        return out


def _kinds(q: Query) -> tuple[Tools, Addrs, Flags, Listings, Users, Erts, Files]:
    return Tools(q), Addrs(q), Flags(q), Listings(q), Users(q), Erts(q), Files(q)


def facts_script(q: Query) -> Cmd:
    """A read-only POSIX sh script whose output `parse_facts` understands: hostlib's functions, then every kind."""
    return lines(hostlib.COMMON, hostlib.FACTS, *(c for kind in _kinds(q) for c in kind.command()))


def parse_facts(output: str, q: Query) -> Facts:
    """The facts script's output -> Facts; a line no kind expects is an error, never skipped."""
    kinds = _kinds(q)
    tools, addrs, flags, listings, users, erts, files = kinds
    by_word = {word: (kind, pattern) for kind in kinds for word, pattern in kind.RECORDS.items()}
    it = iter(output.splitlines())
    try:
        for line in it:
            word, _, rest = line.partition(" ")
            kind, pattern = by_word.get(word, (None, None))
            m = pattern.fullmatch(rest) if pattern else None
            if kind is None or m is None:
                raise ValueError(line)
            kind.process(word, m, it)
    except (ValueError, IndexError, StopIteration, binascii.Error) as e:
        raise RemoteError(f"unexpected output from the facts script: {str(e)[:80]!r}") from None
    return Facts(tools=frozenset(tools.found), flags=frozenset(flags.found), iface_addrs=tuple(addrs.found),
                 homes=users.homes, files=files.files(), listings=listings.found, erl_erts=tuple(erts.found),
                 probed=frozenset(name for name, _ in q.probes))
