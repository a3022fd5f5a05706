"""Shared matching of declared and live guests for the guest rules (pure).

A declared guest is *observed* only when its Proxmox host answered, the guest's node was online
and, if it is absent, the token was provably allowed to see it. Everything else is unobserved,
with the reason: driftctl's rule, "what could not be read is unknown, never missing".
"""

from __future__ import annotations

from ..model import (
    Declared,
    DeclaredGuest,
    Gap,
    GuestType,
    Kind,
    LiveGuest,
    LiveState,
    ProxmoxObservation,
    Reason,
    SiteScope,
    Subject,
)
from ..record import record


@record
class Match:
    declared: DeclaredGuest
    live: LiveGuest | None  # None: absent (or unobserved, see `gap`)
    gap: Gap | None  # set when the guest could not be observed


@record
class GuestIndex:
    matches: tuple[Match, ...]  # declared guests of this site's Proxmox hosts
    unclaimed: tuple[LiveGuest, ...]  # live guests with no declaration on their host
    moved: tuple[tuple[DeclaredGuest, LiveGuest], ...]  # declared on one host, found on another


def index_guests(scope: SiteScope, declared_state: Declared, live_state: LiveState) -> GuestIndex:
    """Declared guests matched with live ones; built once per evaluation and carried on the RuleContext."""
    observations = {obs.proxmox_host: obs for obs in live_state.proxmox}
    live_by_key = {g.key: g for obs in live_state.proxmox for g in obs.guests}
    declared = [g for g in declared_state.guests if g.proxmox_host in scope.proxmox_hosts]
    declared_keys = {g.key for g in declared_state.guests}
    matches: list[Match] = []
    moved: list[tuple[DeclaredGuest, LiveGuest]] = []
    claimed: set[tuple[str, int]] = set()
    undeclared: dict[tuple[int, str | None], list[LiveGuest]] = {}
    for key, live in live_by_key.items():
        if key not in declared_keys:
            undeclared.setdefault((live.vmid, live.name), []).append(live)
    for guest in declared:
        live = live_by_key.get(guest.key)
        gap = _gap_for(guest, live, observations.get(guest.proxmox_host))
        if live is None and gap is None:
            elsewhere = _found_elsewhere(guest, undeclared)
            if elsewhere is not None:
                moved.append((guest, elsewhere))
                claimed.add(elsewhere.key)
                continue
        matches.append(Match(guest, live, gap))
    in_site = (g for obs in live_state.proxmox if obs.proxmox_host in scope.proxmox_hosts for g in obs.guests)
    # An entry dropped as invalid (bad status, say) still names its guest: that guest is not undeclared,
    # its `invalid` finding already says what to fix.
    invalid = {(p.subject.proxmox_host, p.subject.vmid) for p in declared_state.problems
               if p.kind is Kind.INVALID and p.subject.vmid is not None}
    unclaimed = tuple(g for g in in_site if g.key not in declared_keys and g.key not in claimed
                      and g.key not in invalid and g.status != "unknown")
    return GuestIndex(tuple(matches), unclaimed, tuple(moved))


def _gap_for(guest: DeclaredGuest, live: LiveGuest | None, obs: ProxmoxObservation | None) -> Gap | None:
    host = guest.proxmox_host
    if obs is None:
        return Gap("host", Reason.SKIPPED, f"no API configured for Proxmox host '{host}' in this site",
                   proxmox_host=host, vmid=guest.vmid)
    if not obs.listed:
        first = obs.gaps[0] if obs.gaps else None
        reason = first.reason if first else Reason.API_ERROR
        return Gap("host", reason, first.detail if first else "not listed", proxmox_host=host, vmid=guest.vmid)
    if live is not None:
        if live.status == "unknown" or live.node in obs.offline_nodes:
            return Gap("guest", Reason.NODE_OFFLINE, f"node {live.node} is not online", proxmox_host=host,
                       node=live.node, vmid=guest.vmid)
        return None
    if not obs.audit.can_see(guest.vmid):
        detail = ("token permissions could not be read" if not obs.audit.known
                  else f"the token may not audit /vms/{guest.vmid} (VM.Audit)")
        return Gap("guest", Reason.NO_PERMISSION, detail, proxmox_host=host, vmid=guest.vmid)
    if obs.offline_nodes:
        nodes = ", ".join(sorted(obs.offline_nodes))
        return Gap("guest", Reason.NODE_OFFLINE, f"absent while node(s) {nodes} are not online",
                   proxmox_host=host, vmid=guest.vmid)
    return None


def _found_elsewhere(guest: DeclaredGuest,
                     undeclared: dict[tuple[int, str | None], list[LiveGuest]]) -> LiveGuest | None:
    """The same guest (vmid and name) live on another Proxmox host where it is undeclared."""
    for live in undeclared.get((guest.vmid, guest.hostname), ()):
        if live.proxmox_host != guest.proxmox_host:
            return live
    return None


def subject_of(guest: DeclaredGuest | LiveGuest, site: str) -> Subject:
    if isinstance(guest, DeclaredGuest):
        return Subject(type=guest.vm_type.value, site=site, proxmox_host=guest.proxmox_host,
                       vmid=guest.vmid, name=guest.hostname)
    return Subject(type=guest.vm_type.value, site=site, proxmox_host=guest.proxmox_host,
                   vmid=guest.vmid, name=guest.name)


def type_word(vm_type: GuestType) -> str:
    return "container" if vm_type is GuestType.LXC else "VM"
