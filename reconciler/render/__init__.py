"""Renderers: a `Report` in, text out. No I/O here: the CLI decides where the text goes."""

from __future__ import annotations

import re

# C0 controls (newline included), DEL and C1 controls: live data (guest names, compose paths, error texts)
# could otherwise move the cursor, retitle the terminal or forge whole report lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """`text` with every control character shown as an escape (`\\n`, `\\x1b`), never acted on."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


def md_text(text: object) -> str:
    """`printable(text)` with what Markdown would turn into markup inside a sentence escaped."""
    return re.sub(r"([\\`*<>\[\]])", r"\\\1", printable(text))


def md_cell(text: object) -> str:
    """`md_text` for a table cell (a pipe would end the cell)."""
    return md_text(text).replace("|", "\\|")
