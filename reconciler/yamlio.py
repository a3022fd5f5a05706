"""YAML loading that remembers where everything came from and refuses hostile input.

Every mapping becomes a `YMap` (a dict that knows its line and the line of each key) and every
sequence a `YList` (a list that knows the line of each item), so findings can cite `file:line`.

Bounds (documented in docs/security.md): files over `MAX_FILE_BYTES`, documents that expand to
more than `MAX_NODES` nodes through aliases ("billion laughs"), nesting deeper than `MAX_DEPTH`,
integers of more than `MAX_NUMBER_DIGITS` digits and bytes that are not UTF-8 are rejected with a
one-line error naming the file (and line).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import BindingsError, located

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 100_000  # real binding files have < 1,500 nodes; composing 100,000 takes ~1 s and ~70 MB
MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100  # no binding value is a larger integer; Python cannot even print one of 4,300+ digits
_NUMBER_LIMIT = 10**MAX_NUMBER_DIGITS

_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YMap(dict):
    """A YAML mapping with the (1-based) line of the mapping and of each key."""

    line: int = 0
    key_lines: dict[Any, int]

    def __init__(self, *args: Any, line: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines = {}

    def line_of(self, key: Any) -> int:
        """Line of `key` when present, else the mapping's own line."""
        return self.key_lines.get(key, self.line)


class YList(list):
    """A YAML sequence with the (1-based) line of the sequence and of each item."""

    line: int = 0
    item_lines: list[int]

    def __init__(self, *args: Any, line: int = 0) -> None:
        super().__init__(*args)
        self.line = line
        self.item_lines = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


def line_of(value: Any, default: int = 0) -> int:
    """The line a loaded value starts on, when it is a YMap or YList."""
    return getattr(value, "line", default) or default


class _ScalarConstructor(SafeConstructor):
    """Safe scalar construction, except dates stay strings (bindings compare them as text)."""

    def construct_yaml_timestamp(self, node: ScalarNode) -> str:  # type: ignore[override]
        return str(node.value)


_ScalarConstructor.add_constructor("tag:yaml.org,2002:timestamp", _ScalarConstructor.construct_yaml_timestamp)


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 text file, turning every OS or encoding problem into one clear line."""
    try:
        if path.is_dir():
            raise BindingsError(f"{path}: is a directory, expected a YAML file")
        size = path.stat().st_size
        if size > max_bytes:
            raise BindingsError(f"{path}: file is {size} bytes, larger than the {max_bytes}-byte limit")
        if not path.is_file():  # a FIFO blocks forever, /dev/zero never ends: only regular files are read
            raise BindingsError(f"{path}: not a regular file, expected a YAML file")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may grow between stat() and read()
        if len(data) > max_bytes:
            raise BindingsError(f"{path}: file is larger than the {max_bytes}-byte limit")
    except BindingsError:
        raise
    except FileNotFoundError:
        raise BindingsError(f"{path}: file not found") from None
    except PermissionError:
        raise BindingsError(f"{path}: permission denied") from None
    except OSError as exc:
        raise BindingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return decode_utf8(data, path)


def decode_utf8(data: bytes, path: Path | str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BindingsError(f"{located(path, line, column)}: not valid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def load_yaml_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Load one YAML document from `path` with line tracking; None for an empty file."""
    return parse_yaml(read_text(path, max_bytes), path)


def parse_yaml(text: str, path: Path | str) -> Any:
    """Parse YAML text (already decoded) into YMap/YList/scalars, or raise BindingsError."""
    try:
        _prescan(text, path)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = located(path, mark.line + 1, mark.column + 1) if mark else str(path)
        problem = _one_line(exc.problem or exc.context or "invalid YAML")
        if "nesting depth" in problem:  # libyaml's own depth limit (PyYAML >= 6.0.3), reached while scanning ahead
            raise BindingsError(f"{where}: YAML nesting is deeper than {MAX_DEPTH} levels") from None
        raise BindingsError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise BindingsError(f"{path}: YAML error: {_one_line(str(exc))}") from None
    except RecursionError:
        raise BindingsError(f"{path}: YAML nesting is too deep (limit {MAX_DEPTH})") from None
    if node is None:
        return None
    _check_bounds(node, path)
    return _Builder(path).build(node)


_OPENING = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSING = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_LEAVES = (yaml.ScalarEvent, yaml.AliasEvent)


def _prescan(text: str, path: Path | str) -> None:
    """Bound nesting and node count on the event stream, before anything is composed.

    Composing is where hostile input hurts: libyaml's composer recurses in C (a few hundred thousand
    nested `[` crash the process) and builds a Python object per node (an 8 MiB file of 4 million
    scalars takes gigabytes). The event stream needs constant memory and no recursion, so depth and
    size are checked here and composing only ever sees a bounded document. Aliases count as one node
    here; what they expand to is bounded by `_check_bounds`.
    """
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _LEAVES):
            nodes += 1
        elif isinstance(event, _OPENING):
            nodes += 1
            depth += 1
            if depth > MAX_DEPTH:
                where = located(path, event.start_mark.line + 1, event.start_mark.column + 1)
                raise BindingsError(f"{where}: YAML nesting is deeper than {MAX_DEPTH} levels")
        elif isinstance(event, _CLOSING):
            depth -= 1
        if nodes > MAX_NODES:
            where = located(path, event.start_mark.line + 1)
            raise BindingsError(f"{where}: document has more than {MAX_NODES} nodes; refusing to load")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _scalar_problem(node: ScalarNode) -> str:
    """Why PyYAML could not construct a scalar (its own errors here are bare Python exceptions)."""
    value = str(node.value)
    if sum(c.isdigit() for c in value) > MAX_NUMBER_DIGITS:
        return f"number is too large (limit {MAX_NUMBER_DIGITS} digits)"
    shown = _one_line(value)
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    return f"{shown!r} is not a valid {node.tag.rsplit(':', 1)[-1]}"


def _check_bounds(root: Node, path: Path | str) -> None:
    """Reject alias bombs and deep nesting before anything walks the document.

    The composer shares aliased nodes, so the graph itself is small; what explodes is any walk
    over it. Count the *expanded* size with memoisation (linear in the graph), iteratively.
    """
    expanded: dict[int, int] = {}
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    on_path: set[int] = set()
    while stack:
        node, depth, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            if expanded[key] > MAX_NODES:
                line = node.start_mark.line + 1
                raise BindingsError(
                    f"{located(path, line)}: document expands to more than {MAX_NODES} nodes "
                    "(alias bomb?); refusing to load"
                )
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise BindingsError(f"{located(path, node.start_mark.line + 1)}: recursive YAML alias")
        if depth > MAX_DEPTH:
            line = node.start_mark.line + 1
            raise BindingsError(f"{located(path, line)}: YAML nesting is deeper than {MAX_DEPTH} levels")
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node) if id(child) not in expanded)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _Builder:
    """Turns a composed node graph into YMap/YList/scalars (depth already bounded)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.scalars = _ScalarConstructor()
        self.memo: dict[int, Any] = {}

    def build(self, node: Node) -> Any:
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        line = node.start_mark.line + 1
        if isinstance(node, MappingNode):
            result: Any = YMap(line=line)
            self.memo[key] = result
            self._fill_mapping(result, node)
        elif isinstance(node, SequenceNode):
            result = YList(line=line)
            self.memo[key] = result
            for item in node.value:
                result.append(self.build(item))
                result.item_lines.append(item.start_mark.line + 1)
        else:
            where = located(self.path, line, node.start_mark.column + 1)
            try:
                result = self.scalars.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                raise BindingsError(f"{where}: {_one_line(str(getattr(exc, 'problem', exc)))}") from None
            except (ValueError, ArithmeticError, IndexError):  # e.g. `!!int x`, an empty `!!int`, 5,000 digits
                raise BindingsError(f"{where}: {_scalar_problem(node)}") from None
            if isinstance(result, int) and not isinstance(result, bool) and abs(result) >= _NUMBER_LIMIT:
                # hex/octal literals are not capped by int(), but str() of the result would fail later
                raise BindingsError(f"{where}: number is too large (limit {MAX_NUMBER_DIGITS} digits)")
            if isinstance(result, _dt.date | bytes):
                result = str(node.value)
            self.memo[key] = result
        return result

    def _fill_mapping(self, target: YMap, node: MappingNode) -> None:
        explicit: set[Any] = set()  # keys written in this mapping itself (a `<<` merge may be overridden once)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(target, value_node)
                continue
            key = self.build(key_node)
            if isinstance(key, dict | list):
                where = located(self.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                raise BindingsError(f"{where}: a mapping key must be a plain value")
            if key in explicit:
                # PyYAML keeps the last one silently: `status: active` then `status: decommissioned` would load
                where = located(self.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                raise BindingsError(f"{where}: duplicate key {key!r} (first at line {target.key_lines[key]})")
            explicit.add(key)
            target[key] = self.build(value_node)
            target.key_lines[key] = key_node.start_mark.line + 1

    def _merge(self, target: YMap, value_node: Node) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            merged = self.build(source)
            if not isinstance(merged, YMap):
                where = located(self.path, source.start_mark.line + 1)
                raise BindingsError(f"{where}: '<<' merge needs a mapping")
            for key, value in merged.items():
                target.setdefault(key, value)
                target.key_lines.setdefault(key, merged.line_of(key))
