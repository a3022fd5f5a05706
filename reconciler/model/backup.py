"""Backup jobs as Proxmox VE defines them (`GET /cluster/backup`), and which guests each one selects.

Pure data. The selection follows PVE's own rules (PVE/VZDump.pm get_included_guests): `pool` first (its direct
guest members; `exclude` is not applied), then an explicit `vmid` list, then `all` minus `exclude`; `node`
keeps only the guests on that node when the job runs. A disabled job selects nothing that will run.

Below the job: what the collectors observe (one `BackupObservation` per Proxmox host, carried on its
`ProxmoxObservation`; one `BackupTargetFiles` per SSH backup host, in `LiveState.backup_files`).
"""

from __future__ import annotations

from ..record import record
from .vocab import Gap, Reason, SourceStatus


@record
class BackupJob:
    id: str
    enabled: bool = True  # PVE skips a job only when `enabled` is present and false
    all: bool = False
    vmids: frozenset[int] = frozenset()
    exclude: frozenset[int] = frozenset()
    pool: str | None = None
    node: str | None = None  # only guests on this node, when the job runs
    storage: str | None = None
    schedule: str | None = None
    next_run: int | None = None  # epoch; computed by PVE for disabled jobs too, says nothing of the last run

    def selects(self, vmid: int, node: str | None, pool: str | None) -> bool:
        """Whether a run of this job (enabled or not) would back up guest `vmid` sitting on `node` in `pool`."""
        if self.node is not None and node != self.node:
            return False
        if self.pool is not None:
            return pool == self.pool
        if self.vmids:
            return vmid in self.vmids
        return self.all and vmid not in self.exclude

    def covers(self, vmid: int, node: str | None, pool: str | None) -> bool:
        """Whether the job backs the guest up when the scheduler runs it: enabled and selecting it."""
        return self.enabled and self.selects(vmid, node, pool)


# ── what a Proxmox host says of its backups ──────────────────────────────────


@record
class BackupStorage:
    """One storage that holds backups, as one node reports it (`/nodes/{n}/storage` joined with `/storage`)."""

    storage: str
    node: str
    type: str = ""
    enabled: bool = True
    active: bool = True  # false: activation or status failed on that node (a dead NFS server, an unmounted disk)
    shared: bool = False
    used_fraction: float | None = None
    dump_dir: str | None = None  # file storages: where vzdump writes (`path` + /dump or content-dirs backup)


@record
class Archive:
    """One vzdump archive of an archive listing (`/nodes/{n}/storage/{s}/content?content=backup`)."""

    storage: str
    name: str  # the file name: the volid after `<storage>:backup/`
    vmid: int | None  # from the name; a renamed file may have none
    subtype: str  # qemu | lxc | openvz | unknown
    ctime: int  # epoch; for a standard name, the name's wall-clock time read in the answering node's zone
    size: int


@record
class ArchiveListing:
    """One backup storage's archive listing, or why it cannot be trusted."""

    storage: str
    node: str  # the node that was asked
    visible: bool  # the token may see the archives: an empty list then really means none
    archives: tuple[Archive, ...] = ()
    reason: Reason | None = None  # why not visible (no_permission, storage_inactive, api_error)
    detail: str = ""


@record
class VzdumpTask:
    node: str
    upid: str
    starttime: int
    status: str  # "OK", "WARNINGS: N", an error text, or "RUNNING"
    endtime: int | None = None
    vmid: int | None = None  # set only when the run had exactly one guest
    user: str = ""

    @property
    def outcome(self) -> str:
        """ok | warning | error | running, classified as PVE does (UPID status_is_error)."""
        if self.status == "RUNNING":
            return "running"
        if self.status == "OK":
            return "ok"
        head, _, count = self.status.partition(": ")
        return "warning" if head == "WARNINGS" and count.isdigit() else "error"


@record
class NodeBackups:
    """One node's backup-side state; None where that part could not be read (its gap says why)."""

    node: str
    scheduler: str | None = None  # pvescheduler's active-state (active | inactive | failed | ...)
    tasks: tuple[VzdumpTask, ...] | None = None  # recent vzdump runs, newest first
    storages: tuple[BackupStorage, ...] | None = None
    gaps: tuple[Gap, ...] = ()


@record
class BackupObservation:
    """Everything one Proxmox host's API said about backups, and when (ages are computed against `observed_at`)."""

    proxmox_host: str
    observed_at: int  # epoch seconds
    jobs: tuple[BackupJob, ...] | None = None  # None: /cluster/backup could not be read (see gaps)
    nodes: tuple[NodeBackups, ...] = ()  # the online nodes (offline ones are gaps of the guest listing)
    listings: tuple[ArchiveListing, ...] = ()
    gaps: tuple[Gap, ...] = ()
    requests: int = 0

    def node(self, name: str) -> NodeBackups | None:
        return next((n for n in self.nodes if n.node == name), None)


# ── what a backup host's files look like over SSH ────────────────────────────


@record
class FileCheck:
    """What one target's files look like on its host (the backup-file script's answer for it)."""

    name: str
    exists: bool
    readable: bool = False
    count: int = 0
    newest_mtime: int | None = None  # epoch seconds
    newest_size: int | None = None
    newest_name: str | None = None


@record
class BackupTargetFiles:
    """One SSH host's file checks (all of its enabled file_glob targets at once), or why there are none."""

    host: str  # the ssh target id
    site: str
    observed: bool
    observed_at: int  # epoch seconds
    checks: tuple[FileCheck, ...] = ()
    gap: Gap | None = None
    status: SourceStatus | None = None

    def check(self, target: str) -> FileCheck | None:
        return next((c for c in self.checks if c.name == target), None)


# ── what a report says of each target ────────────────────────────────────────


@record
class BackupStatus:
    """One checked target's state in a report (the Prometheus gauges are made of these)."""

    site: str
    target: str
    state: str  # ok | stale | empty | missing | unknown
    age_hours: float | None = None  # of the newest match, at observation time
    stale_after_hours: float | None = None
    newest: str | None = None
