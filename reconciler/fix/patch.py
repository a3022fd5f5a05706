"""Line edits of binding files: applied in memory, checked by parsing the result, rendered as a unified diff.

Every edit names lines of the file as it is on disk (1-based): a replacement of one line, or lines inserted after
one. The files are never written: `apply` returns the new text, `unified_diff` the patch `git apply` takes.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReconcileError
from ..record import record
from ..yamlio import parse_yaml
from .yamltext import Refused


@record
class Edit:
    """One change of one binding file, for one finding."""

    file: str  # relative to the bindings root, as findings show it
    line: int  # the line replaced, or (old is None) the line after which `new` is inserted
    old: str | None  # the replaced line's text (without its newline); None for an insertion
    new: str  # the new text (several lines joined by "\n" for an insertion)
    finding: str  # the id of the finding it resolves

    def to_data(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "old": self.old, "new": self.new, "finding": self.finding}


def plain(value: Any) -> Any:
    """YMap / YList as plain dicts and lists (for comparing what a file says)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


@record
class Change:
    """What an edit does to the file's data: `path` set to `value`, or `value` inserted into the list at `path`
    after the item that was at original index `after` (insert=True)."""

    path: tuple[Any, ...]
    value: Any
    insert: bool = False
    after: int = -1


@dataclass
class FileState:
    """One binding file: its text on disk, its data, and the edits accepted so far with the data they make."""

    rel: str
    text: str
    data: Any  # YMap/YList with lines, of the text on disk
    edits: list[Edit] = field(default_factory=list)
    expected: Any = None  # plain data after the accepted edits
    inserted: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)  # list path → `after` of its inserts

    def __post_init__(self) -> None:
        self.lines = self.text.splitlines(keepends=True)
        self.newline = "\r\n" if self.lines and self.lines[0].endswith("\r\n") else "\n"
        if self.expected is None:
            self.expected = plain(self.data)

    def line(self, number: int) -> str:
        return self.lines[number - 1].rstrip("\r\n")

    def propose(self, edits: Sequence[Edit], changes: Sequence[Change]) -> None:
        """Accept `edits` if the file they make parses to exactly the accepted data plus `changes`; else Refused."""
        taken = {e.line for e in self.edits if e.old is not None}
        for edit in edits:
            if edit.old is not None and edit.line in taken:
                raise Refused(f"another fix already changes {self.rel}:{edit.line}")
            if edit.old is not None and self.line(edit.line) != edit.old:
                raise Refused(f"{self.rel}:{edit.line} is not the line expected")
        expected = copy.deepcopy(self.expected)
        inserted = {path: list(afters) for path, afters in self.inserted.items()}
        for change in changes:
            expected = _changed(expected, change, inserted)
        text = apply(self.text, [*self.edits, *edits])
        try:
            got = plain(parse_yaml(text, self.rel))
        except ReconcileError as exc:
            raise Refused(f"the patched {self.rel} would not parse ({exc})") from None
        if got != expected:
            raise Refused(f"the patched {self.rel} would not read back as exactly the intended data")
        self.edits.extend(edits)
        self.expected, self.inserted = expected, inserted

    def save(self) -> tuple[list[Edit], Any, dict[tuple[Any, ...], list[int]]]:
        return list(self.edits), copy.deepcopy(self.expected), copy.deepcopy(self.inserted)

    def restore(self, saved: tuple[list[Edit], Any, dict[tuple[Any, ...], list[int]]]) -> None:
        self.edits, self.expected, self.inserted = list(saved[0]), saved[1], saved[2]

    @property
    def new_text(self) -> str:
        return apply(self.text, self.edits)


def _changed(data: Any, change: Change, inserted: dict[tuple[Any, ...], list[int]]) -> Any:
    *parents, last = change.path
    node, walked = data, ()
    for key in parents:
        node = node[_shifted(node, walked, key, inserted)]
        walked = (*walked, key)
    if not change.insert:
        node[_shifted(node, walked, last, inserted)] = copy.deepcopy(change.value)
        return data
    target = node[_shifted(node, walked, last, inserted)]
    if not isinstance(target, list):
        raise Refused("the place to insert into is not a list")
    afters = inserted.setdefault(tuple(change.path), [])
    index = change.after + 1 + sum(1 for a in afters if a <= change.after)
    target.insert(index, copy.deepcopy(change.value))
    afters.append(change.after)
    return data


def _shifted(node: Any, walked: tuple[Any, ...], key: Any, inserted: dict[tuple[Any, ...], list[int]]) -> Any:
    """An index into a list as it was on disk, moved past the items inserted before it."""
    if isinstance(node, list) and isinstance(key, int):
        return key + sum(1 for after in inserted.get(walked, ()) if after < key)
    return key


def apply(text: str, edits: Iterable[Edit]) -> str:
    """`text` with the edits made (replacements in place, insertions after their line in the order given)."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    replaced: dict[int, str] = {}
    inserts: dict[int, list[str]] = {}
    for edit in edits:
        if edit.old is None:
            inserts.setdefault(edit.line, []).extend(edit.new.split("\n"))
        else:
            replaced[edit.line] = edit.new
    out: list[str] = []
    for number in range(0, len(lines) + 1):
        if number:
            original = lines[number - 1]
            ending = original[len(original.rstrip("\r\n")):]
            if number in replaced:
                out.append(replaced[number] + ending)
            else:
                out.append(original)
        if inserts.get(number):
            if out and not out[-1].endswith("\n"):
                out[-1] += newline
            out.extend(line + newline for line in inserts[number])
    return "".join(out)


def unified_diff(rel: str, old: str, new: str) -> str:
    """The patch of one file, `a/` and `b/` prefixed, as `git apply` (from the bindings root) takes it."""
    if old == new:
        return ""
    out = []
    for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     fromfile=f"a/{rel}", tofile=f"b/{rel}", n=3):
        if line.endswith("\n"):
            out.append(line)
        else:  # the file's last line has no newline
            out.append(line + "\n\\ No newline at end of file\n")
    return f"diff --git a/{rel} b/{rel}\n" + "".join(out)
