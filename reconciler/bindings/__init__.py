"""Loading and validating the declared inventory (the binding files), keeping file:line for every item.

Shared by every loader here: `display_path` (how a file is named in findings), `text` (an optional scalar as
text), `Located` (an item that can cite the line of each of its keys) and `invalid` (the one shape of a
loader's `invalid` finding).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..model import Finding, Kind, Severity, SourceRef, Subject


def display_path(path: Path, root: Path) -> str:
    """How a binding file is named in findings: relative to the bindings root when inside it."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def text(value: Any) -> str | None:
    """An optional scalar of a binding item as text: None when absent or empty."""
    if value is None or value == "":
        return None
    return str(value)


class Located:
    """Mixin for a binding item with `source` (its own line) and `field_lines` (key → line)."""

    __slots__ = ()
    source: SourceRef
    field_lines: Mapping[str, int]

    def source_of(self, name: str) -> SourceRef:
        """file:line of one key of the item, falling back to the item's own line."""
        return SourceRef(self.source.file, self.field_lines.get(name, self.source.line))


def invalid(rule: str, subject: Subject, shown: str, line: int, field: str, message: str, hint: str,
            extra: tuple[SourceRef, ...] = ()) -> Finding:
    """An `invalid` finding of a binding file, citing `shown:line` (and any `extra` places)."""
    return Finding(kind=Kind.INVALID, rule=rule, subject=subject, message=message, field=field,
                   sources=(SourceRef(shown, line), *extra), hint=hint, severity=Severity.ERROR)
