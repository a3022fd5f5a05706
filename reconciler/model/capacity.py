"""Node and storage capacity of a Proxmox host as plan-vm sees it. A value never observed is None, never 0."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field

from ..record import record
from . import Reason


@record
class NodeCapacity:
    node: str
    status: str  # online | offline | unknown
    cpus: int | None = None  # maxcpu: logical CPUs of the node
    memory_total_mb: int | None = None  # maxmem
    memory_used_mb: int | None = None  # mem (what the host uses now, guests included)

    @property
    def memory_free_mb(self) -> int | None:
        if self.memory_total_mb is None or self.memory_used_mb is None:
            return None
        return self.memory_total_mb - self.memory_used_mb


@record
class StorageCapacity:
    node: str
    storage: str
    status: str  # available | unknown | ...
    total_gb: float | None = None  # maxdisk
    used_gb: float | None = None  # disk
    content: tuple[str, ...] = ()  # images, rootdir, backup, iso, vztmpl, ...
    shared: bool = False

    @property
    def free_gb(self) -> float | None:
        if self.total_gb is None or self.used_gb is None:
            return None
        return round(self.total_gb - self.used_gb, 2)


@record
class Capacity:
    """What one Proxmox host said about its nodes and storage; `observed=False` with `detail` when it did not."""

    proxmox_host: str
    observed: bool
    nodes: Mapping[str, NodeCapacity] = field(default_factory=dict)
    storage: tuple[StorageCapacity, ...] = ()
    reason: Reason | None = None
    detail: str = ""

    def storage_on(self, node: str, storage: str) -> StorageCapacity | None:
        return next((s for s in self.storage if s.node == node and s.storage == storage), None)
