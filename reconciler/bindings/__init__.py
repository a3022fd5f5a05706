"""Loading and validating the declared inventory (the binding files), keeping file:line for every item.

Every loader here follows one skeleton (docs/architecture.md, "Adding a binding file"):

1. `open_binding(path, root, expected)` → `BindingFile`: exists → load → mapping. An absent file is an
   empty `present=False` file (the optional surfaces), an empty file an empty mapping, anything but a
   mapping at the top a `BindingsError` naming the file.
2. `BindingFile.section(key, shape)` → the list (or mapping) at `key`, None when absent; another shape is
   a `BindingsError` at the key's line. `BindingFile.mapping(key)` is an optional sub-mapping (`defaults:`).
3. `Problems` collects the loader's `invalid` findings, all of one shape (`invalid`); `named_entries`
   walks a list of mappings that each need a name key and reports the entries that are not.
4. Items are frozen dataclasses with the `Located` mixin (`source` + `field_lines`, from `key_lines`).

Also shared: `display_path` (how a file is named in findings) and `text` (an optional scalar as text).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from ..errors import BindingsError, located
from ..model import Finding, Kind, Severity, SourceRef, Subject
from ..record import record
from ..yamlio import YList, YMap, load_yaml_file

_SHAPE_NAMES = {YList: "list", YMap: "mapping"}


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


def key_lines(item: YMap) -> dict[str, int]:
    """key → line of one loaded mapping, as a `Located` item's `field_lines`."""
    return {str(key): line for key, line in item.key_lines.items()}


class Located:
    """Mixin for a binding item with `source` (its own line) and `field_lines` (key → line)."""

    __slots__ = ()
    source: SourceRef
    field_lines: Mapping[str, int]

    def source_of(self, name: str) -> SourceRef:
        """file:line of one key of the item, falling back to the item's own line."""
        return SourceRef(self.source.file, self.field_lines.get(name, self.source.line))


@record
class BindingFile:
    """One binding file, opened: its top-level mapping (empty when the file is absent or empty)."""

    path: Path
    shown: str  # as named in findings
    data: YMap = field(default_factory=YMap)
    present: bool = False

    def section(self, key: str, shape: type | tuple[type, ...] = YList, within: YMap | None = None) -> Any:
        """The value at `key` (of `within`, default the top level) when it has `shape`; None when absent."""
        holder = self.data if within is None else within
        value = holder.get(key)
        if value is None:
            return None
        if not isinstance(value, shape):
            shapes = shape if isinstance(shape, tuple) else (shape,)
            wanted = " or a ".join(_SHAPE_NAMES.get(s, s.__name__) for s in shapes)
            raise BindingsError(f"{located(self.path, holder.line_of(key))}: '{key}' must be a {wanted}")
        return value

    def mapping(self, key: str, within: YMap | None = None) -> YMap:
        """An optional sub-mapping such as `defaults:`: empty when absent or not a mapping."""
        value = (self.data if within is None else within).get(key)
        return value if isinstance(value, YMap) else YMap()


def open_binding(path: Path, root: Path, expected: str, *, required: bool = False) -> BindingFile:
    """exists → load → mapping. `expected` says what the top level holds, for the error (`a 'vms:' list`)."""
    shown = display_path(path, root)
    if not required and not path.exists():
        return BindingFile(path, shown)
    data = load_yaml_file(path)  # a required file that is absent is a one-line BindingsError here
    if data is None:
        return BindingFile(path, shown, YMap(), present=True)
    if not isinstance(data, YMap):
        raise BindingsError(f"{path}: expected a YAML mapping with {expected}")
    return BindingFile(path, shown, data, present=True)


def invalid(rule: str, subject: Subject, shown: str, line: int, field: str, message: str, hint: str,
            extra: tuple[SourceRef, ...] = ()) -> Finding:
    """An `invalid` finding of a binding file, citing `shown:line` (and any `extra` places)."""
    return Finding(kind=Kind.INVALID, rule=rule, subject=subject, message=message, field=field,
                   sources=(SourceRef(shown, line), *extra), hint=hint, severity=Severity.ERROR)


class Problems:
    """The one collector of a loader's `invalid` findings.

    A problem about a known item names it through `subject`; one that cannot be tied to an item is
    addressed by its `item_type` and the name given (else its line).
    """

    def __init__(self, rule: str, site: str, shown: str, item_type: str = "binding") -> None:
        self.rule, self.site, self.shown, self.item_type = rule, site, shown, item_type
        self.found: list[Finding] = []
        self._unnamed: dict[str, int] = {}

    def add(self, line: int, field: str, message: str, hint: str, *, name: str | None = None,
            subject: Subject | None = None, extra: tuple[SourceRef, ...] = (), entry: Any = None) -> None:
        """One `invalid` finding at `line`. Without `name` or `subject`, `entry` (the offending item) names it."""
        if subject is None:
            subject = Subject(type=self.item_type, site=self.site, target=self.shown,
                              name=name or self._unnamed_name(entry, field, message))
        self.found.append(invalid(self.rule, subject, self.shown, line, field, message, hint, extra))

    def _unnamed_name(self, entry: Any, field: str, message: str) -> str:
        """`entry-<digest of its content>`: the id of a finding must not change when unrelated lines move, so
        an entry that cannot name itself is named by what it says, never by its line; equal entries count up."""
        basis = _canonical(entry) if entry is not None else f"{field}|{message}"
        name = "entry-" + hashlib.sha256(basis.encode()).hexdigest()[:10]
        seen = self._unnamed[name] = self._unnamed.get(name, 0) + 1
        return name if seen == 1 else f"{name}-{seen}"

    def about(self, type: str, **keys: Any) -> Subject:
        """A subject of this site (`type` plus its identifying keys)."""
        return Subject(type=type, site=self.site, **keys)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.found)

    def __len__(self) -> int:
        return len(self.found)


def named_entries(items: YList | None, problems: Problems, key: str, what: str) -> Iterator[tuple[int, YMap, str]]:
    """(line, entry, name) of each mapping in `items` with a non-empty text `key`; the others are problems.

    `what` names one entry in messages ("backup target").
    """
    for index, item in enumerate(items or ()):
        line = items.line_of(index)
        if not isinstance(item, YMap):
            problems.add(line, "item", f"each {what} must be a mapping", "fix the list entry's indentation",
                         entry=item)
            continue
        name = item.get(key)
        if not isinstance(name, str) or not name.strip():
            problems.add(line, key, f"{what} has no '{key}'", f"add '{key}:' to the entry at {problems.shown}:{line}",
                         entry=item)
            continue
        yield line, item, name


def _canonical(value: Any) -> str:
    """A loaded YAML value as text that does not depend on key order or on where it was written."""
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k!r}:{_canonical(v)}" for k, v in sorted(value.items(), key=lambda kv: repr(kv[0])))\
            + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    return repr(value)
