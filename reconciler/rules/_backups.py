"""What the backup rules share (pure): each checked target resolved to one live state, built once per run.

A target's files are read from its host over SSH; a vzdump target whose `base_path` is a Proxmox storage's
dump folder may also be read from that storage's archive listing when the token may see all of it (the
fallback when SSH was skipped or failed). Whatever the SSH answer, a target on a storage the API reports
inactive is `unknown(storage_inactive)`: an unmounted NFS folder looks empty, and empty is not "no backups".
What could not be read is unknown, with its cause; one cause (a host, a storage) hides many targets.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from ..bindings.backup import BackupTarget, SiteBackups
from ..model import LiveGuest, LiveState, Reason, SourceRef
from ..model.backup import (
    ArchiveListing,
    BackupObservation,
    BackupStatus,
    BackupStorage,
    BackupTargetFiles,
    FileCheck,
)
from ..record import record


@record
class Cause:
    """Why targets could not be observed: one `unknown` finding each."""

    kind: str  # "host" (an SSH backup host) | "storage" (a Proxmox storage) | "target" (the target itself)
    name: str  # the ssh target id, the storage id, or the target name
    reason: Reason
    detail: str
    proxmox_host: str | None = None


@record
class TargetState:
    target: BackupTarget
    check: FileCheck | None  # None: unobserved (see `cause`)
    observed_at: int | None = None  # when `check` was taken (epoch): ages are computed against it
    via: str = ""  # "ssh" | "api" (the storage listing)
    cause: Cause | None = None

    @property
    def age_hours(self) -> float | None:
        check = self.check
        if check is None or check.newest_mtime is None or self.observed_at is None:
            return None
        return round(max(0, self.observed_at - check.newest_mtime) / 3600, 1)


@record
class BackupView:
    states: tuple[TargetState, ...]  # one per checked target of the site, in file order
    pve: dict[str, BackupObservation]  # the site's Proxmox hosts that answered about backups
    guests: dict[tuple[str, int], LiveGuest]  # live guests of the site's Proxmox hosts


def view_backups(backups: SiteBackups | None, live: LiveState, proxmox_hosts: Iterable[str]) -> BackupView:
    hosts = set(proxmox_hosts)
    observations = [o for o in live.proxmox if o.proxmox_host in hosts]
    pve = {o.proxmox_host: o.backups for o in observations if o.backups is not None}
    guests = {g.key: g for o in observations for g in o.guests}
    if backups is None or not backups.present:
        return BackupView((), pve, guests)
    files = {f.host: f for f in live.backup_files}
    states = tuple(_resolve(t, files.get(t.host or ""), pve) for t in backups.targets)
    return BackupView(states, pve, guests)


def _resolve(target: BackupTarget, files: BackupTargetFiles | None, pve: dict[str, BackupObservation]) -> TargetState:
    storage, listing = _storage_of(target, pve)
    if storage is not None and not storage.active:
        return TargetState(target, None, cause=Cause("storage", storage.storage, Reason.STORAGE_INACTIVE,
                                                     f"storage '{storage.storage}' is not active on node "
                                                     f"{storage.node}", proxmox_host=target.host))
    if files is not None and files.observed:
        check = files.check(target.name)
        if check is not None:
            if check.exists and not check.readable:
                return TargetState(target, None, cause=Cause(
                    "target", target.name, Reason.NO_PERMISSION,
                    f"{target.base_path} on {target.host} is not readable by the SSH user"))
            return TargetState(target, check, files.observed_at, "ssh")
    if listing is not None and listing.visible:
        return TargetState(target, _from_listing(target, listing), pve[target.host or ""].observed_at, "api")
    return TargetState(target, None, cause=_unobserved(target, files, listing))


def _storage_of(target: BackupTarget, pve: dict[str, BackupObservation]
                ) -> tuple[BackupStorage | None, ArchiveListing | None]:
    """The Proxmox storage whose dump folder is the target's base_path (on the target's host), and its listing."""
    obs = pve.get(target.host or "")
    if obs is None or not target.base_path:
        return None, None
    wanted = target.base_path.rstrip("/") or "/"
    for node in obs.nodes:
        for storage in node.storages or ():
            if storage.dump_dir and storage.dump_dir.rstrip("/") == wanted and storage.enabled:
                listing = next((li for li in obs.listings if li.storage == storage.storage), None)
                return storage, listing
    return None, None


def _from_listing(target: BackupTarget, listing: ArchiveListing) -> FileCheck:
    matching = [a for a in listing.archives if fnmatch.fnmatchcase(a.name, target.glob or "")]
    if not matching:
        return FileCheck(target.name, exists=True, readable=True, count=0)
    newest = max(matching, key=lambda a: a.ctime)
    return FileCheck(target.name, True, True, len(matching), newest.ctime, newest.size, newest.name)


def _unobserved(target: BackupTarget, files: BackupTargetFiles | None, listing: ArchiveListing | None) -> Cause:
    host = target.host or "?"
    if files is None:
        reason, detail = Reason.NOT_IN_SNAPSHOT, f"no file check of backup host {host} in this live state"
    elif files.gap is not None:
        reason, detail = files.gap.reason, files.gap.detail
    else:
        reason, detail = Reason.OUTPUT_UNPARSEABLE, f"the file check of {host} said nothing of {target.name}"
    if listing is not None and not listing.visible:
        detail += f"; the API cannot stand in ({listing.reason}: {listing.detail})"
    return Cause("host", host, reason, detail)


def matches_archive(target: BackupTarget, name: str) -> bool:
    return bool(target.glob) and fnmatch.fnmatchcase(name, target.glob or "")


def target_sources(targets: Iterable[BackupTarget]) -> tuple[SourceRef, ...]:
    return tuple(sorted({t.source for t in targets}))


def target_statuses(view: BackupView, site: str) -> list[BackupStatus]:
    """Each checked target's one-word state, the same judgement the backup-files rule makes."""
    statuses = []
    for state in view.states:
        check, target = state.check, state.target
        age = state.age_hours
        if check is None:
            word = "unknown"
        elif not check.exists or check.count == 0:
            word = "missing"
        elif age is not None and age > target.stale_after_hours:
            word = "stale"
        elif check.newest_size == 0:
            word = "empty"
        else:
            word = "ok"
        statuses.append(BackupStatus(site, target.name, word, age, target.stale_after_hours,
                                     check.newest_name if check else None))
    return statuses
