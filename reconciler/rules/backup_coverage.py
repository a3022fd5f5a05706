"""Guests declared backed up that no enabled vzdump job selects, or gone ones a job still lists (drifted).

A guest is declared backed up when its lifecycle entry has a `backup_target`, or an enabled inventory target's
glob names its vzdump archives (`vzdump-qemu-203-*`) on its Proxmox host. Coverage is computed from the jobs'
own selection rules (pool, vmid list, all minus exclude, node) on the guest's live node and pool: PVE's
`not-backed-up` list counts disabled jobs as coverage, so it is not used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..bindings.backup import BackupInventory, BackupTarget
from ..model import EXPECTED_LIVE, GONE, DeclaredGuest, Finding, GuestType, Kind, LiveGuest, SourceRef
from ..model.backup import BackupJob
from . import RuleContext
from ._guests import subject_of

RULE_ID = "backup-job"


def check(ctx: RuleContext) -> Iterator[Finding]:
    backups, view = ctx.backups, ctx.backup_view
    if backups is None or not backups.present:
        return
    names, vzdump_targets = backups.inventory.by_name, _vzdump_targets(backups.inventory)
    for guest in ctx.declared.guests:
        obs = view.pve.get(guest.proxmox_host)
        if guest.proxmox_host not in ctx.scope.proxmox_hosts or obs is None or obs.jobs is None:
            continue  # no answer about jobs: backup-run reports that host's cause once
        live = view.guests.get(guest.key)
        if guest.status in GONE:
            yield from _still_listed(guest, live, obs.jobs, ctx.scope.site)
            continue
        claim = _claim(guest, names, vzdump_targets)
        if claim is None or guest.status not in EXPECTED_LIVE or live is None:
            continue  # not declared as backed up, or not live (guest-missing / guest-unknown say so)
        if not any(job.covers(live.vmid, live.node, live.pool) for job in obs.jobs):
            yield _uncovered(guest, live, obs.jobs, claim, ctx.scope.site)


def _vzdump_targets(inventory: BackupInventory) -> dict[tuple[str | None, GuestType, int], BackupTarget]:
    """(host, guest type, vmid) → the first enabled target whose glob names that guest's vzdump files: built
    once per run, so each guest is one lookup, not a regex over every target."""
    found: dict[tuple[str | None, GuestType, int], BackupTarget] = {}
    for target in inventory.targets:
        vzdump = target.vzdump if target.enabled else None
        if vzdump is not None:
            found.setdefault((target.host, *vzdump), target)
    return found


def _claim(guest: DeclaredGuest, names: Mapping[str, BackupTarget],
           vzdump_targets: Mapping[tuple[str | None, GuestType, int], BackupTarget],
           ) -> tuple[str, tuple[SourceRef, ...]] | None:
    """Why the bindings say this guest is backed up, and where (the lifecycle line and the inventory target's);
    None when they do not."""
    named = names.get(guest.backup_target) if guest.backup_target else None
    globbed = vzdump_targets.get((guest.proxmox_host, guest.vm_type, guest.vmid))
    target = named or globbed
    if guest.backup_target:
        return (f"backup_target {guest.backup_target}",
                (guest.source_of("backup_target"), *((target.source,) if target else ())))
    if globbed is not None:
        return f"backup target {globbed.name}", (globbed.source_of("glob"),)
    return None


def _uncovered(guest: DeclaredGuest, live: LiveGuest, jobs: tuple[BackupJob, ...],
               claim: tuple[str, tuple[SourceRef, ...]], site: str) -> Finding:
    why, sources = claim
    disabled = [j.id for j in jobs if not j.enabled and j.selects(live.vmid, live.node, live.pool)]
    excluded = [j.id for j in jobs if j.enabled and j.all and live.vmid in j.exclude
                and j.node in (None, live.node)]
    if excluded:
        state = f"excluded from job {', '.join(excluded)}"
    elif disabled:
        state = f"selected only by disabled job {', '.join(disabled)}"
    else:
        state = "selected by no job" if jobs else "no vzdump job exists"
    return Finding(
        kind=Kind.DRIFTED, rule=RULE_ID, subject=subject_of(guest, site), field="backup_job",
        declared="an enabled vzdump job", live=state, sources=sources,
        message=f"{guest.vm_type.value} {guest.vmid} ({guest.hostname}) is declared backed up ({why}) but no "
                f"enabled vzdump job on {guest.proxmox_host} selects it on node {live.node}: {state}",
        hint="add the guest to a job (Datacenter → Backup), or drop its backup declaration",
    )


def _still_listed(guest: DeclaredGuest, live: LiveGuest | None, jobs: tuple[BackupJob, ...],
                  site: str) -> Iterator[Finding]:
    if live is not None:
        listing = [j.id for j in jobs if j.covers(live.vmid, live.node, live.pool)]
    else:  # gone: only an explicit vmid list still names it, and each node's run then ends in "job errors"
        listing = [j.id for j in jobs if j.enabled and j.pool is None and guest.vmid in j.vmids]
    if not listing:
        return
    consequence = ("the guest still exists and is backed up" if live is not None
                   else "every run of the job ends in 'job errors' (unable to find VM)")
    yield Finding(
        kind=Kind.DRIFTED, rule=RULE_ID, subject=subject_of(guest, site), field="backup_job",
        declared=f"none ({guest.status.value})", live=f"selected by job {', '.join(listing)}",
        sources=(guest.source_of("status"),),
        message=f"{guest.vm_type.value} {guest.vmid} ({guest.hostname}) is {guest.status.value} but vzdump job "
                f"{', '.join(listing)} on {guest.proxmox_host} still selects it: {consequence}",
        hint="remove the vmid from the job's selection",
    )
