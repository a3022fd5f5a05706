"""YAML as text, for surgical edits: safe scalars, the value token of a `key: value` line, block extents.

Nothing here parses a whole document: the planner gets line numbers from `yamlio` and edits those lines; every
produced file is parsed again before it is offered (`patch.validate`), so a case this module misjudges is refused,
never emitted.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..record import record
from ..yamlscalar import bool_or_number, double_quoted, single_quoted

MAX_SCALAR_CHARS = 4096  # a live value longer than this is refused rather than written into a binding file

# A plain scalar we are sure of: starts with a letter or digit (or `/`, `~`, `.`), then no character YAML gives
# a meaning to in a value (no `: `, ` #`, flow indicators, quotes). The loader must read it back as the same string.
_PLAIN = re.compile(r"[A-Za-z0-9/~.][A-Za-z0-9_./~@+=-]*")
_KEY_LINE = r"^(?P<indent>[ ]*)(?P<dash>(?:-[ ]+)*)(?P<key>{key})[ ]*:(?P<gap>[ ]+)"


class Refused(Exception):
    """This one finding cannot be fixed safely (the reason is shown beside it)."""


def _resolves_to_itself(text: str) -> bool:
    try:
        return yaml.safe_load(text) == text
    except yaml.YAMLError:
        return False


def scalar(value: Any, style: str = "plain") -> str:
    """A YAML scalar for `value` (str, int, float, bool) that reads back as exactly `value`.

    `style` is the quoting of the value it replaces (`plain`, `single`, `double`): kept when it can hold the
    new value, else double quotes, which hold anything."""
    number = bool_or_number(value)
    if number is not None:
        return number
    if not isinstance(value, str):
        raise Refused(f"cannot write a {type(value).__name__} value")
    if not value:
        raise Refused("the live value is empty")
    if len(value) > MAX_SCALAR_CHARS:
        raise Refused(f"the live value is {len(value)} characters long (more than {MAX_SCALAR_CHARS})")
    if style == "single":
        quoted = single_quoted(value)
        if quoted is not None:
            return quoted
    if style == "plain" and _PLAIN.fullmatch(value) and _resolves_to_itself(value):
        return value
    return double_quoted(value)


@record
class ValueToken:
    """Where the value of `key: value` sits on its line."""

    start: int  # column of the value's first character
    end: int  # column after its last character (a trailing comment and spaces follow untouched)
    style: str  # plain, single, double


def value_token(line: str, key: str) -> ValueToken:
    """The scalar value of `key` on `line` (a line `key: value`, `- key: value`, with an optional comment)."""
    body = line.rstrip("\r\n")
    match = re.match(_KEY_LINE.format(key=re.escape(key)), body)
    if match is None:
        raise Refused(f"the line does not read '{key}: <value>'")
    start = match.end()
    rest = body[start:]
    if not rest or rest[0] in "|>[{&*!%@`#":
        raise Refused(f"the value of '{key}' is not a one-line scalar")
    if rest[0] == '"':
        end = _closing_double(rest)
        style = "double"
    elif rest[0] == "'":
        end = _closing_single(rest)
        style = "single"
    else:
        comment = re.search(r"[ \t]#", rest)
        end = len((rest[:comment.start()] if comment else rest).rstrip())
        style = "plain"
    tail = rest[end:]
    if tail.strip() and not tail.lstrip().startswith("#"):
        raise Refused(f"unexpected text after the value of '{key}'")
    if tail and not tail[0].isspace():
        raise Refused(f"unexpected text after the value of '{key}'")
    return ValueToken(start, start + end, style)


def _closing_double(rest: str) -> int:
    index = 1
    while index < len(rest):
        if rest[index] == "\\":
            index += 2
            continue
        if rest[index] == '"':
            return index + 1
        index += 1
    raise Refused("a double-quoted value continues on the next line")


def _closing_single(rest: str) -> int:
    index = 1
    while index < len(rest):
        if rest[index] == "'":
            if index + 1 < len(rest) and rest[index + 1] == "'":
                index += 2
                continue
            return index + 1
        index += 1
    raise Refused("a single-quoted value continues on the next line")


def replace_value(line: str, key: str, value: Any) -> str:
    """`line` with the value of `key` replaced by `value`, in the old value's quoting style when it can hold it;
    the indentation, the key, the spaces and a trailing comment stay as they were."""
    token = value_token(line, key)
    return line[:token.start] + scalar(value, token.style) + line[token.end:]


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def is_content(line: str) -> bool:
    """A line that is neither blank nor only a comment."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def key_column(line: str) -> int:
    """The column of the first key on `line`, after any `- ` of a sequence item."""
    match = re.match(r"^([ ]*(?:-[ ]+)*)", line)
    return len(match.group(1)) if match else 0


def item_end(lines: list[str], first: int) -> int:
    """The last content line (1-based) of the block-sequence item that starts on line `first` (`- key: ...`):
    its content is indented past its dash; comments and blank lines after it are not part of it."""
    dash = indent_of(lines[first - 1])
    last = first
    for number in range(first + 1, len(lines) + 1):
        text = lines[number - 1]
        if not is_content(text):
            continue
        if indent_of(text) <= dash:
            break
        last = number
    return last
