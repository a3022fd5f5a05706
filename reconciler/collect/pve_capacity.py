"""Node and storage capacity of one Proxmox host, for `reconcile plan-vm` (read-only, one GET).

`GET /cluster/resources` already carries, per node, its state, CPU count and memory (`maxcpu`,
`maxmem`, `mem`) and, per node and storage, the storage's size and use (`maxdisk`, `disk`), its
`content` types and whether it is `shared`. Those fields need Sys.Audit on the node and
Datastore.Audit on the storage (PVEAuditor has both); without them PVE simply leaves them out, and
the value stays None ("not observed"), never 0.

`parse_capacity` is pure; `collect_capacity` is the only function here that does I/O, through the
guarded GET-only `ProxmoxClient` of `collect.pve_client`.
"""

from __future__ import annotations

import math
from typing import Any

from ..config import ProxmoxHostConfig
from ..model import Reason
from ..model.capacity import Capacity, NodeCapacity, StorageCapacity
from .proxmox import ApiFailure
from .pve_parse import GIB, MIB


class CapacityShapeError(ValueError):
    """/cluster/resources did not have the documented shape."""


def parse_capacity(data: Any, proxmox_host: str) -> Capacity:
    """`GET /cluster/resources` → node and storage capacity (guest entries are ignored here)."""
    if not isinstance(data, list):
        raise CapacityShapeError(f"/cluster/resources: expected a list, got {type(data).__name__}")
    nodes: dict[str, NodeCapacity] = {}
    storage: list[StorageCapacity] = []
    for entry in data:
        if not isinstance(entry, dict):
            raise CapacityShapeError("/cluster/resources: an entry is not an object")
        if entry.get("type") == "node" and isinstance(entry.get("node"), str):
            nodes[entry["node"]] = NodeCapacity(
                node=entry["node"], status=str(entry.get("status") or "unknown"), cpus=_int(entry.get("maxcpu")),
                memory_total_mb=_mib(entry.get("maxmem")), memory_used_mb=_mib(entry.get("mem")))
        elif entry.get("type") == "storage" and isinstance(entry.get("node"), str):
            storage.append(StorageCapacity(
                node=entry["node"], storage=str(entry.get("storage") or ""), status=str(entry.get("status") or
                                                                                        "unknown"),
                total_gb=_gib(entry.get("maxdisk")), used_gb=_gib(entry.get("disk")),
                content=tuple(c.strip() for c in str(entry.get("content") or "").split(",") if c.strip()),
                shared=entry.get("shared") in (1, "1", True)))
    return Capacity(proxmox_host, True, nodes, tuple(storage))


def collect_capacity(cfg: ProxmoxHostConfig) -> Capacity:
    """Ask one Proxmox host for its capacity. Never raises for API trouble: it is in the result."""
    try:
        from .pve_client import ProxmoxClient  # requests and proxmoxer only when an API is asked

        client = ProxmoxClient(cfg, cfg.token_secret())
        return parse_capacity(client.get("cluster/resources"), cfg.name)
    except ApiFailure as exc:
        return Capacity(cfg.name, False, reason=exc.reason, detail=exc.detail)
    except CapacityShapeError as exc:
        return Capacity(cfg.name, False, reason=Reason.API_ERROR, detail=str(exc))


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):  # Infinity/NaN in a JSON answer: no figure
        return None
    return int(value)


def _mib(value: Any) -> int | None:
    number = _int(value)
    return None if number is None else number // MIB


def _gib(value: Any) -> float | None:
    number = _int(value)
    return None if number is None else round(number / GIB, 2)
