"""Live guests from one Proxmox VE API (proxmoxer), read-only by construction.

Requests per host: one `GET /cluster/resources` (guests, node states and storage in one answer),
`GET /access/permissions` only when a declared guest is absent from that listing, and one detail
request per running guest whose declared LAN IP must be checked (in a bounded thread pool).
Every failure becomes a `Gap` with a reason code; only a refused token or a failed TLS check
is fatal for that host (and makes the run exit 2), and even then other hosts are still reported.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import ProxmoxHostConfig
from ..model import AuditScope, Gap, GuestType, LiveGuest, ProxmoxObservation, Reason, SourceStatus
from ..record import record
from . import pve_parse
from .pool import worker_pool
from .pve_parse import AgentError, ShapeError

if TYPE_CHECKING:
    from .pve_client import ProxmoxClient


class ApiFailure(Exception):
    """One API request failed; `reason` is its Reason code (raised by `pve_client.ProxmoxClient`)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail

# Reasons that mean the host's answers cannot be trusted at all: the run must fail (exit 2).
FATAL_REASONS = frozenset({Reason.AUTH_FAILED, Reason.TLS_ERROR})


# ── collection ───────────────────────────────────────────────────────────────


@record
class DetailPlan:
    """What the comparison needs beyond the listing.

    `ips_for`: vmids whose addresses are compared (None: every running guest, for snapshots).
    `expected`: vmids declared as existing; if any is absent, permissions are checked.
    `verify_audit`: always read the token's permissions (snapshots: later bindings may declare guests
    that today's did not, and the snapshot must say truthfully which of them the token could see).
    """

    ips_for: frozenset[int] | None = frozenset()
    expected: frozenset[int] = frozenset()
    verify_audit: bool = False
    backups: bool = False  # also read jobs, storages, tasks and the scheduler (collect/pve_backups.py)


def collect_host(cfg: ProxmoxHostConfig, site: str, plan: DetailPlan) -> ProxmoxObservation:
    """Observe one Proxmox host. Never raises for API trouble: it is reported in the observation."""
    from .pve_client import ProxmoxClient  # requests and proxmoxer only for runs that ask an API

    try:
        client = ProxmoxClient(cfg, cfg.token_secret())
    except ApiFailure as exc:
        return _failed(cfg, site, exc.reason, exc.detail, 0)
    try:
        listing = pve_parse.parse_cluster_resources(client.get("cluster/resources"), cfg.name)
    except ApiFailure as exc:
        return _failed(cfg, site, exc.reason, exc.detail, client.requests)
    except (ShapeError, KeyError, ValueError) as exc:
        return _failed(cfg, site, Reason.API_ERROR, f"unexpected /cluster/resources answer: {exc}", client.requests)

    offline = frozenset(node for node, state in listing.node_status.items() if state != "online")
    gaps: list[Gap] = [
        Gap("node", Reason.NODE_OFFLINE, f"node {node} is {listing.node_status[node]}",
            proxmox_host=cfg.name, node=node)
        for node in sorted(offline)
    ]
    audit = _audit_scope(client, listing.guests, plan, gaps, cfg.name)
    guests = _with_addresses(client, listing.guests, plan, gaps, cfg)
    backups = None
    if plan.backups:
        from .pve_backups import observe_backups

        online = set(listing.node_status) - offline or {g.node for g in listing.guests}
        before = client.requests
        backups = observe_backups(client.get, cfg.name, online, int(time.time()))
        backups = replace(backups, requests=client.requests - before)
    unread = len(backups.gaps) + sum(len(n.gaps) for n in backups.nodes) if backups is not None else 0
    degraded = bool(gaps) or bool(unread)
    detail = f"{len(guests)} guests" + (f", {len(gaps)} not fully observed" if gaps else "")
    if backups is not None:
        detail += f"; backups: {len(backups.jobs or ())} job(s)" + (f", {unread} part(s) unread" if unread else "")
    status = SourceStatus(
        kind="proxmox", host=cfg.name, site=site, status="partial" if degraded else "ok", detail=detail,
        requests=client.requests,
    )
    return ProxmoxObservation(
        proxmox_host=cfg.name, site=site, listed=True, guests=tuple(guests), offline_nodes=offline,
        audit=audit, gaps=tuple(gaps), status=status, backups=backups,
    )


def _failed(cfg: ProxmoxHostConfig, site: str, reason: Reason, detail: str, count: int) -> ProxmoxObservation:
    gap = Gap("host", reason, detail, proxmox_host=cfg.name)
    status = SourceStatus("proxmox", cfg.name, site, "failed", reason, detail, count)
    return ProxmoxObservation(proxmox_host=cfg.name, site=site, listed=False, gaps=(gap,), status=status)


def _audit_scope(client: ProxmoxClient, guests: Iterable[LiveGuest], plan: DetailPlan,
                 gaps: list[Gap], host: str) -> AuditScope:
    """Ask for permissions only when a declared guest is absent: otherwise there is nothing to doubt."""
    listed = {guest.vmid for guest in guests}
    if not plan.verify_audit and plan.expected <= listed:
        return AuditScope(known=True, everything=True)
    try:
        return pve_parse.parse_permissions(client.get("access/permissions"))
    except (ApiFailure, ShapeError) as exc:
        detail = exc.detail if isinstance(exc, ApiFailure) else str(exc)
        gaps.append(Gap("host", Reason.NO_PERMISSION, f"cannot read token permissions: {detail}", proxmox_host=host))
        return AuditScope(known=False)


def _with_addresses(client: ProxmoxClient, guests: tuple[LiveGuest, ...], plan: DetailPlan,
                    gaps: list[Gap], cfg: ProxmoxHostConfig) -> list[LiveGuest]:
    wanted = [g for g in guests if g.status == "running" and not g.template
              and (plan.ips_for is None or g.vmid in plan.ips_for)]
    if not wanted:
        return list(guests)
    with worker_pool(min(cfg.concurrency, len(wanted)), "pve-guest") as pool:
        results = dict(zip((g.key for g in wanted), pool.map(lambda g: _addresses(client, g), wanted), strict=True))
    observed = []
    for guest in guests:
        outcome = results.get(guest.key)
        if isinstance(outcome, Gap):
            gaps.append(outcome)
        elif outcome is not None:
            guest = replace(guest, ips=outcome)
        observed.append(guest)
    return observed


def _addresses(client: ProxmoxClient, guest: LiveGuest) -> tuple[str, ...] | Gap:
    base = f"nodes/{guest.node}/{guest.vm_type.value}/{guest.vmid}"
    try:
        if guest.vm_type is GuestType.QEMU:
            return pve_parse.parse_agent_interfaces(client.get(f"{base}/agent/network-get-interfaces"))
        return pve_parse.parse_lxc_interfaces(client.get(f"{base}/interfaces")) or ()
    except ApiFailure as exc:
        reason = exc.reason
        if guest.vm_type is GuestType.LXC and reason is Reason.API_ERROR and exc.detail.startswith("501 "):
            exc.detail = "this PVE version has no LXC interfaces endpoint (needs 8.1+)"
        return Gap("guest_ips", reason, exc.detail, proxmox_host=guest.proxmox_host, node=guest.node, vmid=guest.vmid)
    except AgentError as exc:
        return Gap("guest_ips", Reason.AGENT_ERROR, f"guest agent error: {exc}",
                   proxmox_host=guest.proxmox_host, node=guest.node, vmid=guest.vmid)
    except ShapeError as exc:
        return Gap("guest_ips", Reason.API_ERROR, str(exc), proxmox_host=guest.proxmox_host,
                   node=guest.node, vmid=guest.vmid)
