"""Parsing the backup side of the Proxmox API: jobs, storages, archive listings, vzdump tasks, the scheduler.

Pure: JSON in, model values out (a wrong shape is a ShapeError, which the collector reports as `api_error`).

Shapes (docs: ../shared notes on the Proxmox backup API, samples in tests/data/pve-api/cluster_backup.json):
booleans are 0/1 numbers, `vmid` and `exclude` are comma strings (`"203,204"`), a missing `enabled` means
enabled, `exclude` without `pool` implies `all`, and legacy vzdump.cron jobs come without `type`.
"""

from __future__ import annotations

import re
from typing import Any

from ..model.backup import Archive, BackupJob, BackupStorage, VzdumpTask
from .pve_parse import ShapeError, as_int

_VMID = re.compile(r"^[0-9]{1,9}$")  # ASCII digits of a sane length: int() accepts them


def parse_backup_jobs(body: Any) -> tuple[BackupJob, ...]:
    """The `data` of `/cluster/backup` (or the list itself) → its vzdump jobs; other job types are skipped."""
    data = body.get("data") if isinstance(body, dict) else body
    if not isinstance(data, list):
        raise ShapeError("/cluster/backup: expected a list of jobs")
    jobs = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ShapeError(f"/cluster/backup: a job without an id: {entry!r:.80}")
        if entry.get("type", "vzdump") != "vzdump":
            continue
        exclude = _vmids(entry.get("exclude"), entry["id"], "exclude")
        pool = entry.get("pool") if isinstance(entry.get("pool"), str) and entry.get("pool") else None
        jobs.append(BackupJob(
            id=entry["id"], enabled=_flag(entry.get("enabled"), default=True),
            all=_flag(entry.get("all"), default=False) or (bool(exclude) and pool is None),
            vmids=_vmids(entry.get("vmid"), entry["id"], "vmid"), exclude=exclude, pool=pool,
            node=_text(entry.get("node")), storage=_text(entry.get("storage")), schedule=_text(entry.get("schedule")),
            next_run=entry["next-run"] if isinstance(entry.get("next-run"), int) else None,
        ))
    return tuple(jobs)


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _vmids(value: Any, job: str, key: str) -> frozenset[int]:
    if value is None or value == "":
        return frozenset()
    if isinstance(value, int) and not isinstance(value, bool):
        return frozenset({value})
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    bad = [p for p in parts if not _VMID.match(p)]
    if bad:
        raise ShapeError(f"/cluster/backup job {job}: {key} holds {bad[0]!r}, not a vmid")
    return frozenset(int(p) for p in parts)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# ── storages, archives, tasks, the scheduler ─────────────────────────────────


def parse_dump_dirs(data: Any) -> dict[str, str | None]:
    """`GET /storage` → storage id → its dump folder (`path` + `/dump`, or content-dirs `backup`); None when the
    storage has no path on disk (PBS)."""
    if not isinstance(data, list):
        raise ShapeError("/storage: expected a list of storages")
    dirs: dict[str, str | None] = {}
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("storage"), str):
            raise ShapeError("/storage: an entry without a storage id")
        path = entry.get("path") if entry.get("type") != "pbs" else None
        if entry.get("storage") == "local" and entry.get("type") == "dir":
            path = "/var/lib/vz"  # PVE forces this, whatever the file says
        sub = entry.get("content-dirs")
        sub = sub.get("backup") if isinstance(sub, dict) else None
        dirs[entry["storage"]] = (f"{str(path).rstrip('/')}/{str(sub or 'dump').strip('/')}"
                                  if isinstance(path, str) and path else None)
    return dirs


def parse_node_storages(data: Any, node: str, dump_dirs: dict[str, str | None]) -> tuple[BackupStorage, ...]:
    """`GET /nodes/{n}/storage` → the storages of that node that hold backups."""
    if not isinstance(data, list):
        raise ShapeError(f"/nodes/{node}/storage: expected a list of storages")
    storages = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("storage"), str):
            raise ShapeError(f"/nodes/{node}/storage: an entry without a storage id")
        if "backup" not in str(entry.get("content", "")).split(","):
            continue
        fraction = entry.get("used_fraction")
        storages.append(BackupStorage(
            storage=entry["storage"], node=node, type=str(entry.get("type", "")),
            enabled=_flag(entry.get("enabled"), default=True), active=_flag(entry.get("active"), default=False),
            shared=_flag(entry.get("shared"), default=False),
            used_fraction=float(fraction) if isinstance(fraction, int | float) and not isinstance(fraction, bool)
            else None,
            dump_dir=dump_dirs.get(entry["storage"]),
        ))
    return tuple(storages)


def parse_archives(data: Any, storage: str) -> tuple[Archive, ...]:
    """`GET /nodes/{n}/storage/{s}/content?content=backup` → its archives (other content is skipped)."""
    if not isinstance(data, list):
        raise ShapeError(f"storage {storage} content: expected a list")
    archives = []
    for entry in data:
        if not isinstance(entry, dict) or entry.get("content", "backup") != "backup":
            continue
        volid, ctime = entry.get("volid"), as_int(entry.get("ctime"))
        if not isinstance(volid, str) or ctime is None:
            raise ShapeError(f"storage {storage} content: an archive without volid or ctime: {entry!r:.80}")
        archives.append(Archive(
            storage=storage, name=volid.split(":", 1)[-1].removeprefix("backup/"), vmid=as_int(entry.get("vmid")),
            subtype=str(entry.get("subtype") or "unknown"), ctime=ctime,
            size=as_int(entry.get("size")) or 0,  # a string before pve-storage 7.1-2
        ))
    return tuple(archives)


def parse_tasks(data: Any, node: str) -> tuple[VzdumpTask, ...]:
    """`GET /nodes/{n}/tasks?typefilter=vzdump` → its runs, newest first (as PVE lists them)."""
    if not isinstance(data, list):
        raise ShapeError(f"/nodes/{node}/tasks: expected a list")
    tasks = []
    for entry in data:
        if not isinstance(entry, dict) or entry.get("type", "vzdump") != "vzdump":
            continue
        start, end = as_int(entry.get("starttime")), as_int(entry.get("endtime"))
        if start is None:
            raise ShapeError(f"/nodes/{node}/tasks: a task without starttime: {entry!r:.80}")
        tasks.append(VzdumpTask(
            node=str(entry.get("node") or node), upid=str(entry.get("upid", "")), starttime=start,
            status=str(entry.get("status") or ("RUNNING" if end is None else "unexpected status")),
            endtime=end, vmid=as_int(entry.get("id") or None), user=str(entry.get("user", "")),
        ))
    return tuple(sorted(tasks, key=lambda t: t.starttime, reverse=True))


def parse_scheduler(data: Any) -> str:
    """`GET /nodes/{n}/services/pvescheduler/state` → its systemd ActiveState (active, inactive, failed, ...)."""
    if not isinstance(data, dict):
        raise ShapeError("pvescheduler state: expected an object")
    state = data.get("active-state") or ("active" if data.get("state") == "running" else data.get("state"))
    if not isinstance(state, str) or not state:
        raise ShapeError("pvescheduler state: no active-state or state")
    return state


# Holding this on a storage shows every archive on it; anything less hides some or all (PVE's
# check_volume_access: Datastore.Allocate, or Datastore.AllocateSpace and VM.Backup on each guest).
ARCHIVE_PRIVILEGE = "Datastore.Allocate"


def may_list_archives(data: Any, storage: str) -> bool:
    """`GET /access/permissions?path=/storage/{s}` → whether the token sees every archive of the storage."""
    if not isinstance(data, dict):
        raise ShapeError("/access/permissions: expected an object")
    privileges = data.get(f"/storage/{storage}")
    return isinstance(privileges, dict) and ARCHIVE_PRIVILEGE in privileges
