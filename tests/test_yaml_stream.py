"""The one-pass YAML builder (reconciler/yamlio.py `_Stream`) loads exactly what the two-pass loader it replaced did.

The reference below is the previous loader, kept here only: a pre-scan of the event stream for the bounds, then
`yaml.compose`, `_check_bounds` and a builder over the composed nodes. For every document, both must give the same
value, the same line of every mapping, key, list and item, the same sharing of aliased values, and the same error
message (or the same exception type) when the document is refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, Node, SequenceNode

from reconciler import yamlio
from reconciler.errors import BindingsError, located
from reconciler.yamlio import YList, YMap, parse_yaml

PATH = "f.yaml"
DATA = Path(__file__).resolve().parent / "data"

# ── the previous loader (reference) ──────────────────────────────────────────


def old_parse(text: str, path: str = PATH) -> Any:
    try:
        _old_prescan(text, path)
        node = yaml.compose(text, Loader=yamlio._Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = located(path, mark.line + 1, mark.column + 1) if mark else str(path)
        problem = yamlio._one_line(exc.problem or exc.context or "invalid YAML")
        if "nesting depth" in problem:
            raise BindingsError(f"{where}: YAML nesting is deeper than {yamlio.MAX_DEPTH} levels") from None
        raise BindingsError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise BindingsError(f"{path}: YAML error: {yamlio._one_line(str(exc))}") from None
    if node is None:
        return None
    yamlio._check_bounds(node, path)
    return _OldBuilder(path).build(node)


def _old_prescan(text: str, path: str) -> None:
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yamlio._Loader):
        if isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            nodes += 1
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            nodes += 1
            depth += 1
            if depth > yamlio.MAX_DEPTH:
                where = located(path, event.start_mark.line + 1, event.start_mark.column + 1)
                raise BindingsError(f"{where}: YAML nesting is deeper than {yamlio.MAX_DEPTH} levels")
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1
        if nodes > yamlio.MAX_NODES:
            raise BindingsError(f"{located(path, event.start_mark.line + 1)}: document has more than "
                                f"{yamlio.MAX_NODES} nodes; refusing to load")


class _OldBuilder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.scalars = yamlio._ScalarConstructor()
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
                raise BindingsError(f"{where}: {yamlio._one_line(str(getattr(exc, 'problem', exc)))}") from None
            except (ValueError, ArithmeticError, IndexError):
                raise BindingsError(f"{where}: {yamlio._scalar_problem(node)}") from None
            if isinstance(result, int) and not isinstance(result, bool) and abs(result) >= yamlio._NUMBER_LIMIT:
                raise BindingsError(f"{where}: number is too large (limit {yamlio.MAX_NUMBER_DIGITS} digits)")
            if isinstance(result, yamlio._dt.date | bytes):
                result = str(node.value)
            self.memo[key] = result
        return result

    def _fill_mapping(self, target: YMap, node: MappingNode) -> None:
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == yamlio._MERGE_TAG:
                self._merge(target, value_node)
                continue
            key = self.build(key_node)
            where = located(self.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if isinstance(key, dict | list):
                raise BindingsError(f"{where}: a mapping key must be a plain value")
            if key in explicit:
                raise BindingsError(f"{where}: duplicate key {key!r} (first at line {target.key_lines[key]})")
            explicit.add(key)
            target[key] = self.build(value_node)
            target.key_lines[key] = key_node.start_mark.line + 1

    def _merge(self, target: YMap, value_node: Node) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            merged = self.build(source)
            if not isinstance(merged, YMap):
                raise BindingsError(f"{located(self.path, source.start_mark.line + 1)}: '<<' merge needs a mapping")
            for key, value in merged.items():
                target.setdefault(key, value)
                target.key_lines.setdefault(key, merged.line_of(key))


# ── comparison ───────────────────────────────────────────────────────────────


def shape(value: Any, seen: dict[int, int] | None = None) -> Any:
    """Everything observable of a loaded value: types, values, every line, and which containers are shared."""
    seen = {} if seen is None else seen
    if isinstance(value, YMap | YList):
        if id(value) in seen:
            return ("shared", seen[id(value)])
        seen[id(value)] = len(seen)
        if isinstance(value, YMap):
            assert list(value.key_lines) == list(value), "a key without its line, or a line without its key"
            return ("map", value.line, [(shape(k, seen), value.key_lines[k], shape(v, seen)) for k, v in value.items()])
        assert len(value.item_lines) == len(value)
        return ("list", value.line, [(line, shape(v, seen)) for line, v in zip(value.item_lines, value, strict=True)])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def outcome(load: Any, text: str) -> tuple[str, Any]:
    try:
        return ("loaded", shape(load(text, PATH)))
    except BindingsError as error:
        return ("refused", str(error))
    except Exception as error:  # the old loader let `!!bool x` escape as a KeyError: the type is compared
        return ("raised", type(error).__name__)


def assert_same(text: str) -> tuple[str, Any]:
    new, old = outcome(parse_yaml, text), outcome(old_parse, text)
    if old == ("raised", "KeyError") and new[0] == "refused":
        return new  # the one intended difference: an invalid `!!bool` is a one-line error now, not a traceback
    assert new == old, f"document:\n{text}"
    return new


def test_an_invalid_bool_tag_is_a_one_line_error_naming_its_place() -> None:
    with pytest.raises(BindingsError, match=r"^f\.yaml:2:4: 'x' is not a valid bool$"):
        parse_yaml("a: 1\ne: !!bool x\n", "f.yaml")


# ── documents ────────────────────────────────────────────────────────────────

CASES = [
    "", "# only a comment\n", "---\n", "--- 3\n", "...\n", "a: 1\n---\nb: 2\n", "[1, 2]\n---\n", "~", "null", "'x'",
    "a: 1\nb: [x, 'y', \"z\"]\nc: |\n  lit\n  eral\nd: >\n  fol\n  ded\ne: 'it''s'\n",
    "k: !!str 12\nl: ! 12\nm: !!int '0x1f'\nn: !!float 1\n",
    "a: yes\nb: Off\nc: ~\nd: 0\ne: 00\nf: 017\ng: 0o17\nh: 0x_1F\ni: 1_000\nj: -12\nk: +3\nl: 1:30\nm: 190:20:30\n",
    "a: 1.5\nb: .inf\nc: -.Inf\nd: .nan\ne: 1e3\nf: 1.0e+3\ng: 1:30.5\nh: 2001-12-14\n",
    "i: 2001-12-14t21:59:43.10-05:00\nj: 2001-12-14 21:59:43.10 -5\n", "a: !!float x\n", "a: !!float ''\n",
    "a: !!timestamp x\nb: !!binary aGVsbG8=\nc: !!null x\nd: !!bool yes\n", "e: !!bool x\n", "a: =\n", "a: <<\n",
    "- !!set x\n", "- !!omap x\n", "- !!python/object/apply:os.system ['id']\n", "a: !!int x\n", "!!int \n",
    "a: " + "1" * 101 + "\n", "a: " + "9" * 5000 + "\n", "a: 0x" + "f" * 90 + "\n", "a: 0x" + "f" * 5000 + "\n",
    "a: 1\nb: 2\na: 3\n", "1: a\ntrue: b\n", "1: a\n1.0: b\n", "? [a]\n: 1\n", "? {a: 1}\n: 1\n", "[a]: 1\n",
    "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n", "b: &b {x: 1}\nc: {y: 2, <<: *b, x: 3}\n",
    "a: &a {x: 1}\nb: &b {x: 2, z: 3}\nc: {<<: [*a, *b], w: 0}\n", "a: {<<: {x: 1, y: 2}, y: 3}\n",
    "a: {<<: [{x: 1}, {y: 2}]}\n", "a: {<<: 3}\n", "a: {<<: [3, {x: 1}]}\n", "a: {<<: [{x: !!int q}, 3]}\n",
    "a: &s [{x: 1}, {y: 2}]\nb: {<<: *s}\n", "a: &s [1, 2]\nb: {<<: *s}\n", "a: {<<: [[1]]}\n", "a: {'<<': 1}\n",
    "a: {!!merge x: {y: 1}}\n", "a: {<<: {x: 1}, <<: {x: 2, y: 3}}\n", "a: {x: 0, <<: {x: 1}, x: 2}\n",
    "a: &k <<\n", "m: {&k <<: {x: 1}}\nn: *k\n", "m: {&k <<: {x: 1}}\nn: {*k : {y: 2}}\n",
    "a: &x 1\nb: *x\nc: [*x, *x]\n*x : 2\n", "a: &x [1, 2]\nb: *x\nc: {k: *x}\n", "a: &x {k: v}\n? *x\n: 1\n",
    "a: *nope\n", "a: &x 1\nb: &x 2\nc: *x\n", "a: &x 1\nb: &x 2\n", "a: &a [*a]\n", "a: &a {b: *a}\n",
    "a: &a {<<: *a}\n", "a: &a {b: {<<: *a}}\n", "a: &a [b, {c: *a}]\n", "a: *a\nb: &a 1\n", "&r [*r]\n",
    "a: [1, 2\n", "a: {\n", "a: 'x\n", "\tb: 1\n", "a: b: c\n", "- a\nb: 1\n", "a:\n  - 1\n - 2\n", "x\x00y",
    "%YAML 1.1\n--- a\n", "%TAG !e! tag:example.com,2000:\n--- !e!x 1\n", "a: !e!x 1\n", "!<tag:yaml.org,2002:str> 1",
    "a: 1\nb: [x, *u]\nc: {d: 1, d: 2}\n", "a: {d: 1, d: 2}\nb: *u\n", "a: {d: 1, d: 2}\nb: [\n",
    "a: {d: 1, d: 2}\n---\nb: 1\n", "a: !!int x\nb: &q 1\n", "a: {d: 1, d: 2}\nb: &q 1\nc: &q 2\n",
]


def nested(depth: int, leaf: str = "x") -> str:
    return "[" * depth + leaf + "]" * depth


DEEP = [
    nested(63), nested(64), nested(65), nested(64, ""), nested(63, "&a [1]") + "\n", "a: &x " + nested(40) + "\nb: "
    + nested(30, "*x"), "a: &x " + nested(30) + "\nb: " + nested(30, "*x") + "\nc: " + nested(20, "*x"),
    "".join("  " * level + f"k{level}:\n" for level in range(70)), "".join("  " * level + f"k{level}:\n"
                                                                        for level in range(64)) + "  " * 64 + "v\n",
    "a: " + "[" * 70, "{a: " * 63 + "b" + "}" * 63, "{a: " * 64 + "b" + "}" * 64, "{a: " * 65 + "b" + "}" * 65,
]


def bomb(levels: int, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nall: *l{levels - 1}\n"


BIG = [  # (document, what both loaders do with it)
    (bomb(5), "refused"), (bomb(6), "refused"), (bomb(10), "refused"),
    ("a: &a [" + ", ".join(["x"] * 50_000) + "]\nb: [*a, *a]\n", "refused"),
    ("a: &a [" + ", ".join(["x"] * 49_997) + "]\nb: *a\n", "loaded"),  # 99,999 nodes once expanded
    ("a: &a [" + ", ".join(["x"] * 49_997) + "]\nb: [*a]\n", "loaded"),  # 100,000: the bound itself
    ("a: &a [" + ", ".join(["x"] * 49_998) + "]\nb: [*a]\n", "refused"),  # 100,002
    ("m: &m {" + ", ".join(f"k{i}: 1" for i in range(100)) + "}\nall: [" + ", ".join(["{<<: *m}"] * 400) + "]\n",
     "loaded"),
    # a merge bomb: refused before 2,000 merges of 20,000 keys each are made
    ("m: &m {" + ", ".join(f"k{i}: 1" for i in range(20_000)) + "}\nall: [" + ", ".join(["{<<: *m}"] * 2000) + "]\n",
     "refused"),
    ("vms: [" + ",".join(["a"] * 99_997) + "]\n", "loaded"), ("vms: [" + ",".join(["a"] * 99_998) + "]\n", "refused"),
    ("vms: [" + ",".join(["a"] * 100_000) + "]\nb: *nope\n", "refused"),
    ("b: {d: 1, d: 2}\nvms: [" + ",".join(["a"] * 100_000) + "]\n", "refused"),
]


@pytest.mark.parametrize("text", CASES + DEEP, ids=range(len(CASES + DEEP)))
def test_same_as_the_two_pass_loader(text: str) -> None:
    assert_same(text)


@pytest.mark.parametrize(("text", "expected"), BIG, ids=range(len(BIG)))
def test_same_at_the_bounds(text: str, expected: str) -> None:
    assert assert_same(text)[0] == expected


def test_a_merge_bomb_stops_being_built_once_it_expands_beyond_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building happens before the graph checks now: it must not do what they would refuse (2,000 merges of
    20,000 keys: 40 million copies). The second alias of the 40,001-node mapping already expands beyond 100,000."""
    merges: list[int] = []
    original = yamlio._Stream._merge
    monkeypatch.setattr(yamlio._Stream, "_merge", lambda self, *args: (merges.append(1), original(self, *args))[1])
    assert outcome(parse_yaml, BIG[8][0])[0] == "refused"
    assert len(merges) == 1


def test_the_one_difference_a_merge_tagged_collection_key_is_built() -> None:
    """`? !!merge [...]` (a collection explicitly tagged as a merge key): the old builder merged the value without
    ever building the key, so nothing inside the key was checked. Now it is built like any node first."""
    assert assert_same("? !!merge [a]\n: {x: 1}\n")[0] == "loaded"
    text = "? !!merge [!!int q]\n: {x: 1}\n"
    assert outcome(old_parse, text)[0] == "loaded"
    assert outcome(parse_yaml, text) == ("refused", "f.yaml:1:12: 'q' is not a valid int")


def test_same_on_every_real_binding_file() -> None:
    files = sorted((DATA / "spine-bindings").rglob("*.yaml"))
    assert len(files) >= 20
    for path in files:
        kind, _ = assert_same(path.read_text(encoding="utf-8"))
        assert kind == "loaded", path


# Documents dumped from random data, then damaged with fragments: every YAML feature the loader handles.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**5), 10**5), st.floats(allow_nan=True), st.text(max_size=6),
    st.sampled_from(["yes", "No", "~", "0x1f", "017", "1:30", "2001-02-03", "1e3", ".inf", "=", "<<", "", "0", "a b"]),
)
DATA_TREE = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 3)), inner, max_size=4)),
    max_leaves=20)
FRAGMENTS = st.sampled_from([
    "&a ", "&b ", "*a", "*b", "*c", "<<: *a\n", "<<: [*a, *b]\n", "<<: ", "!!merge ", "!!int ", "!!float ", "!!bool ",
    "!!str ", "!!binary ", "!!set ", "!!timestamp ", "! ", "? ", "- ", ": ", "[", "]", "{", "}", ",", "'", '"', "\n",
    "  ", "#", "---\n", "a: 1\n", "a: 2\n", "k: &a {x: 1}\n", "j: &b [1, {y: 2}]\n", "m: {<<: *a}\n", "2001-02-03",
    "0x" + "f" * 120, "9" * 120, "[" * 66, "- " * 66,
])


@st.composite
def documents(draw: st.DrawFn) -> str:
    text = yaml.dump(draw(DATA_TREE), Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=draw(
        st.sampled_from([False, None, True])), allow_unicode=True)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(FRAGMENTS) + text[at:]
    return text


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_same_on_damaged_documents(text: str) -> None:
    assert_same(text)


def test_the_yaml_benchmark_measures_the_expected_load() -> None:
    """benchmarks/yaml_load.py, once (its timing is a figure of `benchmarks/run`, not asserted here): the child
    loads every 2026-02-20 binding file, and the parent checks it loaded what it loads itself."""
    from benchmarks.yaml_load import BINDINGS, bindings_row, expected_tally

    row = bindings_row(1)
    files = sorted(BINDINGS.rglob("*.yaml"))
    assert len(files) == 10 and f"({len(files)} files, " in row.scenario and row.met is not None
    assert len(row.samples) == 1 and f"{expected_tally(files)[0]} nodes" in row.note
