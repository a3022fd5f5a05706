"""`reconcile plan-vm --verify VMID --site S`: the full reconcile and governance checks, for one guest.

No rule is re-implemented here. The guest side runs the engine's guest and stack rules
(`engine.evaluate`) on the site's live data; the governance side runs every governance rule
(`rules.governance`) and the coverage matrix (`governance.coverage`). Both results are then
filtered to the findings about this guest and its own entries.

Two deliberate differences from a full run:

- Governance rule scopes are widened to the guest's own lifecycle status. The default scopes cover
  `active` guests only, and the VALIDATE phase happens while the guest is `registered`.
- Docker is asked over SSH only for the guest's own compose target, never for the site's other hosts.

Exit codes: 0 when every check passes (the guest is governed), 1 when one fails, 3 when nothing
failed but something could not be observed, and 2 on an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from .. import engine, governance
from ..bindings.governance import load_governance
from ..collect.docker import Progress, collect_docker, skipped
from ..collect.snapshot import load_snapshot
from ..config import SiteConfig
from ..errors import ConfigError
from ..model import (
    GONE,
    DeclaredGuest,
    DockerObservation,
    Finding,
    Kind,
    LiveGuest,
    LiveState,
    ProxmoxObservation,
    Severity,
    Status,
    Subject,
)
from ..model.coverage import Cell
from ..model.plan import Check, Outcome, Verification
from ..rules.governance import build_context
from ..rules.governance.context import GovernanceContext
from ..rules.registry import SURFACE_RULES, run_governance_rules
from ..settings import GovernancePolicy
from .run import target_config

PASS, WARN, FAIL = Outcome.PASS, Outcome.WARN, Outcome.FAIL
# Policy fields widened to the guest's status (the guest-level governance rules).
_GUEST_SCOPES = tuple(f"governance-{name}" for name in (
    "ssh", "registry", "backup", "health", "compose", "stack-registry", "placeholders", "vmid-range", "naming"))
# Entry types of governance findings that are about one file entry (orphans, duplicates, loaders).
_ENTRY_TYPES = {"ssh-target", "compose-target", "health-endpoint", "registry-host", "backup-target", "registry-stack",
                "host"}
READY = frozenset({Status.REGISTERED, Status.ACTIVE, Status.STOPPED})


def verify_vm(configs: Sequence[SiteConfig], site: str, vmid: int, live_file: Path | None = None,
              skip_ssh: bool = False, proxmox_host: str | None = None,
              progress: Progress | None = None) -> Verification:
    cfg = target_config(configs, site)
    declared = engine.load_declared(cfg)
    guest = _find_guest(declared, vmid, proxmox_host)
    if guest is None:
        hosts = ", ".join(sorted(declared.scope.proxmox_hosts)) or "none"
        check = Check("declared", FAIL, f"vmid {vmid} is not declared for a Proxmox host of site {site} ({hosts}) "
                      f"in {declared.lifecycle.shown}", hint="paste the vm.lifecycle.yaml stub of plan-vm first")
        return Verification(site, vmid, None, proxmox_host, (check,))
    observations, docker, live_from = _observe(cfg, declared, guest, live_file, skip_ssh, progress)
    errors = engine.fatal_errors(site, [o.status for o in observations if o.status is not None])
    live_findings = engine.evaluate(declared, LiveState(proxmox=observations, docker=docker),
                                    frozenset({engine.Part.GUESTS, engine.Part.STACKS}))
    policy = widened(governance.load_policy(cfg), guest.status)
    bindings = load_governance(cfg, declared.shared_files())
    ctx = build_context(bindings, policy)
    # the context's lookups compare guests by identity: use its own copy of the guest
    guest = next((g for g in ctx.site_guests if g.key == guest.key), guest)
    rule_findings = list(run_governance_rules(ctx))
    matrix = governance.coverage(bindings, policy, rule_findings, include_all=True)
    row = next((r for r in matrix.rows if (r.proxmox_host, r.vmid) == guest.key), None)
    names = own_entry_names(ctx, guest)
    mine_live = [f for f in live_findings if about(f, guest, names)]
    mine_gov = [f for f in (*bindings.problems, *rule_findings) if about(f, guest, names)]
    checks = [
        Check("declared", PASS, f"{guest.vm_type.value} {guest.vmid} '{guest.hostname}' on {guest.proxmox_host} "
              f"({guest.status.value})", (str(guest.source),)),
        _status_check(guest),
        *_live_checks(guest, observations, mine_live),
        *_surface_checks(ctx, guest, row.cells if row else {}, mine_gov),
        *_other_governance(mine_gov),
        *_health_placeholders(ctx, guest, policy),
        *_stack_checks(guest, docker, mine_live, skip_ssh, declared),
    ]
    return Verification(site, vmid, guest.hostname, guest.proxmox_host, tuple(checks), live_from, tuple(errors))


def _find_guest(declared: engine.DeclaredSite, vmid: int, proxmox_host: str | None) -> DeclaredGuest | None:
    found = [g for g in declared.lifecycle.guests if g.vmid == vmid and g.proxmox_host in declared.scope.proxmox_hosts
             and proxmox_host in (None, g.proxmox_host)]
    if len(found) > 1:
        hosts = ", ".join(g.proxmox_host for g in found)
        raise ConfigError(f"vmid {vmid} is declared on several Proxmox hosts of the site ({hosts}): "
                          "choose one with --proxmox-host")
    return found[0] if found else None


def widened(policy: GovernancePolicy, status: Status) -> GovernancePolicy:
    """The site's policy with each guest-level rule also covering `status` (VALIDATE happens while registered)."""
    if status in GONE or status is Status.TEMPLATE:
        return policy
    scopes = dict(policy.scopes)
    for rule_id in _GUEST_SCOPES:
        scopes[rule_id] = replace(policy.scope(rule_id), statuses=policy.scope(rule_id).statuses | {status})
    return replace(policy, scopes=scopes)


def own_entry_names(ctx: GovernanceContext, guest: DeclaredGuest) -> frozenset[str]:
    """Names of the guest's own entries in the other files (their orphan/duplicate/loader findings are its)."""
    names = {guest.hostname, *(n for n in (guest.ssh_target, guest.backup_target) if n)}
    names |= {t.name for t in ctx.backup_covering(guest)}
    names |= {e.id for e, _ in ctx.health_endpoints(guest)}
    names |= {t.id for t in ctx.compose_targets(guest)}
    entry = ctx.registry_host(guest)
    if entry is not None:
        names.add(entry.id)
    return frozenset(names | set(guest.stacks))


def about(finding: Finding, guest: DeclaredGuest, names: frozenset[str]) -> bool:
    """Is this finding about the guest (by Proxmox host and vmid) or one of its own entries, or does it hide
    the guest or its stacks (an outage of its Proxmox host, node or docker host)?"""
    subject = finding.subject
    if finding.hides and _hides(finding, guest):
        return True
    if subject.vmid is not None:
        return subject.vmid == guest.vmid and subject.proxmox_host in (None, guest.proxmox_host)
    if subject.type in ("stack", "container"):
        return subject.target == guest.ssh_target
    if subject.type not in _ENTRY_TYPES:
        return False
    if subject.proxmox_host not in (None, guest.proxmox_host):
        return False
    return (subject.name in names) or (subject.target in names)


def _hides(finding: Finding, guest: DeclaredGuest) -> bool:
    site = finding.subject.site
    mine = Subject(type=guest.vm_type.value, site=site, proxmox_host=guest.proxmox_host, vmid=guest.vmid)
    docker = (f"{site}/stack/{guest.ssh_target}/", f"{site}/container/{guest.ssh_target}/") \
        if guest.ssh_target else ()
    return any(path == f"{site}/{mine.handle}" or (docker and path.startswith(docker)) for path in finding.hides)


def outcome_of(finding: Finding) -> Outcome:
    if finding.kind is Kind.UNKNOWN:
        return WARN
    return FAIL if finding.actionable else PASS


def finding_check(prefix: str, finding: Finding) -> Check:
    tail = finding.field or finding.kind.value
    outcome = outcome_of(finding)
    # said once: a WARN label needs no "warning:" too; a FAIL of a warning-level finding, or an info, does
    shown = finding.severity is not Severity.ERROR and not (outcome is WARN and finding.severity is Severity.WARNING)
    severity = f"{finding.severity.value}: " if shown else ""
    return Check(f"{prefix}.{tail}", outcome, severity + finding.message,
                 tuple(str(s) for s in finding.sources), finding.hint)


# ── live side ────────────────────────────────────────────────────────────────


def _observe(cfg: SiteConfig, declared: engine.DeclaredSite, guest: DeclaredGuest, live_file: Path | None,
             skip_ssh: bool, progress: Progress | None
             ) -> tuple[tuple[ProxmoxObservation, ...], tuple[DockerObservation, ...], dict[str, str]]:
    path = live_file or cfg.live_snapshot
    targets = [t for t in declared.docker.targets if t.target == guest.ssh_target]
    if path is not None:
        state = load_snapshot(path)
        docker = tuple(o for o in engine.docker_from_snapshot(declared, state, path.name)
                       if o.target == guest.ssh_target)
        return engine.from_snapshot(declared, state, path.name), docker, {cfg.name: str(path)}
    observations = engine.collect_proxmox(declared, parts=frozenset({engine.Part.GUESTS}))
    if skip_ssh:
        docker = skipped([t.target for t in targets], cfg.name)
    else:
        docker = collect_docker(targets, cfg.ssh, cfg.name, progress)
    return observations, docker, {cfg.name: "api"}


def _live_guest(guest: DeclaredGuest, observations: Iterable[ProxmoxObservation]) -> LiveGuest | None:
    return next((g for o in observations for g in o.guests if g.key == guest.key), None)


def _status_check(guest: DeclaredGuest) -> Check:
    at = (str(guest.source_of("status")),)
    status = guest.status
    if status in (Status.REGISTERED, Status.ACTIVE):
        return Check("status", PASS, f"lifecycle status {status.value}", at)
    if status is Status.STOPPED:
        return Check("status", PASS, "lifecycle status stopped (governed while stopped)", at)
    if status is Status.PLANNING:
        return Check("status", FAIL, "lifecycle status is still planning", at,
                     hint=f"after the clone set status: provisioned, then registered at {at[0]} once every "
                          "binding entry is in place")
    if status is Status.PROVISIONED:
        return Check("status", FAIL, "lifecycle status is provisioned: the REGISTER phase is not finished", at,
                     hint=f"paste the remaining plan-vm stubs, then set status: registered at {at[0]}")
    return Check("status", FAIL, f"lifecycle status {status.value}: not a guest to govern", at)


def _live_checks(guest: DeclaredGuest, observations: Sequence[ProxmoxObservation],
                 findings: Sequence[Finding]) -> Iterator[Check]:
    # the guest's own findings, and the outage of its Proxmox host or node (one finding that hides it)
    guest_findings = [f for f in findings
                      if f.subject.vmid is not None or (f.subject.proxmox_host and _hides(f, guest))]
    yield from (finding_check("live", f) for f in guest_findings)
    if any(outcome_of(f) is not PASS for f in guest_findings):
        return
    live = _live_guest(guest, observations)
    if live is None:
        if guest.status in GONE or guest.status is Status.PLANNING:
            return
        yield Check("live", FAIL, f"{guest.vmid} is not live on {guest.proxmox_host}", (str(guest.source),))
        return
    yield Check("live", PASS, f"{live.vm_type.value} {live.vmid} '{live.name}' is {live.status} on node {live.node} "
                f"of {live.proxmox_host}, as declared")


def _surface_checks(ctx: GovernanceContext, guest: DeclaredGuest, cells: dict, findings: Sequence[Finding]
                    ) -> Iterator[Check]:
    for module in SURFACE_RULES:
        surface = module.SURFACE
        own = [f for f in findings if f.rule == module.RULE_ID]
        if own:
            yield from (finding_check(surface, f) for f in own)
            continue
        cell = cells.get(surface)
        if cell is None or cell is Cell.NA:
            yield Check(surface, PASS, f"not required for this guest at site {ctx.site} (n.a.)")
        else:
            yield Check(surface, PASS, *_where_registered(ctx, guest, surface))


def _where_registered(ctx: GovernanceContext, guest: DeclaredGuest, surface: str) -> tuple[str, tuple[str, ...]]:
    b = ctx.bindings
    if surface == "ssh":
        target = b.ssh.get(guest.ssh_target)
        return f"ssh target '{guest.ssh_target}' ({b.ssh.shown})", (str(target.source),) if target else ()
    if surface == "registry":
        entry = ctx.registry_host(guest)
        return f"registry host '{entry.id if entry else '?'}' ({b.registry.shown})", \
            (str(entry.source),) if entry else ()
    if surface == "backup":
        targets = [t for t in ctx.backup_covering(guest) if t.enabled]
        return f"backup target(s) {', '.join(t.name for t in targets)} ({b.backup.shown})", \
            tuple(str(t.source) for t in targets)
    if surface == "health":
        endpoints = [e for e, _ in ctx.health_endpoints(guest) if e.enabled]
        return f"health probe(s) {', '.join(e.id for e in endpoints)} ({b.health.shown})", \
            tuple(str(e.source) for e in endpoints)
    targets = ctx.compose_targets(guest)
    return f"compose target(s) {', '.join(t.id for t in targets)} ({b.compose.shown})", \
        tuple(str(t.source) for t in targets)


def _other_governance(findings: Sequence[Finding]) -> Iterator[Check]:
    surfaces = {module.RULE_ID for module in SURFACE_RULES}
    for finding in findings:
        if finding.rule not in surfaces:
            yield finding_check(finding.rule.removeprefix("governance-"), finding)


def _health_placeholders(ctx: GovernanceContext, guest: DeclaredGuest, policy: GovernancePolicy) -> Iterator[Check]:
    """A probe URL still holding a PENDING_* value (the placeholders rule reads no health URLs)."""
    for endpoint, _ in ctx.health_endpoints(guest):
        url = (endpoint.url or "").upper()
        if any(prefix.upper() in url for prefix in policy.placeholder_prefixes):
            yield Check("health.url", FAIL, f"probe '{endpoint.id}' URL {endpoint.url} still holds a placeholder",
                        (str(endpoint.source_of("url")),), hint="write the service's real health URL")


def _stack_checks(guest: DeclaredGuest, docker: Sequence[DockerObservation], findings: Sequence[Finding],
                  skip_ssh: bool, declared: engine.DeclaredSite) -> Iterator[Check]:
    own = [f for f in findings if f.subject.vmid is None]  # stacks, containers and the docker host itself
    if own:
        yield from (finding_check("stacks", f) for f in own)
        return
    stacks = [s for s in declared.docker.stacks if s.target == guest.ssh_target]
    if not stacks:
        yield Check("stacks", PASS, "no compose stacks declared for this guest")
        return
    observed = next((o for o in docker if o.target == guest.ssh_target and o.observed), None)
    if observed is None:
        why = "--skip-ssh" if skip_ssh else "its docker host was not observed"
        yield Check("stacks", WARN, f"{len(stacks)} declared stack(s) not checked ({why})")
        return
    yield Check("stacks", PASS, f"{', '.join(s.name for s in stacks)} running on {guest.ssh_target}, as declared")
