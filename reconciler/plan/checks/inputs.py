"""What every plan-vm check reads (the request, each site's declared state, each Proxmox host as seen) and the
small helpers they share. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import field

from ...bindings.profiles import ProfilesFile
from ...model import DeclaredGuest, LiveGuest, ProxmoxObservation, SourceRef
from ...model.capacity import Capacity
from ...model.plan import Outcome, Resolved
from ...record import record
from ...rules.governance.context import GovernanceContext
from ...settings import PlanSettings
from ..stubs import EntryNames

PASS, WARN, FAIL = Outcome.PASS, Outcome.WARN, Outcome.FAIL


@record
class HostLive:
    """One configured Proxmox host as observed for the plan."""

    proxmox_host: str
    site: str
    observation: ProxmoxObservation | None  # None: no API and no snapshot for it
    capacity: Capacity | None = None  # None: not asked (offline snapshot, or another site's host)
    source: str = "api"  # "api" or "snapshot NAME"

    @property
    def listed(self) -> bool:
        return self.observation is not None and self.observation.listed

    @property
    def why_not(self) -> str:
        """Why the host's guests are not known (empty when they are)."""
        if self.observation is None:
            return f"no API or snapshot configured for Proxmox host {self.proxmox_host}"
        if not self.observation.listed:
            first = self.observation.gaps[0] if self.observation.gaps else None
            return f"Proxmox host {self.proxmox_host} could not be observed: {first.detail if first else 'no data'}"
        return ""


@record
class PlanInput:
    request: Resolved
    target: GovernanceContext  # the bindings of the site the guest is planned on
    others: tuple[GovernanceContext, ...]  # other sites whose bindings live in another root
    live: tuple[HostLive, ...]  # every configured Proxmox host of every site
    profiles: ProfilesFile
    names: EntryNames
    settings: PlanSettings = field(default_factory=PlanSettings)

    @property
    def contexts(self) -> tuple[GovernanceContext, ...]:
        return (self.target, *self.others)

    def declared_guests(self) -> list[tuple[DeclaredGuest, str | None]]:
        """Every declared guest of every bindings root, once per (Proxmox host, vmid), with its site."""
        seen: dict[tuple[str, int], tuple[DeclaredGuest, str | None]] = {}
        for ctx in self.contexts:
            for guest in ctx.guests:
                seen.setdefault(guest.key, (guest, ctx.site_of_guest(guest)))
        return list(seen.values())

    def host(self) -> HostLive | None:
        return next((h for h in self.live if h.proxmox_host == self.request.proxmox_host), None)


def sources_of(*refs: SourceRef | str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(r) for r in refs if r))


def guest_label(guest: DeclaredGuest, site: str | None) -> str:
    where = f"{guest.proxmox_host}" + (f", site {site}" if site else "")
    return f"{guest.vm_type.value} {guest.vmid} '{guest.hostname}' ({guest.status.value}, {where})"


def live_label(guest: LiveGuest, host: HostLive) -> str:
    return f"{guest.vm_type.value} {guest.vmid} '{guest.name or '-'}' on {host.proxmox_host} (site {host.site}, " \
           f"node {guest.node}, {guest.status})"


def hosts_seen(inp: PlanInput) -> str:
    return ", ".join(f"{h.proxmox_host} ({h.site}, {h.source})" for h in inp.live) or "none configured"


def visibility_doubts(inp: PlanInput, vmid: int) -> list[str]:
    """Why an absence from the listings does not prove a guest is not there."""
    doubts = [h.why_not for h in inp.live if not h.listed]
    for h in inp.live:
        if not h.listed:
            continue
        audit = h.observation.audit  # type: ignore[union-attr]
        if not audit.known:
            doubts.append(f"the token permissions on {h.proxmox_host} could not be read")
        elif not audit.can_see(vmid):
            doubts.append(f"the token may not audit /vms/{vmid} on {h.proxmox_host} (VM.Audit), so it would be "
                          "hidden")
    if not inp.live:
        doubts.append("no Proxmox host is configured in any site file")
    return doubts


def unique_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))


def normalized(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value.strip()
