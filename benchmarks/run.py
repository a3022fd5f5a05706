"""The benchmark runner: every scenario of docs/performance.md, one table.

    benchmarks/run                      # all scenarios, 3 measured runs each (demo: 5)
    benchmarks/run --only pve core      # some scenarios (names: see --help)
    benchmarks/run --peer               # also the ansible inventory peer (needs /tmp/peer-venv, ~2 minutes)
    benchmarks/run --json results.json  # the figures as JSON too

Each figure is a fresh child process measured from outside (wall: median of the runs; CPU: user + system
of the child; peak RSS: the child's high-water mark). Every run is checked to have done the expected
work (request counts, findings); a run that did not is an error, not a figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/ first, not the repo
    sys.path.insert(0, str(REPO))

from benchmarks.estate import EstateSpec  # noqa: E402
from benchmarks.harness import BenchError, ProcessSample, Row, reconcile_command, render, run_measured  # noqa: E402

PVE_DELAY_S = 0.020
DOCKER_DELAY_S = 0.300
DEFAULT_SSH_CONCURRENCY = 16  # reconciler.config.SshSettings.concurrency (not changed by the benchmark)
DEFAULT_PVE_CONCURRENCY = 8  # reconciler.config.ProxmoxHostConfig.concurrency (idem)


# ── scenarios ────────────────────────────────────────────────────────────────


def pve_rows(runs: int, guests: int, snapshot: bool = False, concurrency: int | None = None) -> list[Row]:
    from benchmarks.pve import PveBench

    spec = EstateSpec(guests=guests, nodes=3)
    rows = []
    with PveBench(spec, PVE_DELAY_S, concurrency) as bench:
        wanted = bench.estate.reconcile_requests()
        if concurrency:
            label, target = f", proxmox concurrency {concurrency}", "(what-if)"
        else:
            label = ""
            target = "≤ 3 s; ≤ 1/host + 1/guest needing detail" if guests >= 1000 else "linear growth"
        row = Row(f"reconcile, {guests} guests / 3 nodes, 20 ms/request{label}", target)
        for _ in range(runs):
            sample, row.requests = bench.reconcile()
            row.samples.append(sample)
        detail = wanted - 1
        used = concurrency or DEFAULT_PVE_CONCURRENCY
        row.note = (f"= 1 listing + {detail} address requests (running guests with lan_ip), 0 permissions/version; "
                    f"floor {detail} × 20 ms / {used} = {detail * PVE_DELAY_S / used:.2f} s")
        if guests >= 1000 and not concurrency:
            row.met = row.wall_s <= 3.0 and row.requests <= 1 + detail
        rows.append(row)
        if snapshot:
            snap = Row(f"snapshot, {guests} guests (addresses of every running guest)", "(same work as the peer)")
            for _ in range(runs):
                sample, snap.requests = bench.snapshot()
                snap.samples.append(sample)
            snap.note = f"{bench.estate.snapshot_requests() - 1} running guests; reference for the peer ratio"
            rows.append(snap)
    return rows


def ssh_row(runs: int, hosts: int, concurrency: int | None = None) -> Row:
    from benchmarks.ssh_fanout import SshBench

    spec = EstateSpec(guests=0, docker_hosts=hosts)
    used = concurrency or DEFAULT_SSH_CONCURRENCY
    label = f"default concurrency {used}" if concurrency is None else f"ssh.concurrency {concurrency}"
    judged = concurrency is None and hosts == 50
    target = "≤ 1.15 × ideal client" if judged else "(what-if)" if concurrency else "linear growth"
    row = Row(f"stacks over SSH, {hosts} docker hosts, 300 ms/docker command, {label}", target)
    per_host: list[float] = []
    single: list[float] = []
    ideal: list[float] = []
    with SshBench(spec, DOCKER_DELAY_S, concurrency) as bench:
        for _ in range(runs):  # alternating: one host alone, the ideal client over all hosts, a whole reconcile
            single.append(bench.ideal_host_seconds())
            ideal.append(bench.ideal(used).wall_s)
            sample, row.requests = bench.reconcile()
            row.samples.append(sample)
            per_host += host_seconds(sample)
    waves = math.ceil(hosts / used)
    one, fan_out = statistics.median(single), statistics.median(ideal)
    floor = waves * one
    row.note = (f"SSH sessions; per host median {statistics.median(per_host):.2f} s in the reconcile, {one:.2f} s "
                f"alone (handshake + 1 command of 0.30 s + read); floor {waves} waves × {one:.2f} = {floor:.2f} s "
                f"(ratio {row.wall_s / floor:.2f} ×); ideal paramiko client, same hosts and concurrency, own process: "
                f"{fan_out:.2f} s (ratio {row.wall_s / fan_out:.2f} ×)")
    if judged:
        row.met = row.wall_s <= 1.15 * fan_out
    return row


def host_seconds(sample: ProcessSample) -> list[float]:
    """Per docker host: the seconds its connection took (from the report's source details)."""
    report = json.loads(sample.stdout)
    found = (re.search(r"\(([\d.]+) s\)$", s["detail"]) for s in report["sources"] if s["kind"] == "docker")
    return [float(m.group(1)) for m in found if m]


def core_row(runs: int, guests: int, hosts: int, stacks_per_host: int = 10) -> Row:
    stacks = hosts * stacks_per_host
    row = Row(f"comparison core, {guests} declared × {guests} live guests, {stacks} stacks",
              "≤ 1 s CPU, ≤ 200 MB peak RSS" if guests >= 10_000 else "linear growth")
    cpu: list[float] = []
    for _ in range(runs):
        sample = run_measured([sys.executable, "-m", "benchmarks.core", "--guests", str(guests), "--docker-hosts",
                               str(hosts), "--stacks-per-host", str(stacks_per_host)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        if sample.exit_code != 0:
            raise BenchError(f"benchmarks.core exited {sample.exit_code}: {sample.stderr.strip()[-300:]}")
        result = json.loads(sample.stdout)
        if result["findings"] != result["expected"]:
            raise BenchError(f"comparison core findings {result['findings']}, expected {result['expected']}")
        cpu.append(result["evaluate_cpu_s"])
        row.samples.append(sample)
    row.cpu_override_s = statistics.median(cpu)
    process_cpu = statistics.median(s.cpu_s for s in row.samples)
    row.note = f"CPU = evaluate() only; whole process {process_cpu:.2f} s CPU (imports + building the inputs)"
    if guests >= 10_000:
        row.met = row.cpu_s <= 1.0 and row.peak_rss_mb <= 200
    return row


def demo_row(runs: int) -> Row:
    row = Row("`reconcile --site demo`, cold process", "≤ 1 s")
    for _ in range(runs):
        sample = run_measured([*reconcile_command(), "--site", "demo"], cwd=REPO, env={**os.environ, "NO_COLOR": "1"})
        if sample.exit_code != 1 or "unregistered" not in sample.stdout:
            raise BenchError(f"the demo exited {sample.exit_code} (expected 1, drift): {sample.stderr.strip()[-300:]}")
        row.samples.append(sample)
    row.note = "the packaged demo site (offline snapshot); includes interpreter start and imports"
    row.met = row.wall_s <= 1.0
    return row


def peer_rows(venv: Path, ours: Row | None) -> list[Row]:
    from benchmarks.peer import run_peer
    from benchmarks.pve import PveBench

    with PveBench(EstateSpec(guests=1000, nodes=3), PVE_DELAY_S) as bench:
        sample, requests, with_ips = run_peer(bench, venv)
    row = Row("peer: ansible-inventory --list, community.proxmox.proxmox want_facts, 1000 guests, 20 ms/request",
              "ours ≥ 30× faster", [sample], requests)
    if ours is not None and ours.samples:
        ratio = row.wall_s / ours.wall_s
        row.note = (f"{with_ips} guests with addresses; {ratio:.0f}× our wall, "
                    f"{requests / max(ours.requests or 1, 1):.1f}× our requests")
        row.met = ratio >= 30
    else:
        row.note = f"{with_ips} guests with addresses (run with the pve scenario for the ratio)"
    return [row]


# ── the runner ───────────────────────────────────────────────────────────────

SCENARIOS = ("pve", "growth", "ssh", "core", "demo")


def run(args: argparse.Namespace) -> list[Row]:
    chosen = set(args.only or SCENARIOS)
    rows: list[Row] = []
    ours: Row | None = None
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("growth", lambda: [r for g in (50, 200) for r in pve_rows(args.runs, g)]),
        ("pve", lambda: [*pve_rows(args.runs, 1000, snapshot=True), *pve_rows(args.runs, 1000, concurrency=16)]),
        ("ssh", lambda: [ssh_row(args.runs, 10), ssh_row(args.runs, 50), ssh_row(args.runs, 50, concurrency=8)]),
        ("core", lambda: [core_row(args.runs, 1000, 20), core_row(args.runs, 10_000, 200)]),
        ("demo", lambda: [demo_row(max(args.runs, 5))]),
    ]
    for name, step in steps:
        if name not in chosen:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        produced = step()
        rows += produced
        if name == "pve":
            ours = next(r for r in produced if r.scenario.startswith("snapshot"))
    if args.peer:
        print("running the peer (about 2 minutes) ...", file=sys.stderr, flush=True)
        rows += peer_rows(args.peer_venv, ours)
    return rows


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} "
            f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run", description="Run the reconciler benchmarks.")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario (median wall)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="run only these scenarios")
    parser.add_argument("--peer", action="store_true", help="also run the ansible inventory peer (optional)")
    parser.add_argument("--peer-venv", type=Path, default=Path("/tmp/peer-venv"),
                        help="virtualenv holding ansible (default /tmp/peer-venv; see docs/performance.md)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    before = machine()
    try:
        rows = run(args)
    except BenchError as exc:
        print(f"benchmarks: error: {exc}", file=sys.stderr)
        return 2
    print(f"# {before}")
    print(render(rows))
    print(f"# after: load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps([{
            "scenario": r.scenario, "target": r.target, "wall_s": r.wall_s, "runs": len(r.samples),
            "walls_s": [s.wall_s for s in r.samples], "requests": r.requests, "cpu_s": r.cpu_s,
            "peak_rss_mb": r.peak_rss_mb, "met": r.met, "note": r.note} for r in rows], indent=2) + "\n")
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
