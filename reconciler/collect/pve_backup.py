"""Parsing `GET /cluster/backup` (the vzdump jobs of a cluster) into `BackupJob`s. Pure: JSON in, jobs out.

Shapes (docs: ../shared notes on the Proxmox backup API, samples in tests/data/pve-api/cluster_backup.json):
booleans are 0/1 numbers, `vmid` and `exclude` are comma strings (`"203,204"`), a missing `enabled` means
enabled, `exclude` without `pool` implies `all`, and legacy vzdump.cron jobs come without `type`.
"""

from __future__ import annotations

import re
from typing import Any

from ..model.backup import BackupJob
from .pve_parse import ShapeError

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
