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
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml import events
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
    stream = _Stream(path)
    try:
        loader = _Loader(text)
        try:
            result = stream.run(loader.get_event)
        finally:
            loader.dispose()
        if stream.graph:
            # Anchors, aliases, a second document, a scalar at the depth limit: what the composer and `_check_bounds`
            # refuse there (undefined or recursive aliases, alias bombs, ...) is left to them, with their messages.
            # The stream has bounded depth and node count first: libyaml's composer recurses in C and makes an object
            # per node. Binding files have none of these, and are parsed once.
            node = yaml.compose(text, Loader=_Loader)
            if node is not None:
                _check_bounds(node, path)
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
    if stream.deferred is not None:
        raise stream.deferred from None
    if stream.stopped:  # unreachable: building stops only on what the checks above refuse
        raise BindingsError(f"{path}: YAML aliases could not be resolved; refusing to load")
    return result


# The implicit resolvers of the loader by first character, wildcards appended: `BaseResolver.resolve`'s own order,
# looked up once here instead of through a method call (and a list concatenation) per scalar.
_WILDCARD: tuple[tuple[str, re.Pattern[str]], ...] = tuple(_Loader.yaml_implicit_resolvers.get(None, ()))
_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple(pairs) + _WILDCARD for first, pairs in _Loader.yaml_implicit_resolvers.items() if first is not None}
_STR, _INT, _BOOL, _NULL, _TIMESTAMP = (f"tag:yaml.org,2002:{n}" for n in ("str", "int", "bool", "null", "timestamp"))
_BOOL_VALUES: dict[str, bool] = SafeConstructor.bool_values


class _Stop(Exception):
    """Building stops here; `args[0]` is the builder's complaint (None: an alias the graph checks refuse)."""


class _Anchor:
    """What an alias stands for: the built value, where its node starts, and the node count it expands to."""

    __slots__ = ("column", "line", "merge", "pending", "size", "value")

    def __init__(self, value: Any, line: int, column: int, merge: bool, size: int,
                 pending: ScalarNode | None = None) -> None:
        self.value, self.line, self.column, self.merge, self.size = value, line, column, merge, size
        self.pending = pending  # a `<<` key is never constructed, unless an alias uses it as a value


class _Frame:
    """An open mapping or sequence, and where its next child goes."""

    __slots__ = ("anchor", "column", "explicit", "has_key", "is_map", "key", "key_line", "line", "merge", "merge_into",
                 "merging", "start_extra", "start_nodes", "value")

    def __init__(self, value: Any, is_map: bool, line: int, column: int) -> None:
        self.value, self.is_map, self.line, self.column = value, is_map, line, column
        self.anchor: str | None = None
        self.key: Any = None
        self.start_nodes = self.start_extra = self.key_line = 0
        self.merge = False  # tagged `!!merge`: as a key, a merge
        self.has_key = self.merging = False  # a mapping between its key and its value; the key was `<<`
        self.explicit: set[Any] = set()  # keys written in this mapping itself (a `<<` merge may be overridden once)
        self.merge_into: YMap | None = None  # a list that is the value of `<<`: each item is merged as it ends


class _Stream:
    """Builds YMap/YList/scalars straight from the parser's events, in one pass that also enforces the bounds.

    It replaces a pre-scan of the events followed by composing (the text was parsed twice) and a walk over the
    composed nodes; the objects, the line numbers and the errors are the same. Depth and node count are checked
    on each event before anything is built for it, as the pre-scan did: constant stack, no recursion. What the
    composed graph alone could tell (aliases) is handed to the composer and `_check_bounds` (`graph`), and
    building stops before an alias can expand beyond `MAX_NODES`. Errors of the builder itself (a duplicate key,
    a scalar Python cannot build) are kept until the stream has ended (`deferred`): a syntax error or a bound
    anywhere in the file, and what the graph checks refuse, are reported first, as before.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.scalars = _ScalarConstructor()
        self.anchors: dict[str, _Anchor | _Frame] = {}  # a _Frame while its node is still open
        self.extra = 0  # the nodes aliases add when expanded (over the 1 each counts as on the stream)
        self.graph = False
        self.stopped = False
        self.deferred: Exception | None = None

    def run(self, get_event: Callable[[], Any]) -> Any:
        """Consume the whole event stream; the first document's value (None when there is none)."""
        path, anchors, implicit, wildcard, attach = self.path, self.anchors, _IMPLICIT, _WILDCARD, self._attach
        holder = top = _Frame(YList(), False, 0, 0)  # the document's root is its one item
        stack = [holder]
        depth = nodes = documents = 0
        try:
            while True:
                event = get_event()
                kind = event.__class__
                if kind is events.ScalarEvent:
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise _too_many(path, event)
                    if depth >= MAX_DEPTH:  # `_check_bounds` counts a scalar one level below its collection
                        self.graph = True
                    tag = event.tag
                    resolved = tag is None or tag == "!"
                    if resolved:  # the composer's rule: plain scalars are resolved, quoted ones are strings
                        tag = _STR
                        if event.implicit[0]:
                            value = event.value
                            for candidate, pattern in implicit.get(value[:1], wildcard):
                                if pattern.match(value):
                                    tag = candidate
                                    break
                    mark = event.start_mark
                    pending = None
                    merge = tag == _MERGE_TAG
                    if tag is _STR:
                        value = event.value
                    elif merge and top.is_map and not top.has_key:  # a `<<` key is merged, never constructed
                        value = None
                        pending = ScalarNode(tag, event.value, mark, event.end_mark, event.style)
                    elif resolved:
                        value = self._scalar(tag, event)
                    else:  # an explicit tag: `!!int x`, `!!bool x`, `!!binary ...`, as before
                        value = self._construct(ScalarNode(tag, event.value, mark, event.end_mark, event.style))
                    line = mark.line + 1
                    if event.anchor is not None:
                        self.graph = True
                        anchors[event.anchor] = _Anchor(value, line, mark.column + 1, merge, 1, pending)
                    # `_attach`'s three common cases inline (most events are scalars); the rest, errors included, there
                    if not top.is_map and top.merge_into is None:
                        top.value.append(value)
                        top.value.item_lines.append(line)
                    elif top.has_key and not top.merging:
                        top.has_key = False
                        top.value[top.key] = value
                        top.value.key_lines[top.key] = top.key_line
                    elif top.is_map and not top.has_key and not merge and value not in top.explicit:
                        top.has_key = True
                        top.explicit.add(value)
                        top.key, top.key_line = value, line
                    else:
                        attach(top, value, line, mark.column + 1, merge)
                elif kind is events.MappingStartEvent or kind is events.SequenceStartEvent:
                    nodes += 1
                    depth += 1
                    mark = event.start_mark
                    if depth > MAX_DEPTH:
                        raise _too_deep(path, event)
                    if nodes > MAX_NODES:
                        raise _too_many(path, event)
                    line = mark.line + 1
                    if kind is events.MappingStartEvent:
                        frame = _Frame(YMap(line=line), True, line, mark.column + 1)
                    else:
                        frame = _Frame(YList(line=line), False, line, mark.column + 1)
                        if top.merging:
                            frame.merge_into = top.value
                    frame.merge = event.tag == _MERGE_TAG
                    if event.anchor is not None:
                        self.graph = True
                        frame.anchor = event.anchor
                        frame.start_nodes, frame.start_extra = nodes - 1, self.extra
                        anchors[event.anchor] = frame
                    stack.append(frame)
                    top = frame
                elif kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
                    depth -= 1
                    frame = stack.pop()
                    top = stack[-1]
                    if frame.anchor is not None:
                        size = nodes - frame.start_nodes + self.extra - frame.start_extra
                        anchors[frame.anchor] = _Anchor(frame.value, frame.line, frame.column, frame.merge, size)
                    if frame.merge_into is not None:  # its items were merged one by one
                        top.has_key = top.merging = False
                    else:
                        attach(top, frame.value, frame.line, frame.column, frame.merge)
                elif kind is events.AliasEvent:
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise _too_many(path, event)
                    self._alias(top, event, nodes)
                elif kind is events.DocumentStartEvent:
                    documents += 1
                    if documents > 1:  # the composer refuses a second document
                        self.graph = True
                        raise _Stop(None)
                elif kind is events.StreamEndEvent:
                    return holder.value[0] if holder.value else None
        except _Stop as stop:
            self.stopped = True
            self.deferred = stop.args[0]
            if _scan_rest(get_event, path, depth, nodes, documents):
                self.graph = True
            return None

    def _alias(self, top: _Frame, event: Any, nodes: int) -> None:
        self.graph = True
        entry = self.anchors.get(event.anchor)
        if entry is None or isinstance(entry, _Frame):  # undefined (the composer refuses) or recursive
            raise _Stop(None)
        self.extra += entry.size - 1
        if nodes + self.extra > MAX_NODES:  # the document now expands beyond the bound: `_check_bounds` refuses
            raise _Stop(None)
        if entry.pending is not None and not (top.is_map and not top.has_key):
            entry.value, entry.pending = self._construct(entry.pending), None
        self._attach(top, entry.value, entry.line, entry.column, entry.merge)

    def _attach(self, top: _Frame, value: Any, line: int, column: int, merge: bool) -> None:
        """Put a finished node into its parent: an item, a key, a value, or the source of a `<<` merge."""
        if not top.is_map:
            top.value.append(value)
            top.value.item_lines.append(line)
            if top.merge_into is not None:
                self._merge(top.merge_into, value, line)
        elif not top.has_key:
            top.has_key = True
            if merge:
                top.merging = True
            elif isinstance(value, dict | list):
                raise _Stop(BindingsError(f"{located(self.path, line, column)}: a mapping key must be a plain value"))
            elif value in top.explicit:
                # PyYAML keeps the last one silently: `status: active` then `status: decommissioned` would load
                where, first = located(self.path, line, column), top.value.key_lines[value]
                raise _Stop(BindingsError(f"{where}: duplicate key {value!r} (first at line {first})"))
            else:
                top.explicit.add(value)
                top.key, top.key_line = value, line
        else:
            top.has_key = False
            if top.merging:
                top.merging = False
                if isinstance(value, YList):  # an alias of a list (a list written here has merge_into)
                    for item, item_line in zip(value, value.item_lines, strict=True):
                        self._merge(top.value, item, item_line)
                else:
                    self._merge(top.value, value, line)
            else:
                top.value[top.key] = value
                top.value.key_lines[top.key] = top.key_line

    def _merge(self, target: YMap, merged: Any, line: int) -> None:
        if not isinstance(merged, YMap):
            raise _Stop(BindingsError(f"{located(self.path, line)}: '<<' merge needs a mapping"))
        for key, value in merged.items():
            target.setdefault(key, value)
            target.key_lines.setdefault(key, merged.line_of(key))

    def _scalar(self, tag: str, event: Any) -> Any:
        """A plain scalar resolved to another tag than str: the common ones directly (the resolver's pattern matched
        the value, which is what makes these shortcuts equal SafeConstructor's), the others as before."""
        value = event.value
        if tag == _INT and value.isdigit() and (value[0] != "0" or value == "0") and len(value) <= MAX_NUMBER_DIGITS:
            return int(value)  # construct_yaml_int on plain decimal digits (no sign, `_`, base or `:`)
        if tag == _BOOL:
            return _BOOL_VALUES[value.lower()]
        if tag == _NULL:
            return None
        if tag == _TIMESTAMP:
            return value  # dates stay strings
        return self._construct(ScalarNode(tag, value, event.start_mark, event.end_mark, event.style))

    def _construct(self, node: ScalarNode) -> Any:
        """SafeConstructor's value of one scalar node, with its failures as one-line errors at the node."""
        where = located(self.path, node.start_mark.line + 1, node.start_mark.column + 1)
        try:
            result = self.scalars.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise _Stop(BindingsError(f"{where}: {_one_line(str(getattr(exc, 'problem', exc)))}")) from None
        except (ValueError, ArithmeticError, LookupError):  # `!!int x`, an empty `!!int`, 5,000 digits, `!!bool x`
            raise _Stop(BindingsError(f"{where}: {_scalar_problem(node)}")) from None
        if isinstance(result, int) and not isinstance(result, bool) and abs(result) >= _NUMBER_LIMIT:
            # hex/octal literals are not capped by int(), but str() of the result would fail later
            raise _Stop(BindingsError(f"{where}: number is too large (limit {MAX_NUMBER_DIGITS} digits)"))
        if isinstance(result, _dt.date | bytes):
            result = str(node.value)
        return result


def _scan_rest(get_event: Callable[[], Any], path: Path | str, depth: int, nodes: int, documents: int) -> bool:
    """The rest of the stream once building has stopped: the same bounds; True if the graph checks are needed."""
    graph = False
    while (kind := (event := get_event()).__class__) is not events.StreamEndEvent:
        if kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
            depth -= 1
        elif kind is events.DocumentStartEvent:
            documents += 1
            graph = graph or documents > 1
        elif kind is not events.StreamStartEvent and kind is not events.DocumentEndEvent:  # a node
            opening = kind is events.MappingStartEvent or kind is events.SequenceStartEvent
            nodes += 1
            depth += opening
            if depth > MAX_DEPTH:
                raise _too_deep(path, event)
            if nodes > MAX_NODES:
                raise _too_many(path, event)
            if kind is events.AliasEvent or event.anchor is not None or (depth >= MAX_DEPTH and not opening):
                graph = True
    return graph


def _too_deep(path: Path | str, event: Any) -> BindingsError:
    where = located(path, event.start_mark.line + 1, event.start_mark.column + 1)
    return BindingsError(f"{where}: YAML nesting is deeper than {MAX_DEPTH} levels")


def _too_many(path: Path | str, event: Any) -> BindingsError:
    where = located(path, event.start_mark.line + 1)
    return BindingsError(f"{where}: document has more than {MAX_NODES} nodes; refusing to load")


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
