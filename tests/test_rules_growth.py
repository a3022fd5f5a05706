"""The indexed container rules and governance lookups report exactly what the generated estates imply.

The inputs are the growth benchmark's (benchmarks/growth_rules.py): one docker host with thousands of registered
containers, and a site of 1,000 guests present in every binding file, each with known differences at fixed
residues of an item's index. The expected findings are counted from that plan, never by running a rule; the
indexes built once per host / per context are also checked against the plain definitions they replace
(`belongs_to`, a scan of the file in order). Nothing here is timed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from benchmarks import growth_rules
from reconciler.engine import Part, evaluate, rule_context
from reconciler.model import Kind
from reconciler.rules._stacks import belongs_to, missing_stacks
from reconciler.rules.governance import build_context


def test_container_rules_find_exactly_the_generated_differences_on_16000_containers() -> None:
    site, live = growth_rules.container_case(16_000)
    assert len(site.docker.containers) == 16_000 + 400 and len(site.docker.stacks) == 4_000
    findings = evaluate(site, live, frozenset({Part.STACKS}))
    by_rule = Counter(f.rule for f in findings)
    assert by_rule == {"stack-missing": 200, "stack-drift": 600, "stack-unregistered": 600,
                       "container-missing": 800, "container-drift": 1_200}
    assert dict(by_rule) == growth_rules.container_expected(16_000)
    by_kind = Counter((f.rule, f.severity.value) for f in findings)
    assert by_kind[("container-missing", "error")] == by_kind[("container-missing", "info")] == 400
    assert [by_kind[("container-drift", s)] for s in ("error", "warning", "info")] == [400, 400, 400]
    missing = [f for f in findings if f.rule == "stack-missing"]
    assert all(len(f.hides) == 4 for f in missing)  # each missing stack names its 4 registered containers
    hidden = {h.rsplit("/", 1)[-1] for f in missing for h in f.hides}
    reported = {f.subject.name for f in findings if f.rule == "container-missing"}
    assert len(hidden) == 800 and not hidden & reported  # one cause, one finding
    renamed = [f for f in findings if f.rule == "stack-drift" and f.field == "name"]
    assert len(renamed) == 200 and all(f.live == f"{f.subject.name}-old" for f in renamed)
    unregistered = [f for f in findings if f.rule == "stack-unregistered"]
    assert sorted(len(f.live["containers"]) for f in unregistered) == [1] * 600


def test_host_view_indexes_answer_what_the_plain_definitions_answer() -> None:
    site, live = growth_rules.container_case(4_000)
    ctx = rule_context(site, live, frozenset({Part.STACKS}))
    (view,) = ctx.hosts
    obs = view.observation
    assert obs is not None and view.observed
    assert [s for s, _ in view.missing] == list(missing_stacks(view)) and len(view.missing) == 50
    for stack, members in view.missing:
        assert members == tuple(c for c in view.registered if belongs_to(c, stack, view.home))
    for container in view.registered:
        assert view.hides(container) == any(belongs_to(container, s, view.home) for s in missing_stacks(view))
    for name, first in view.live_by_name.items():
        assert first is next(c for c in obs.containers if c.name == name)
    assert view.unclaimed_names == {s.name for s in view.unclaimed}
    assert {p: sorted(n) for p, n in view.by_project.items()} == {
        p: sorted(c.name for c in obs.containers if c.project == p) for p in {c.project for c in obs.containers}}


def test_governance_finds_exactly_the_generated_differences_on_1000_guests(tmp_path: Path) -> None:
    cfg = growth_rules.write_governance(tmp_path, 1_000)
    bindings, policy = growth_rules.load(cfg)
    assert len(bindings.lifecycle.guests) == 1_000 and not bindings.problems and not bindings.missing
    findings, matrix = growth_rules.governance_phase(bindings, policy)
    by_rule = Counter(f.rule for f in findings)
    assert by_rule == {"governance-registry": 40, "governance-backup": 60, "governance-health": 40,
                       "governance-compose": 40, "governance-stack-registry": 20, "governance-ssh": 40,
                       "governance-orphans": 40, "governance-naming": 20, "governance-placeholders": 20,
                       "governance-duplicates": 20, "governance-vmid-range": 20}
    assert dict(by_rule) == growth_rules.governance_expected(1_000)
    assert all(f.kind is Kind.PARITY for f in findings)
    assert len(matrix.rows) == 1_000 and growth_rules.coverage_misses(matrix) == 200
    fields = Counter((f.rule, f.field) for f in findings)
    assert fields[("governance-health", "health")] == 20  # no probe
    assert sum(n for (rule, field), n in fields.items() if rule == "governance-health" and field != "health") == 20
    assert fields[("governance-backup", "backup.type")] == fields[("governance-backup", "backup_target")] == 20
    assert fields[("governance-registry", "registry.vmid")] == fields[("governance-registry", "registry")] == 20
    assert fields[("governance-ssh", "ssh.host")] == fields[("governance-ssh", "ssh_target")] == 20
    hints = [f.hint for f in findings if f.rule == "governance-ssh" and f.field == "ssh_target"]
    assert all(h.startswith("set ssh_target to 'alias-") for h in hints)  # the target found by the guest's address


def test_governance_lookups_answer_what_a_scan_of_each_file_answers(tmp_path: Path) -> None:
    cfg = growth_rules.write_governance(tmp_path, 300)
    bindings, policy = growth_rules.load(cfg)
    ctx = build_context(bindings, policy)
    b = ctx.bindings
    for guest in ctx.site_guests:
        addresses = ctx.addresses(guest)
        probes = [(e, "name") if ctx.resolve_name(e.host) is guest else (e, "address") for e in b.health.endpoints
                  if ctx.resolve_name(e.host) is guest
                  or (ctx.resolve_name(e.host) is None and e.url_host in addresses)]
        assert ctx.health_endpoints(guest) == probes
        assert ctx.backup_covering(guest) == [t for t in b.backup.targets if t.vzdump is not None
                                              and t.vzdump[1] == guest.vmid]
        assert ctx.compose_targets(guest) == [t for t in b.compose.targets.values()
                                              if t.ssh_target == guest.ssh_target]
        assert ctx.ssh_targets_at(guest) == [t for t in b.ssh.targets.values() if t.host in addresses]
        first = next((e for e in b.registry.hosts.values()
                      if e.vmid == guest.vmid and e.proxmox_host == guest.proxmox_host), None)
        if first is not None:
            assert ctx.registry_host(guest) is first


def test_growth_rows_check_the_counts_of_each_child_process() -> None:
    for scenario, size in (("containers", 400), ("governance", 100)):
        row = growth_rules.measured(scenario, size, runs=1, repeats=1)
        assert len(row.samples) == 1 and row.cpu_s >= 0 and row.samples[0].exit_code == 0
