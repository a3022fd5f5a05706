"""Pure parsers for Proxmox API payloads (no I/O), tolerant of the shapes of PVE 6 to 9.

Every function takes the already-unwrapped `data` of a response and either returns normalized
values or raises `ShapeError` with a short description; the collector turns that into `api_error`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ..model import AuditScope, GuestType, LiveGuest
from ..record import record

MIB = 1024 * 1024
GIB = 1024 * MIB


class ShapeError(ValueError):
    """A response did not have the shape the Proxmox API documents."""


@record
class ResourceListing:
    guests: tuple[LiveGuest, ...]
    node_status: Mapping[str, str]  # node → online | offline | unknown
    storage: tuple[Mapping[str, Any], ...]


def parse_cluster_resources(data: Any, proxmox_host: str) -> ResourceListing:
    """`GET /cluster/resources` (any `type` filter) → guests, node states and storage entries."""
    if not isinstance(data, list):
        raise ShapeError(f"/cluster/resources: expected a list, got {type(data).__name__}")
    guests: list[LiveGuest] = []
    nodes: dict[str, str] = {}
    storage: list[Mapping[str, Any]] = []
    for entry in data:
        if not isinstance(entry, dict):
            raise ShapeError("/cluster/resources: an entry is not an object")
        kind = entry.get("type")
        if kind in ("qemu", "lxc"):
            guests.append(_guest(entry, proxmox_host))
        elif kind == "node":
            nodes[str(entry.get("node"))] = str(entry.get("status") or "unknown")
        elif kind == "storage":
            storage.append(entry)
    return ResourceListing(tuple(guests), nodes, tuple(storage))


def _guest(entry: Mapping[str, Any], proxmox_host: str) -> LiveGuest:
    vmid = as_int(entry.get("vmid"))
    if vmid is None:
        raise ShapeError(f"/cluster/resources: guest entry without an integer vmid: {entry.get('id')!r}")
    node = entry.get("node")
    if not isinstance(node, str):
        raise ShapeError(f"/cluster/resources: guest {vmid} has no node")
    maxmem, maxdisk = as_int(entry.get("maxmem")), as_int(entry.get("maxdisk"))
    name = entry.get("name")
    return LiveGuest(
        proxmox_host=proxmox_host,
        node=node,
        vmid=vmid,
        vm_type=GuestType(entry["type"]),
        name=str(name) if name not in (None, "") else None,
        status=str(entry.get("status") or "unknown"),
        template=_truthy(entry.get("template")),
        cores=as_int(entry.get("maxcpu")),
        memory_mb=maxmem // MIB if maxmem else None,
        boot_disk_gb=round(maxdisk / GIB, 2) if maxdisk else None,
        tags=split_tags(entry.get("tags")),
        pool=str(entry["pool"]) if isinstance(entry.get("pool"), str) and entry["pool"] else None,
    )


_INT_LIMIT = 2**63  # PVE's integers are 64-bit; beyond that (JSON allows 10**400) sizes overflow float division


def as_int(value: Any) -> int | None:
    """PVE < 7 sent vmids as strings; accept both, reject everything else (and anything beyond 64 bits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        value = _digits(value.strip())
    return value if isinstance(value, int) and -_INT_LIMIT < value < _INT_LIMIT else None


def _digits(text: str) -> int | None:
    """An ASCII decimal number of sane length, else None (str.isdigit() also accepts "²" and "١", which
    int() refuses, and int() refuses 4,300+ digits)."""
    if text.isascii() and text.isdigit() and len(text) <= 30:
        return int(text)
    return None


def _truthy(value: Any) -> bool:
    return value in (1, "1", True, "true")


def split_tags(value: Any) -> tuple[str, ...]:
    """Tags are ';'-joined since PVE 7.2; older configs used ',' or spaces."""
    if not isinstance(value, str):
        return ()
    import re

    return tuple(tag for tag in re.split(r"[;,\s]+", value.strip().lower()) if tag)


def parse_agent_interfaces(data: Any) -> tuple[str, ...]:
    """`agent/network-get-interfaces` → IPv4/IPv6 addresses, loopback and link-local dropped.

    A guest agent that refuses the command answers HTTP 200 with `result.error`: that is an
    `AgentError`, not an empty address list.
    """
    result = data.get("result") if isinstance(data, dict) else None
    if isinstance(result, dict) and "error" in result:
        error = result["error"] if isinstance(result["error"], dict) else {}
        # the text comes from inside the guest: one line, never blank, whatever the guest sent
        text = " ".join(str(error.get("desc") or error.get("class") or "").split())[:300]
        raise AgentError(text or "guest agent error")
    if not isinstance(result, list):
        raise ShapeError("network-get-interfaces: expected result to be a list")
    addresses = []
    for interface in result:
        if not isinstance(interface, dict):
            continue
        addresses += _listed_addresses(interface)
    return _usable(addresses)


def _listed_addresses(interface: dict) -> list[Any]:
    """The `ip-address` values of an interface's `ip-addresses` list (anything else there is ignored)."""
    entries = interface.get("ip-addresses")
    if not isinstance(entries, list):
        return []
    return [entry.get("ip-address") for entry in entries if isinstance(entry, dict)]


def parse_lxc_interfaces(data: Any) -> tuple[str, ...] | None:
    """`lxc/{id}/interfaces` → addresses; None for a stopped container (PVE answers `null`).

    Accepts both the PVE 8.1-8.3 shape (`inet`, `inet6`) and the 8.4+ one (`ip-addresses`).
    """
    if data is None:
        return None
    if not isinstance(data, list):
        raise ShapeError("lxc interfaces: expected a list")
    addresses: list[Any] = []
    for interface in data:
        if not isinstance(interface, dict):
            continue
        for key in ("inet", "inet6"):
            value = interface.get(key)
            if isinstance(value, str):
                addresses.append(value.split("/")[0])
        addresses += _listed_addresses(interface)
    return _usable(addresses)


class AgentError(Exception):
    """The guest agent answered, but with an error object."""


def _usable(candidates: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in candidates:
        if not isinstance(value, str):
            continue
        try:
            address = ipaddress.ip_address(value.split("%")[0])
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local:
            continue
        seen[str(address)] = None
    return tuple(seen)


def parse_permissions(data: Any) -> AuditScope:
    """`GET /access/permissions` → which guests the token may audit (VM.Audit).

    Paths: `/` and `/vms` cover every guest, `/vms/{vmid}` one guest. A pool grant (`/pool/X`)
    covers members we cannot enumerate without more requests, so those guests stay "not provably
    visible" and an absence among them is reported as unknown, never as missing.
    """
    if not isinstance(data, dict):
        raise ShapeError("/access/permissions: expected an object")
    everything = False
    vmids: set[int] = set()
    pools: set[str] = set()
    for path, privileges in data.items():
        # The value is the propagate flag, not the grant: a key that is present is granted on that
        # exact path, and only a propagating grant reaches the guests below `/` or `/vms`.
        if not isinstance(privileges, dict) or "VM.Audit" not in privileges:
            continue
        if path in ("/", "/vms"):
            everything = everything or bool(privileges["VM.Audit"])
        elif path.startswith("/vms/") and _digits(path[5:]) is not None:
            vmids.add(int(path[5:]))
        elif path.startswith("/pool/"):
            pools.add(path[6:])
    return AuditScope(known=True, everything=everything, vmids=frozenset(vmids), pools=frozenset(pools))
