"""One YAML scalar as text: the quoting both writers of YAML use (`reconcile fix`'s in-place edits and
`plan-vm`'s stubs), so a value reads back as exactly itself whoever writes it.

Standard library only, and pure (no file is read): `plan/stubs` may use it.
"""

from __future__ import annotations


def _printable(ch: str) -> bool:
    code = ord(ch)
    if ch in "\t":
        return False
    if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFEFF, 0x2028, 0x2029):
        return False
    return code <= 0x10FFFF and ch.isprintable()


def double_quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar on one line: every character that is not printable escaped."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _printable(ch):
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def single_quoted(text: str) -> str | None:
    """`text` single-quoted, or None when single quotes cannot hold it on one line."""
    if not all(_printable(ch) for ch in text):
        return None
    return "'" + text.replace("'", "''") + "'"


def bool_or_number(value: object) -> str | None:
    """The plain scalar of a bool, int or float (an integral float as an int); None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None
