"""Shell commands built from typed parts, so that no value reaches a shell unquoted.

Every script meshbeam sends to a host is a `Cmd`. Its parts are:

- `Sh("...")`: a literal fragment of shell. Its argument is typed `LiteralString`: only a
  constant written in meshbeam's source may be one (a type checker refuses anything else),
  so a reviewer reads every fragment of shell that can ever run in this code base.
- `str` (and `int`): a value, always quoted with shlex.quote when rendered.
- `Secret(value)`: a value, quoted for the host and shown as *** to people and in logs.
- `B64(data, secret)`: bytes as base64 lines (the body of a here-document), masked when secret.
- another `Cmd`, spliced in as it is.

`sh("mv -T -f {} {}", tmp, target)` fills each `{}` of a constant template with one part.
`.render()` is what the host runs; `.shown()` is what people and logs may see.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import LiteralString, Union


@dataclass(frozen=True)
class Sh:
    """A fragment of shell written in meshbeam's source, never built from a value."""

    text: LiteralString


@dataclass(frozen=True)
class Secret:
    value: str


@dataclass(frozen=True)
class B64:
    """Bytes as base64 lines: only [A-Za-z0-9+/=] and newlines reach the shell."""

    data: bytes
    secret: bool = False


Part = Union[Sh, Secret, B64, "Cmd", str, int]


def _quote(value: str) -> str:
    if "\0" in value:  # a shell word cannot hold NUL: refuse rather than cut the value short
        raise ValueError("a value for the shell contains a NUL byte")
    return shlex.quote(value)


class Cmd:
    """A shell command or script: parts concatenated in order (see the module's docstring)."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Part) -> None:
        for p in parts:
            if isinstance(p, bool) or not isinstance(p, (Sh, Secret, B64, Cmd, str, int)):
                raise TypeError(f"not a command part: {p!r}")
            if isinstance(p, str):
                _quote(p)  # fail at build time, not when rendered
        self.parts: tuple[Part, ...] = parts

    def _text(self, show: bool) -> str:
        out = []
        for p in self.parts:
            if isinstance(p, Sh):
                out.append(p.text)
            elif isinstance(p, Cmd):
                out.append(p._text(show))
            elif isinstance(p, Secret):
                out.append("'***'" if show else _quote(p.value))
            elif isinstance(p, B64):
                if show and p.secret:
                    out.append(f"(secret, {len(p.data)} bytes)")
                else:
                    out.append(base64.encodebytes(p.data).decode().rstrip("\n"))
            elif isinstance(p, int):
                out.append(str(p))
            else:
                out.append(_quote(p))
        return "".join(out)

    def render(self) -> str:
        """The text the host's shell runs."""
        return self._text(show=False)

    def shown(self) -> str:
        """The text people and logs see: secrets masked."""
        return self._text(show=True)

    def __add__(self, other: Cmd) -> Cmd:
        return Cmd(self, other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cmd) and self.render() == other.render()

    def __hash__(self) -> int:
        return hash(self.render())

    def __repr__(self) -> str:
        return f"Cmd({self.shown()!r})"

    def __contains__(self, text: str) -> bool:  # for tests and plan checks: `"wg-quick up" in cmd`
        return text in self.render()


def sh(template: LiteralString, *args: Part) -> Cmd:
    """A constant template whose every `{}` takes one part, in order."""
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        raise ValueError(f"template has {len(pieces) - 1} slots for {len(args)} parts: {template!r}")
    parts: list[Part] = [Sh(pieces[0])]  # type: ignore[arg-type]  # a slice of a literal is a literal
    for arg, piece in zip(args, pieces[1:]):
        parts += [arg, Sh(piece)]  # type: ignore[arg-type]
    return Cmd(*parts)


def join(cmds: Iterable[Cmd], sep: LiteralString = "\n") -> Cmd:
    parts: list[Part] = []
    for i, c in enumerate(cmds):
        parts += [Sh(sep), c] if i else [c]
    return Cmd(*parts)


def lines(*cmds: Cmd) -> Cmd:
    """A script: one command per line, ending with a newline."""
    return join(cmds) + Cmd(Sh("\n"))
