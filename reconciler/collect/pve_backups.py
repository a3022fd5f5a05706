"""What one Proxmox host's API says about backups, read-only, with the client `collect_host` built.

Requests (PVEAuditor suffices for all but the archive listings): `GET /cluster/backup` (jobs), `GET /storage`
(dump folders); per online node `GET /nodes/{n}/storage`, `GET /nodes/{n}/tasks?typefilter=vzdump&since=…`
and `GET /nodes/{n}/services/pvescheduler/state`; per active backup storage `GET /access/permissions?path=
/storage/{s}` and, only when that shows Datastore.Allocate, its archive listing (once for a shared storage).
An archive listing the token may not fully see is never asked: PVE answers it with 200 and an empty or partial
list, which must not read as "no backups". Every failure is a `Gap` on the observation; nothing raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..model import Gap, GapScope, Reason
from ..model.backup import ArchiveListing, BackupObservation, BackupStorage, NodeBackups
from . import pve_backup
from .proxmox import ApiFailure
from .pve_parse import ShapeError

TASK_HISTORY_S = 8 * 24 * 3600  # a weekly job's last run, with a day to spare
TASK_LIMIT = 500  # PVE's default is 50; a node keeps about a thousand tasks of all types anyway

Get = Callable[..., Any]


def observe_backups(get: Get, proxmox_host: str, nodes: Iterable[str], now: int) -> BackupObservation:
    """`get(path, **params)` is the host's client (raises ApiFailure); `nodes` are its online nodes."""
    gaps: list[Gap] = []
    jobs = _read(get, "cluster/backup", pve_backup.parse_backup_jobs, gaps, proxmox_host, what="backup jobs")
    dump_dirs = _read(get, "storage", pve_backup.parse_dump_dirs, gaps, proxmox_host, what="storage paths") or {}
    observed = [_node(get, proxmox_host, node, dump_dirs, now) for node in sorted(nodes)]
    listings = _listings(get, proxmox_host, observed)
    return BackupObservation(proxmox_host=proxmox_host, observed_at=now, jobs=jobs, nodes=tuple(observed),
                             listings=tuple(listings), gaps=tuple(gaps))


def _read(get: Get, path: str, parse: Callable[[Any], Any], gaps: list[Gap], host: str, *, what: str,
          node: str | None = None, **params: Any) -> Any:
    try:
        return parse(get(path, **params))
    except ApiFailure as exc:
        gaps.append(Gap(GapScope.BACKUP_API, exc.reason, f"{what}: {exc.detail}", proxmox_host=host, node=node))
    except (ShapeError, ValueError, TypeError) as exc:
        gaps.append(Gap(GapScope.BACKUP_API, Reason.API_ERROR, f"{what}: unexpected answer: {exc}",
                        proxmox_host=host, node=node))
    return None


def _node(get: Get, host: str, node: str, dump_dirs: dict[str, str | None], now: int) -> NodeBackups:
    gaps: list[Gap] = []
    base = f"nodes/{node}"
    storages = _read(get, f"{base}/storage", lambda d: pve_backup.parse_node_storages(d, node, dump_dirs), gaps, host,
                     what=f"node {node} storages", node=node)
    tasks = _read(get, f"{base}/tasks", lambda d: pve_backup.parse_tasks(d, node), gaps, host,
                  what=f"node {node} vzdump tasks", node=node, typefilter="vzdump", since=now - TASK_HISTORY_S,
                  limit=TASK_LIMIT)
    scheduler = _read(get, f"{base}/services/pvescheduler/state", pve_backup.parse_scheduler, gaps, host,
                      what=f"node {node} pvescheduler", node=node)
    return NodeBackups(node=node, scheduler=scheduler, tasks=tasks, storages=storages, gaps=tuple(gaps))


def _listings(get: Get, host: str, nodes: list[NodeBackups]) -> list[ArchiveListing]:
    """One listing per backup storage (a shared one from its first node), asked only where it can be trusted."""
    listings: list[ArchiveListing] = []
    seen: set[str] = set()
    allowed: dict[str, bool | ApiFailure | ShapeError] = {}
    for node in nodes:
        for storage in node.storages or ():
            if storage.storage in seen or not storage.enabled:
                continue
            seen.add(storage.storage)
            listings.append(_listing(get, host, storage, allowed))
    return listings


def _listing(get: Get, host: str, storage: BackupStorage,
             allowed: dict[str, bool | ApiFailure | ShapeError]) -> ArchiveListing:
    sid, node = storage.storage, storage.node
    if not storage.active:
        return ArchiveListing(sid, node, visible=False, reason=Reason.STORAGE_INACTIVE,
                              detail=f"storage '{sid}' is not active on node {node}")
    if sid not in allowed:
        try:
            allowed[sid] = pve_backup.may_list_archives(get("access/permissions", path=f"/storage/{sid}"), sid)
        except (ApiFailure, ShapeError) as exc:
            allowed[sid] = exc
    verdict = allowed[sid]
    if isinstance(verdict, ApiFailure | ShapeError):
        detail = verdict.detail if isinstance(verdict, ApiFailure) else str(verdict)
        return ArchiveListing(sid, node, visible=False, reason=Reason.NO_PERMISSION,
                              detail=f"cannot read the token's permissions on /storage/{sid}: {detail}")
    if not verdict:
        return ArchiveListing(sid, node, visible=False, reason=Reason.NO_PERMISSION,
                              detail=f"the token lacks {pve_backup.ARCHIVE_PRIVILEGE} on /storage/{sid}: PVE would "
                                     "answer its archive listing with an empty or partial list")
    try:
        archives = pve_backup.parse_archives(get(f"nodes/{node}/storage/{sid}/content", content="backup"), sid)
    except ApiFailure as exc:
        reason = Reason.STORAGE_INACTIVE if "not online" in exc.detail or "unable to activate" in exc.detail \
            else exc.reason
        return ArchiveListing(sid, node, visible=False, reason=reason, detail=exc.detail)
    except ShapeError as exc:
        return ArchiveListing(sid, node, visible=False, reason=Reason.API_ERROR, detail=str(exc))
    return ArchiveListing(sid, node, visible=True, archives=archives)
