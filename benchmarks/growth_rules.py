"""Growth of the container rules and of the governance lookups: the rule phase alone, at three sizes each.

    python -m benchmarks.growth_rules                  # every row, 3 measured runs each, as a table
    python -m benchmarks.growth_rules --runs 5 --only containers
    python -m benchmarks.growth_rules --child governance --size 1000    # one measurement as JSON (what a row runs)

Each measurement is a fresh child process that runs the scenario once on a small input (so that one-time costs,
imports and first calls, are not counted per item), builds its input (not timed), then times the rule phase
only (`time.process_time`: in-process CPU), `--repeats` times on that input (the least counts: the two CPUs are
shared with other work), and prints one JSON object with the findings it got, by rule, and the findings the
generated input implies; the parent refuses a run whose counts differ (BenchError) and never keeps its figure.
A row's CPU is the median over its child processes.

- **containers**: one docker host with `size` registered containers (the 4 services of each of `size / 4`
  declared stacks), their live stacks and containers; the rule phase is `engine.evaluate` with the stack part
  (the docker-family rules and the per-host views they share).
- **governance**: one site of `size` guests, each in every binding file the governance rules read; the files
  are written and loaded first (not timed); the rule phase is what `reconcile check` does once they are
  loaded (`governance.check.run_check`): the context, every governance rule, the coverage matrix.

Both inputs carry known differences at fixed residues of an item's index (`CONTAINER_CASES`,
`GOVERNANCE_CASES`), so every rule's expected findings are counted without running a rule.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .estate import PROXMOX_HOST, SITE, Estate, EstateSpec
from .harness import BenchError, Row, render, run_measured

REPO = Path(__file__).resolve().parents[1]
CONTAINER_SIZES = (1_000, 4_000, 16_000)
GUEST_SIZES = (250, 1_000, 4_000)
TARGET_SIZES = {"containers": 4_000, "governance": 1_000}  # the rows with a verdict
WARM_UP = {"containers": 40, "governance": 50}
REPEATS = 3  # rule phases per child process, on the same input  # a small run first, in the same process, not measured
LINEAR_WITHIN = 1.5  # per-item cost within 1.5 × the smallest size's
SERVICES = ("web", "db", "cache", "worker")
TARGETS_FILE = "ops/bindings/docker.compose.targets.yaml"
REGISTRY_FILE = "docs/governance/SERVICE_REGISTRY.yaml"
GOV_SITE = "shop"  # governance-registry's default scope is the shop site

# ── containers: one docker host ──────────────────────────────────────────────

# Stack k of the host: the stack cases by k % 20, the container cases by k % 10 (no k has both):
#   k%20 == 1  not deployed                       → stack-missing (its 4 containers go with it: not reported)
#   k%20 == 2  runs under another project name    → stack-drift name (matched by its directory)
#   k%20 == 3  an undeclared project beside it    → stack-unregistered
#   k%10 == 4  its web container is absent        → container-missing (error)
#   k%10 == 5  its db container exited            → container-drift (error) + stack-drift state
#   k%10 == 6  its cache is parked but runs       → container-drift (warning)
#   k%10 == 7  its worker is deprecated, absent   → container-missing (info)
#   k%10 == 8  its web is stopped but runs        → container-drift (info)
#   k%10 == 9  a registered, exited container of an undeclared project → that project's stack-unregistered only
CONTAINER_CASES: dict[str, Callable[[int], int]] = {
    "stack-missing": lambda k: int(k % 20 == 1),
    "stack-drift": lambda k: int(k % 20 == 2) + int(k % 10 == 5),
    "stack-unregistered": lambda k: int(k % 20 == 3) + int(k % 10 == 9),
    "container-missing": lambda k: int(k % 10 in (4, 7)),
    "container-drift": lambda k: int(k % 10 in (5, 6, 8)),
}
_STATUS = {(6, "cache"): "parked", (7, "worker"): "deprecated", (8, "web"): "stopped"}
_ABSENT = {(4, "web"), (7, "worker")}


def container_expected(size: int) -> dict[str, int]:
    """Findings by rule id that `container_case(size)` implies."""
    counts = {rule: sum(case(k) for k in range(size // len(SERVICES))) for rule, case in CONTAINER_CASES.items()}
    return {rule: n for rule, n in counts.items() if n}


def container_case(size: int) -> tuple[Any, Any]:
    """(DeclaredSite, LiveState): one docker host with `size` registered containers (see CONTAINER_CASES)."""
    from reconciler.bindings.docker import DockerBindings, DockerEndpoint
    from reconciler.bindings.lifecycle import LifecycleFile
    from reconciler.bindings.placement import Placement
    from reconciler.config import SiteConfig
    from reconciler.engine import DeclaredSite
    from reconciler.model import (
        DeclaredContainer,
        DeclaredStack,
        DockerObservation,
        LiveContainer,
        LiveStack,
        LiveState,
        SiteScope,
        SourceRef,
        SourceStatus,
    )

    host = Estate(EstateSpec(guests=0, docker_hosts=1)).docker_targets[0]
    stacks, registered, live_stacks, live_containers = [], [], [], []

    def run(project: str, wd: str, members: list[tuple[str, str, str]]) -> None:
        live_stacks.append(LiveStack(project, dict(Counter(state for *_, state in members)),
                                     (f"{wd}/compose.yaml",), wd))
        live_containers.extend(LiveContainer(name, state, "Up 3 days" if state == "running" else "Exited (1)",
                                             "example/app:1", project, service, wd)
                               for name, service, state in members)

    for k in range(size // len(SERVICES)):
        name = f"s{k:05d}"
        path = f"/opt/stacks/{name}"
        stacks.append(DeclaredStack(host, name, path, SourceRef(TARGETS_FILE, 5 + 3 * k)))
        members = []
        for j, service in enumerate(SERVICES):
            container, case = f"{name}-{service}-1", (k % 10, service)
            registered.append(DeclaredContainer(f"{name}-{service}", host, container, _STATUS.get(case, "active"),
                                                SourceRef(REGISTRY_FILE, 3 + 8 * k + 2 * j), f"{path}/compose.yaml"))
            if case not in _ABSENT:
                members.append((container, service, "exited" if case == (5, "db") else "running"))
        if k % 20 != 1:
            run(f"{name}-old" if k % 20 == 2 else name, path, members)
        if k % 20 == 3:
            run(f"x{k:05d}", f"/srv/x{k:05d}", [(f"x{k:05d}-web-1", "web", "running")])
        if k % 10 == 9:
            registered.append(DeclaredContainer(f"y{k:05d}", host, f"y{k:05d}-web-1", "active",
                                                SourceRef(REGISTRY_FILE, 1 + 8 * k)))
            run(f"y{k:05d}", f"/srv/y{k:05d}", [(f"y{k:05d}-web-1", "web", "exited")])
    config = SiteConfig(name=SITE, path=Path("bench.yaml"), bindings_root=Path("."), binding_paths={})
    scope = SiteScope(SITE, frozenset(), docker_targets=frozenset({host}))
    docker = DockerBindings(site=SITE, targets=(DockerEndpoint(target=host, compose_target=host, host="127.0.0.1"),),
                            stacks=tuple(stacks), containers=tuple(registered))
    site = DeclaredSite(config, Placement(), scope, LifecycleFile((), (), "ops/bindings/vm.lifecycle.yaml"), docker)
    observation = DockerObservation(host, SITE, True, "/root", tuple(live_stacks), tuple(live_containers),
                                    status=SourceStatus("docker", host, SITE, "ok", requests=1))
    return site, LiveState(docker=(observation,))


def timed(phase: Callable[[], tuple[list[Any], int | None]], repeats: int) -> dict[str, Any]:
    """Run the rule phase `repeats` times on the same input (it is pure); its CPU and wall time, the least of the
    repeats (the figure least disturbed by the rest of the machine), and its counts, the same every time."""
    cpu, wall, counts = [], [], []
    for _ in range(repeats):
        started_cpu, started = time.process_time(), time.perf_counter()
        findings, misses = phase()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        counts.append((dict(Counter(f.rule for f in findings)), misses))
        del findings
    if any(c != counts[0] for c in counts):
        raise BenchError(f"the rule phase found different findings when repeated: {counts}")
    return {"rule_cpu_s": min(cpu), "rule_cpu_runs_s": cpu, "rule_wall_s": min(wall), "findings": counts[0][0],
            "coverage_miss": counts[0][1]}


def measure_containers(size: int, repeats: int) -> dict[str, Any]:
    from reconciler.engine import Part, evaluate

    parts = frozenset({Part.STACKS})
    evaluate(*container_case(WARM_UP["containers"]), parts)  # first-call costs: not per item
    started = time.perf_counter()
    site, live = container_case(size)
    built = time.perf_counter() - started
    result = timed(lambda: (list(evaluate(site, live, parts)), None), repeats)
    return {"scenario": "containers", "size": size, **result, "build_s": built,
            "registered": len(site.docker.containers), "live_containers": len(live.docker[0].containers),
            "stacks": len(site.docker.stacks), "expected": container_expected(size), "expected_coverage_miss": None}


# ── governance: one site, every binding file ─────────────────────────────────

# Guest i (r = i % 50) is in every file and clean, except:
#   1 no SERVICE_REGISTRY host                      → registry          2 no backup target, no backup_target → backup
#   3 no health probe                               → health            4 no compose target              → compose
#   5 its stack has no STACK_REGISTRY entry         → stack-registry    6 ssh target host is not its address → ssh
#   7 its ssh target is under another id (alias-N)  → ssh + orphans (the alias names no guest, its address does)
#   8 its probe calls another address               → health            9 registry vmid differs          → registry
#  10 hostname over 20 characters                   → naming           11 profile PENDING_PROFILE         → placeholders
#  12 its backup target is listed twice             → duplicates       13 a probe of host ghost-N (no guest) → orphans
#  14 its compose target declares an extra stack    → compose          15 vmid outside the site's range   → vmid-range
#  16 its backup target globs the lxc artifacts (it is a VM) → backup twice (the glob, and its backup_target's glob)
GOVERNANCE_CASES: dict[str, dict[int, int]] = {
    "governance-registry": {1: 1, 9: 1}, "governance-backup": {2: 1, 16: 2}, "governance-health": {3: 1, 8: 1},
    "governance-compose": {4: 1, 14: 1}, "governance-stack-registry": {5: 1}, "governance-ssh": {6: 1, 7: 1},
    "governance-orphans": {7: 1, 13: 1}, "governance-naming": {10: 1}, "governance-placeholders": {11: 1},
    "governance-duplicates": {12: 1}, "governance-vmid-range": {15: 1},
}
# coverage cells that are MISS: the guest-surface rules' residues (every finding of theirs here is an error)
COVERAGE_MISS = {r: None for r in (1, 2, 3, 4, 6, 7, 8, 9, 14, 16)}
FIRST_VMID = 1000


def governance_expected(size: int) -> dict[str, int]:
    """Findings by rule id that `governance_files(size)` implies (the loaders report nothing)."""
    residues = Counter(i % 50 for i in range(size))
    counts = {rule: sum(n * residues[r] for r, n in cases.items()) for rule, cases in GOVERNANCE_CASES.items()}
    return {rule: n for rule, n in counts.items() if n}


def coverage_expected(size: int) -> int:
    """MISS cells of the coverage matrix: one per guest with a guest-surface finding (none has two)."""
    return sum(1 for i in range(size) if i % 50 in COVERAGE_MISS)


def governance_files(size: int) -> dict[str, Any]:
    """Every binding file (path under the bindings root → content) of a site of `size` guests."""
    vms, ssh, hosts, services, backups, probes, compose, registry = [], [], {}, {}, [], [], {}, []
    for i in range(size):
        r = i % 50
        vmid = 500_000 + i if r == 15 else FIRST_VMID + i
        name = f"g{vmid}-with-a-long-name" if r == 10 else f"g{vmid}"
        ts, lan, stack = f"100.64.{(i >> 8) & 255}.{i & 255}", f"198.18.{(i >> 8) & 255}.{i & 255}", f"app-{vmid}"
        vm = {"id": vmid, "hostname": name, "proxmox_host": PROXMOX_HOST, "status": "active", "tailscale_ip": ts,
              "lan_ip": lan, "ssh_target": name, "stacks": [stack], "health_probe_policy": "full"}
        if r != 2:
            vm["backup_target"] = f"vm-{vmid}"
        if r == 11:
            vm["profile"] = "PENDING_PROFILE"
        vms.append(vm)
        ssh.append({"id": f"alias-{vmid}" if r == 7 else name,
                    "host": f"198.19.{(i >> 8) & 255}.{i & 255}" if r == 6 else ts, "user": "ubuntu",
                    "tags": ["docker", GOV_SITE]})
        if r != 1:
            hosts[name] = {"tailscale_ip": ts, "ssh": name, "vmid": vmid + 100_000 if r == 9 else vmid,
                           "proxmox_host": PROXMOX_HOST}
        services[f"svc-{vmid}"] = {"host": name, "container": stack}
        if r != 2:
            kind = "lxc" if r == 16 else "qemu"
            target = {"name": f"vm-{vmid}", "enabled": True, "host": PROXMOX_HOST,
                      "glob": f"vzdump-{kind}-{vmid}-*.vma.zst"}
            backups += [target, dict(target)] if r == 12 else [target]
        if r != 3:
            probes.append({"id": stack, "host": name, "url": f"http://{'198.20.0.1' if r == 8 else ts}:8080/health",
                           "expect": 200})
        if r == 13:
            probes.append({"id": f"ghost-{vmid}", "host": f"ghost-{vmid}",
                           "url": f"http://198.21.{(i >> 8) & 255}.{i & 255}/health", "expect": 200})
        if r != 4:
            extra = [{"name": f"extra-{vmid}", "path": f"/opt/stacks/extra-{vmid}"}] if r == 14 else []
            compose[name] = {"ssh_target": name, "stacks": [{"name": stack, "path": f"/opt/stacks/{stack}"}, *extra]}
        if r != 5:
            registry.append({"stack_id": stack, "path": f"proxmox:vm-{vmid}"})
    return {
        "ops/bindings/infra.placement.policy.yaml": {
            "sites": {GOV_SITE: {"proxmox_hosts": [PROXMOX_HOST], "vmid_min": FIRST_VMID,
                                 "vmid_max": FIRST_VMID + max(size, 1) - 1}},
            "hosts": {PROXMOX_HOST: {"site": GOV_SITE, "kind": "proxmox"}}},
        "ops/bindings/vm.lifecycle.yaml": {"vms": vms},
        "ops/bindings/ssh.targets.yaml": {"ssh": {"defaults": {"user": "root"}, "targets": ssh}},
        REGISTRY_FILE: {"services": services, "hosts": hosts},
        "ops/bindings/backup.inventory.yaml": {"targets": backups},
        "ops/bindings/services.health.yaml": {"endpoints": probes},
        TARGETS_FILE: {"targets": compose},
        "docs/governance/STACK_REGISTRY.yaml": {"stacks": registry},
        "ops/bindings/naming.policy.yaml": {"naming_convention": {"rules": [
            "Lowercase only, hyphens for separators", "Max 20 characters", "No underscores"]}},
    }


def write_governance(root: Path, size: int) -> Any:
    """Write the files under `root`; the site's SiteConfig."""
    from reconciler.config import BINDING_FILES, SiteConfig

    for rel, data in governance_files(size).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False, width=200), encoding="utf-8")
    return SiteConfig(name=GOV_SITE, path=root / f"{GOV_SITE}.yaml", bindings_root=root,
                      binding_paths={k: root / v for k, v in BINDING_FILES.items()})


def load(cfg: Any) -> tuple[Any, Any]:
    """(bindings, policy) as `run_check` loads them (not the rule phase)."""
    from reconciler.bindings.governance import load_governance
    from reconciler.governance.check import load_policy

    return load_governance(cfg), load_policy(cfg)


def governance_phase(bindings: Any, policy: Any) -> tuple[list[Any], Any]:
    """What `run_check` does once the files are loaded: the context, every rule, the coverage matrix."""
    from reconciler.governance.coverage import coverage
    from reconciler.model.report import sort_findings
    from reconciler.rules.governance import build_context
    from reconciler.rules.registry import run_governance_rules

    ctx = build_context(bindings, policy)
    rule_findings = list(run_governance_rules(ctx))
    matrix = coverage(bindings, policy, rule_findings)
    return sort_findings([*bindings.problems, *rule_findings]), matrix


def coverage_misses(matrix: Any) -> int:
    from reconciler.model.coverage import Cell

    return sum(1 for row in matrix.rows for cell in row.cells.values() if cell is Cell.MISS)


def measure_governance(size: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-governance-") as tmp:
        governance_phase(*load(write_governance(Path(tmp), WARM_UP["governance"])))  # first-call costs
    with tempfile.TemporaryDirectory(prefix="bench-governance-") as tmp:
        started = time.perf_counter()
        cfg = write_governance(Path(tmp), size)
        built = time.perf_counter() - started
        started = time.perf_counter()
        bindings, policy = load(cfg)
        loaded = time.perf_counter() - started

        def phase() -> tuple[list[Any], int]:
            findings, matrix = governance_phase(bindings, policy)
            return findings, coverage_misses(matrix)

        result = timed(phase, repeats)
    return {"scenario": "governance", "size": size, **result, "build_s": built, "load_s": loaded,
            "expected": governance_expected(size), "expected_coverage_miss": coverage_expected(size)}


# ── the rows ─────────────────────────────────────────────────────────────────

SCENARIOS: dict[str, tuple[tuple[int, ...], str, str]] = {  # name → sizes, row label, item noun
    "containers": (CONTAINER_SIZES, "container rules, {size} containers on one docker host", "container"),
    "governance": (GUEST_SIZES, "governance lookups, {size} guests with every binding file", "guest"),
}


def child(scenario: str, size: int, repeats: int = REPEATS) -> list[str]:
    return [sys.executable, "-m", "benchmarks.growth_rules", "--child", scenario, "--size", str(size),
            "--repeats", str(repeats)]


def measured(scenario: str, size: int, runs: int, repeats: int = REPEATS) -> Row:
    label = SCENARIOS[scenario][1]
    row = Row(label.format(size=f"{size:,}"), "linear growth")
    cpu = []
    for _ in range(runs):
        sample = run_measured(child(scenario, size, repeats), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        if sample.exit_code != 0:
            raise BenchError(f"benchmarks.growth_rules {scenario} {size} exited {sample.exit_code}: "
                             f"{sample.stderr.strip()[-300:]}")
        result = json.loads(sample.stdout)
        if result["findings"] != result["expected"]:
            raise BenchError(f"{scenario} at {size}: findings {result['findings']}, expected {result['expected']}")
        if result["coverage_miss"] != result["expected_coverage_miss"]:
            raise BenchError(f"{scenario} at {size}: {result['coverage_miss']} coverage MISS cells, expected "
                             f"{result['expected_coverage_miss']}")
        cpu.append(result["rule_cpu_s"])
        row.samples.append(sample)
    row.cpu_override_s = statistics.median(cpu)
    return row


def per_item_us(row: Row, size: int) -> float:
    return row.cpu_s / size * 1e6


def rules_rows(runs: int, only: Sequence[str] = tuple(SCENARIOS), repeats: int = REPEATS) -> list[Row]:
    """Container rules at 1,000 / 4,000 / 16,000 containers on one host; governance at 250 / 1,000 / 4,000 guests.

    CPU is the rule phase's alone (median of `runs` fresh processes); the row of the middle size has the verdict:
    its CPU per item within LINEAR_WITHIN × the smallest size's."""
    rows = []
    for scenario in only:
        sizes, _, noun = SCENARIOS[scenario]
        produced = [measured(scenario, size, runs, repeats) for size in sizes]
        base = per_item_us(produced[0], sizes[0])
        for size, row in zip(sizes, produced, strict=True):
            per = per_item_us(row, size)
            row.note = (f"{row.cpu_s:.3f} s CPU in the rule phase, {per:.1f} µs per {noun}"
                        f" ({per / base:.2f} × the {sizes[0]:,}-{noun} row's)")
            if size == TARGET_SIZES[scenario]:
                row.target = f"linear: per-{noun} cost within {LINEAR_WITHIN}× of the {sizes[0]:,}-{noun} row's"
                row.met = per <= LINEAR_WITHIN * base
        rows += produced
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=tuple(SCENARIOS), help="measure once and print JSON (what a row runs)")
    parser.add_argument("--size", type=int, help="containers or guests (with --child)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="rule phases per child (the least counts)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=tuple(SCENARIOS), default=list(SCENARIOS))
    args = parser.parse_args(argv)
    if args.child:
        measure = measure_containers if args.child == "containers" else measure_governance
        json.dump(measure(args.size or TARGET_SIZES[args.child], args.repeats), sys.stdout)
        return 0
    rows = rules_rows(args.runs, args.only, args.repeats)
    print(render(rows))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
