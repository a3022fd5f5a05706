"""Each vzdump job's last run per node: failed, warned or missed (drifted); its scheduler down (unknown).

A node runs a job when the job's `node` is unset or that node, and the job selects one of the node's live
guests (an `all` job runs on every node). PVE's tasks do not name their job: with one job per node every run
is that job's; with several, a run belongs to the job whose schedule started last before it (within 30 min).
Schedules are read in the inventory's `defaults.timezone` (UTC without one): set it to the nodes' zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from ..model import Finding, Gap, Kind, LiveGuest, Reason, Severity, SourceRef, Subject
from ..model.backup import BackupJob, BackupObservation, NodeBackups, VzdumpTask
from . import RuleContext
from ._backups import target_sources
from ._schedule import Schedule, last_start, next_start, parse_schedule

RULE_ID = "backup-run"
EXPECTED_WITHIN_S = 26 * 3600  # a job whose schedule wanted a run this recently must have left a task
GRACE_S = 15 * 60  # a scheduled run may start a little late
ATTRIBUTION_S = 30 * 60


def check(ctx: RuleContext) -> Iterator[Finding]:
    backups, view = ctx.backups, ctx.backup_view
    if backups is None or not backups.present:
        return
    site = ctx.scope.site
    yield from _unasked(ctx, site)
    for host, obs in sorted(view.pve.items()):
        sources = _inventory_sources(ctx, host)
        if obs.jobs is None:
            yield _unknown(Subject(type="host", site=site, proxmox_host=host, name=host),
                           _gap(obs.gaps, "backup jobs"), "the vzdump jobs", sources, ())
            continue
        guests = [g for key, g in view.guests.items() if key[0] == host]
        enabled = [j for j in obs.jobs if j.enabled]
        for node in obs.nodes:
            jobs = [j for j in enabled if _runs_on(j, node.node, guests)]
            if jobs:
                yield from _node(ctx, obs, node, jobs, guests, site)


def _node(ctx: RuleContext, obs: BackupObservation, node: NodeBackups, jobs: list[BackupJob],
          guests: list[LiveGuest], site: str) -> Iterator[Finding]:
    host = obs.proxmox_host
    hides = tuple(f"{site}/backup-job/{node.node}/{j.id}" for j in jobs)
    subject = Subject(type="host", site=site, proxmox_host=host, target=host, name=node.node)
    targets = {j.id: _targets_of(ctx, j, node.node, guests) for j in jobs}  # each job's, found once
    sources = target_sources(t for found in targets.values() for t in found) or _inventory_sources(ctx, host)
    if node.scheduler is None:
        yield _unknown(subject, _gap(node.gaps, "pvescheduler"), f"pvescheduler on node {node.node}", sources, hides)
        return
    if node.scheduler != "active":
        gap = Gap("backup_api", Reason.SCHEDULER_DOWN, f"pvescheduler on node {node.node} is {node.scheduler}: no "
                  "scheduled backup job runs there", proxmox_host=host, node=node.node)
        yield _unknown(subject, gap, f"the jobs of node {node.node}", sources, hides)
        return
    if node.tasks is None:
        yield _unknown(subject, _gap(node.gaps, "vzdump tasks"), f"the runs of node {node.node}", sources, hides)
        return
    zone = ctx.backups.timezone if ctx.backups else "UTC"
    runs = attribute(node.tasks, jobs, zone)
    for job in jobs:
        finding = _last_run(job, node.node, runs[job.id], obs.observed_at, zone, host, site,
                            target_sources(targets[job.id]) or sources)
        if finding is not None:
            yield finding


def _unasked(ctx: RuleContext, site: str) -> Iterator[Finding]:
    """A Proxmox host of the site with no backup answer at all (its API failed, or a snapshot taken without
    backups): one `unknown` for its jobs, runs and scheduler. When the whole host is out and the guest rules
    run, guest-unknown's finding for the host is the one finding of that cause."""
    observed = {o.proxmox_host: o for o in ctx.live.proxmox}
    for host in sorted(ctx.scope.proxmox_hosts):
        if host in ctx.backup_view.pve:
            continue
        obs = observed.get(host)
        if ctx.guests_checked and (obs is None or not obs.listed):
            continue
        gap = next((g for g in obs.gaps if g.scope == "host"), None) if obs is not None else None
        if obs is None:
            gap = Gap("backup_api", Reason.SKIPPED, f"no API configured for Proxmox host '{host}' in this site",
                      proxmox_host=host)
        elif gap is None:  # the guests were listed, the backups not: a snapshot taken without them
            gap = Gap("backup_api", Reason.NOT_IN_SNAPSHOT, f"no backup data for Proxmox host {host} in this live "
                      "state", proxmox_host=host)
        yield _unknown(Subject(type="host", site=site, proxmox_host=host, target=host, name="backups"), gap,
                       f"the backup jobs, runs and scheduler of {host}", _inventory_sources(ctx, host), ())


def _runs_on(job: BackupJob, node: str, guests: list[LiveGuest]) -> bool:
    if job.node not in (None, node):
        return False
    return job.all or any(g.node == node and job.selects(g.vmid, g.node, g.pool) for g in guests)


def attribute(tasks: Sequence[VzdumpTask], jobs: Sequence[BackupJob], zone: str) -> dict[str, list[VzdumpTask]]:
    """Which job each run of a node belongs to (newest first per job)."""
    runs: dict[str, list[VzdumpTask]] = {j.id: [] for j in jobs}
    if len(jobs) == 1:
        runs[jobs[0].id] = list(tasks)
        return runs
    schedules = {j.id: parse_schedule(j.schedule) for j in jobs}
    for task in tasks:
        best: tuple[int, str] | None = None
        for job in jobs:
            schedule = schedules[job.id]
            start = last_start(schedule, task.starttime + 60, zone) if schedule else None
            if start is not None and task.starttime - start <= ATTRIBUTION_S and (best is None or start > best[0]):
                best = (start, job.id)
        if best is not None:
            runs[best[1]].append(task)
    return runs


def _last_run(job: BackupJob, node: str, tasks: list[VzdumpTask], now: int, zone: str, host: str, site: str,
              sources: tuple[SourceRef, ...]) -> Finding | None:
    subject = Subject(type="backup-job", site=site, proxmox_host=host, name=job.id, target=node)
    schedule = parse_schedule(job.schedule)
    due = last_start(schedule, now - GRACE_S, zone) if schedule and _zone_agrees(job, schedule, now, zone) else None
    if due is not None and now - due <= EXPECTED_WITHIN_S and not any(t.starttime >= due - 300 for t in tasks):
        when = dt.datetime.fromtimestamp(due, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return Finding(kind=Kind.DRIFTED, rule=RULE_ID, subject=subject, field="last_run", sources=sources,
                       declared=f"a run at {when} ({job.schedule})", live="no task",
                       message=f"vzdump job {job.id} on {host} node {node} should have started at {when} "
                               f"({job.schedule}, {zone}) and left no task",
                       hint="look at pvescheduler's journal on the node (journalctl -u pvescheduler)")
    finished = [t for t in tasks if t.outcome != "running"]
    if not finished or finished[0].outcome == "ok":
        return None
    last = finished[0]
    when = dt.datetime.fromtimestamp(last.starttime, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    severity = Severity.WARNING if last.outcome == "warning" else Severity.ERROR
    return Finding(kind=Kind.DRIFTED, rule=RULE_ID, subject=subject, field="last_run", sources=sources,
                   declared="OK", live=last.status, severity=severity,
                   message=f"vzdump job {job.id} on {host} node {node}: the last run ({when}) ended in "
                           f"'{last.status}'",
                   hint=f"read the task log: pvesh get /nodes/{node}/tasks/{last.upid}/log")


def _zone_agrees(job: BackupJob, schedule: Schedule, now: int, zone: str) -> bool:
    """PVE's own `next-run` (computed in the node's zone) must be the start this schedule gives in `zone`:
    read in the wrong zone, the last start would be hours off and a run that happened would look missed."""
    if job.next_run is None:
        return True
    upcoming = next_start(schedule, now - GRACE_S, zone)
    return upcoming is not None and abs(upcoming - job.next_run) <= 120


def _unknown(subject: Subject, gap: Gap, what: str, sources: tuple[SourceRef, ...], hides: tuple[str, ...]) -> Finding:
    return Finding(kind=Kind.UNKNOWN, rule=RULE_ID, subject=subject, reason=gap.reason, severity=Severity.WARNING,
                   sources=sources, hides=hides, message=f"{what} cannot be checked: {gap.detail}",
                   hint="see docs/backups.md for this reason")


def _gap(gaps: tuple[Gap, ...], what: str) -> Gap:
    for gap in gaps:
        if gap.detail.startswith(what) or what in gap.detail:
            return gap
    return gaps[0] if gaps else Gap("backup_api", Reason.API_ERROR, f"{what}: no answer")


def _targets_of(ctx: RuleContext, job: BackupJob, node: str, guests: list[LiveGuest]):
    """The inventory's vzdump targets of the guests this job backs up on this node."""
    if ctx.backups is None:
        return []
    selected = {(g.vm_type, g.vmid) for g in guests if g.node == node and job.selects(g.vmid, g.node, g.pool)}
    return [t for t in ctx.backups.inventory.targets if t.vzdump in selected]


def _inventory_sources(ctx: RuleContext, host: str) -> tuple[SourceRef, ...]:
    if ctx.backups is None:
        return ()
    on_host = [t for t in ctx.backups.inventory.targets if t.host == host and t.enabled]
    return target_sources(on_host[:1]) or (SourceRef(ctx.backups.inventory.shown, 1),)
