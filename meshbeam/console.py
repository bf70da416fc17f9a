"""Output for the command line: rich's Console, imported only for a line that needs it.

Importing rich costs about as much as the rest of an `add-host` on a thousand hosts, and most
commands print only plain lines. A plain line (printable ASCII, no `[` that could be markup,
no `:word:` that could be an emoji code) is printed by rich exactly as given: no style, no
wrap (soft wrap), nothing stripped. So such lines are written to the stream directly, and
anything else (markup, tables, progress displays) goes through rich as before.
"""

from __future__ import annotations

import re
import sys
from typing import Any

_EMOJI_CODE = re.compile(r":\S*:")  # what rich could replace as an emoji code


def plain(text: str) -> bool:
    """True when rich would print `text` unchanged."""
    return "[" not in text and text.isascii() and text.isprintable() and not _EMOJI_CODE.search(text)


class Console:
    """A rich.console.Console made on first need, with the same options and `print`."""

    def __init__(self, *, stderr: bool = False, soft_wrap: bool = False, **options: Any) -> None:
        self._stderr, self._soft_wrap = stderr, soft_wrap
        self._options = {"stderr": stderr, "soft_wrap": soft_wrap, **options}
        self._rich: Any = None

    @property
    def rich(self) -> Any:
        if self._rich is None:
            from rich.console import Console as RichConsole

            self._rich = RichConsole(**self._options)
        return self._rich

    @property
    def is_terminal(self) -> bool:
        return self.rich.is_terminal

    def print(self, obj: Any = "", *, markup: bool | None = None, end: str = "\n",
              soft_wrap: bool | None = None) -> None:
        wraps = not (self._soft_wrap if soft_wrap is None else soft_wrap)
        if isinstance(obj, str) and not wraps and plain(obj) and end in ("\n", ""):
            stream = sys.stderr if self._stderr else sys.stdout
            stream.write(obj + end)
            stream.flush()
        else:
            self.rich.print(obj, markup=markup, end=end, soft_wrap=soft_wrap)
