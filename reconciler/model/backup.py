"""Backup jobs as Proxmox VE defines them (`GET /cluster/backup`), and which guests each one selects.

Pure data. The selection follows PVE's own rules (PVE/VZDump.pm get_included_guests): `pool` first (its direct
guest members; `exclude` is not applied), then an explicit `vmid` list, then `all` minus `exclude`; `node`
keeps only the guests on that node when the job runs. A disabled job selects nothing that will run. This is
the ground the backup rules of issue 17 build on (which declared guests no enabled job covers).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
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
