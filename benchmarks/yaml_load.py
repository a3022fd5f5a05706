"""YAML loading with line numbers (`reconciler.yamlio.load_yaml_file`): the user's real binding files, and growth.

    python -m benchmarks.yaml_load                  # the three rows, 3 measured runs each, as a table
    python -m benchmarks.yaml_load --runs 10
    python -m benchmarks.yaml_load --child FILE...  # one measurement as JSON (what a row runs)

Each measurement is a fresh child process. It imports `reconciler.yamlio` (timed apart), then loads every file
given, the way the engine does (`load_yaml_file`: read, decode, parse, build YMap/YList with lines), and times
that first load: the figure a run of `reconcile` pays, with nothing warmed up. It then loads the same files
`--repeat` more times in the same process, or fewer once they took `WARM_BUDGET_S` (warm: the parser's and the
interpreter's caches are hot), and prints one JSON object with both and a count of what was loaded (nodes and the
sum of their lines). The parent refuses a run whose count differs from its own load of the same files
(BenchError) and never keeps its figure. A row's figure is the median over its child processes of the first (cold)
load; its CPU column is that first load's CPU, its wall column the whole child (interpreter start, imports, the
warm loads).

- **the user's bindings**: every file of the 2026-02-20 binding set the tests carry (tests/data/spine-bindings),
  judged against the target of issue 19: ≤ 40 ms for all of them.
- **growth**: the synthetic `vm.lifecycle.yaml` of benchmarks/estate.py at 1,000 and 5,000 guests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .estate import Estate, EstateSpec
from .harness import BenchError, Row, render, run_measured

REPO = Path(__file__).resolve().parents[1]
BINDINGS = REPO / "tests" / "data" / "spine-bindings" / "2026-02-20"
TARGET_S = 0.040
REPEAT = 20  # warm loads per child, after the cold one ...
WARM_BUDGET_S = 0.25  # ... or fewer, once they took this long (but at least 3): the big files would take seconds
GROWTH_GUESTS = (1_000, 5_000)


# ── the child ────────────────────────────────────────────────────────────────


def tally(value: Any, found: list[int] | None = None) -> list[int]:
    """[nodes, sum of lines] of a loaded value: what the parent checks a child loaded."""
    found = [0, 0] if found is None else found
    stack = [value]
    while stack:
        item = stack.pop()
        found[0] += 1
        if isinstance(item, dict):
            found[1] += getattr(item, "line", 0) + sum(getattr(item, "key_lines", {}).values())
            stack.extend(item.values())
            found[0] += len(item)  # the keys
        elif isinstance(item, list):
            found[1] += getattr(item, "line", 0) + sum(getattr(item, "item_lines", ()))
            stack.extend(item)
    return found


def child(files: list[Path], repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    from reconciler.yamlio import load_yaml_file

    imported = time.perf_counter() - started

    def load_all() -> list[Any]:
        return [load_yaml_file(path) for path in files]

    cpu, wall = time.process_time(), time.perf_counter()
    loaded = load_all()
    cold_s, cold_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    warm: list[float] = []
    while len(warm) < repeat and (len(warm) < 3 or sum(warm) < WARM_BUDGET_S):
        wall = time.perf_counter()
        load_all()
        warm.append(time.perf_counter() - wall)
    counted = [0, 0]
    for value in loaded:
        tally(value, counted)
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "import_s": imported,
            "cold_s": cold_s, "cold_cpu_s": cold_cpu_s, "warm_s": statistics.median(warm) if warm else None,
            "warm_loads": len(warm), "nodes": counted[0], "line_sum": counted[1]}


# ── the parent ───────────────────────────────────────────────────────────────


def expected_tally(files: list[Path]) -> list[int]:
    from reconciler.yamlio import load_yaml_file

    counted = [0, 0]
    for path in files:
        tally(load_yaml_file(path), counted)
    return counted


def measure(runs: int, files: list[Path], scenario: str, target: str) -> tuple[Row, list[dict[str, Any]]]:
    """`runs` child processes loading `files`: the row (wall, CPU and RSS of each whole child) and their reports."""
    wanted = expected_tally(files)
    row = Row(scenario, target)
    results = []
    for _ in range(runs):
        sample = run_measured([sys.executable, "-m", "benchmarks.yaml_load", "--child", "--repeat", str(REPEAT),
                               *map(str, files)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        if sample.exit_code != 0:
            raise BenchError(f"benchmarks.yaml_load exited {sample.exit_code}: {sample.stderr.strip()[-300:]}")
        result = json.loads(sample.stdout)
        if [result["nodes"], result["line_sum"]] != wanted:
            raise BenchError(f"{scenario}: the child loaded {result['nodes']} nodes (line sum {result['line_sum']}), "
                             f"expected {wanted[0]} ({wanted[1]})")
        results.append(result)
        row.samples.append(sample)
    row.cpu_override_s = statistics.median(r["cold_cpu_s"] for r in results)
    return row, results


def _ms(results: list[dict[str, Any]], key: str) -> float:
    return 1000 * statistics.median(r[key] for r in results)


def bindings_row(runs: int) -> Row:
    files = sorted(BINDINGS.rglob("*.yaml"))
    if not files:
        raise BenchError(f"no binding files under {BINDINGS}")
    size_kb = sum(p.stat().st_size for p in files) / 1024
    row, results = measure(runs, files, f"YAML with line numbers, the user's 2026-02-20 bindings ({len(files)} files, "
                                        f"{size_kb:.0f} KB)", "≤ 40 ms")
    cold = _ms(results, "cold_s")
    row.note = (f"load {cold:.1f} ms: the first load in a fresh process (load_yaml_file of every file: read, parse, "
                f"YMap/YList with lines), median of {runs} processes; warm {_ms(results, 'warm_s'):.1f} ms (median of "
                f"{results[0]['warm_loads']} more loads in the same process); CPU column: the first load's CPU; wall "
                f"column: the whole child (interpreter start, imports: reconciler.yamlio "
                f"{_ms(results, 'import_s'):.0f} ms, the warm loads); {results[0]['nodes']} nodes")
    row.met = cold / 1000 <= TARGET_S
    return row


def growth_rows(runs: int) -> list[Row]:
    rows: list[Row] = []
    per_guest: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-yaml-") as tmp:
        for guests in GROWTH_GUESTS:
            root = Estate(EstateSpec(guests=guests)).write_bindings(Path(tmp) / str(guests))
            path = root / "ops" / "bindings" / "vm.lifecycle.yaml"
            size_kb = path.stat().st_size / 1024
            row, results = measure(runs, [path], f"YAML with line numbers, synthetic vm.lifecycle.yaml, {guests:,} "
                                                 f"guests ({size_kb:.0f} KB)", "linear growth")
            cold = _ms(results, "cold_s")
            per_guest[guests] = cold / guests
            row.note = (f"load {cold:.1f} ms (first load in a fresh process, median of {runs}), warm "
                        f"{_ms(results, 'warm_s'):.1f} ms; {1000 * per_guest[guests]:.1f} µs per guest")
            smallest = GROWTH_GUESTS[0]
            if guests != smallest:
                row.note += f", {per_guest[guests] / per_guest[smallest]:.2f} × the per-guest cost at {smallest:,}"
            rows.append(row)
    return rows


def yaml_rows(runs: int) -> list[Row]:
    """The user's bindings (judged: ≤ 40 ms), then the growth rows (1,000 and 5,000 guests)."""
    return [bindings_row(runs), *growth_rows(runs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="child processes per row (median)")
    parser.add_argument("--child", action="store_true", help="measure once and print JSON (what a row runs)")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="warm loads after the cold one (--child)")
    parser.add_argument("files", nargs="*", type=Path, help="the YAML files to load (--child)")
    args = parser.parse_args(argv)
    if args.child:
        json.dump(child(args.files, args.repeat), sys.stdout)
        return 0
    try:
        print(render(yaml_rows(args.runs)))
    except BenchError as exc:
        print(f"benchmarks: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
