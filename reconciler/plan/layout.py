"""Where a new entry goes in a binding file, and how that file indents and spells its entries. Read-only.

`read_layout(path, parent)` composes the file (the same safe loader as the binding loaders, after they
have accepted the file) and walks to the collection `parent` names, e.g. ("ssh", "targets"):

- `insert_after_line`: the last line of that collection's last entry (1-based), so a pasted entry lands
  inside the collection even when other top-level keys follow it (SERVICE_REGISTRY.yaml's `hosts:` is
  followed by `infisical_projects:`); `at_end` says whether only blank or comment lines follow it, i.e.
  whether plain appending works;
- `indent`: the column of the collection's entries (the `-` of a list item, or a mapping key);
- `keys`: every key the existing entries use, to write the file's own spelling (`id` or `vmid`,
  `description` or `notes`);
- `missing`: the tail of `parent` that the file does not have yet (the stub then opens those keys).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..record import record
from ..yamlio import read_text

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
INDENT = 2  # the unit used for keys the file does not have yet


@record
class Layout:
    exists: bool
    insert_after_line: int | None  # None: append to the end of the file
    at_end: bool
    indent: int  # column of the stub's first line (the first missing key, else the entry)
    keys: frozenset[str] = frozenset()
    missing: tuple[str, ...] = ()  # keys of `parent` to open before the entry
    top_keys: tuple[str, ...] = ()  # the file's top-level keys, in order
    flow: bool = False  # the collection is written inline ([] or {}): the entry cannot simply be pasted


def read_layout(path: Path, parent: tuple[str, ...]) -> Layout:
    if not path.exists():
        return Layout(False, None, True, 0, missing=parent)
    text = read_text(path)
    lines = text.splitlines()
    root = yaml.compose(text, Loader=_Loader)
    if not isinstance(root, MappingNode):
        return Layout(True, None, True, 0, missing=parent)
    top_keys = tuple(k.value for k, _ in root.value if isinstance(k, ScalarNode))
    holder: Node = root
    found = 0
    for key in parent:
        value = _child(holder, key) if isinstance(holder, MappingNode) else None
        if value is None:
            break
        holder, found = value, found + 1
    missing = parent[found:]
    if found == 0:
        return Layout(True, None, True, 0, missing=missing, top_keys=top_keys)
    after, indent, flow = _place(holder, found, bool(missing))
    while 0 < after < len(lines) and not lines[after].strip():  # a block scalar's end counts its blank lines
        after -= 1
    return Layout(True, after + 1, _only_comments_after(lines, after + 1), indent, _entry_keys(holder), missing,
                  top_keys, flow)


def _child(mapping: MappingNode, key: str) -> Node | None:
    return next((v for k, v in mapping.value if isinstance(k, ScalarNode) and k.value == key), None)


def _place(holder: Node, depth: int, opening: bool) -> tuple[int, int, bool]:
    """(0-based last line of the holder's content, column for the new lines, inline collection?)."""
    if isinstance(holder, ScalarNode):  # `hosts:` with nothing under it yet
        return holder.start_mark.line, INDENT * depth, False
    if isinstance(holder, SequenceNode | MappingNode) and holder.flow_style:
        return holder.end_mark.line, INDENT * depth, True
    if not holder.value:
        return holder.start_mark.line, INDENT * depth, False
    first = holder.value[0]
    column = (first[0] if isinstance(holder, MappingNode) else holder).start_mark.column
    if opening:
        # a key the file lacks goes beside the holder's own entries (a mapping) at their column
        column = first[0].start_mark.column if isinstance(holder, MappingNode) else column
    return _last_line(holder), column, False


def _last_line(node: Node) -> int:
    """0-based line of the last character of `node`'s content (comments after it are not part of it)."""
    if isinstance(node, ScalarNode):
        end = node.end_mark
        # block scalars (| and >) end at the start of the line after them
        return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
    if isinstance(node, SequenceNode | MappingNode) and node.value and not node.flow_style:
        last = node.value[-1]
        return _last_line(last[1] if isinstance(node, MappingNode) else last)
    return node.end_mark.line


def _only_comments_after(lines: list[str], line_count: int) -> bool:
    return all(not text.strip() or text.lstrip().startswith("#") for text in lines[line_count:])


def _entry_keys(holder: Node) -> frozenset[str]:
    entries: list[Node] = []
    if isinstance(holder, SequenceNode):
        entries = list(holder.value)
    elif isinstance(holder, MappingNode):
        entries = [v for _, v in holder.value]
    keys = Counter(k.value for e in entries if isinstance(e, MappingNode) for k, _ in e.value
                   if isinstance(k, ScalarNode))
    return frozenset(keys)
