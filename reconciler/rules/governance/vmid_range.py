"""governance-vmid-range: every guest of the site has a vmid inside the site's range (placement policy
`vmid_min`/`vmid_max`, or the site file's `vmid_range`)."""

from __future__ import annotations

from collections.abc import Iterator

from ...model import DeclaredGuest, Finding
from ...settings import EXISTING, RuleScope
from .context import GovernanceContext

RULE_ID = "governance-vmid-range"
DEFAULT_SCOPE = RuleScope(statuses=EXISTING)


def in_range(vmid: int, vmid_range: tuple[int, int]) -> bool:
    """Inside the site's VMID range, both ends included (placement policy vmid_min/vmid_max)."""
    low, high = vmid_range
    return low <= vmid <= high


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return ctx.policy.scope(RULE_ID).covers(guest, ctx.site) and ctx.bindings.scope.vmid_range is not None


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, vmid_range = ctx.policy.scope(RULE_ID), ctx.bindings.scope.vmid_range
    if vmid_range is None:
        return
    low, high = vmid_range
    placed = ctx.bindings.placement.sites.get(ctx.site)
    for guest in ctx.site_guests:
        if not applies(ctx, guest) or in_range(guest.vmid, vmid_range):
            continue
        key = "id" if "id" in guest.field_lines else "vmid"
        yield ctx.guest_finding(
            RULE_ID, scope, guest, "vmid",
            f"{guest.hostname} on {guest.proxmox_host}: vmid {guest.vmid} is outside site {ctx.site}'s range "
            f"{low}-{high}", [guest.source_of(key), placed.source if placed else None],
            hint=f"renumber the guest into {low}-{high}, or exempt it under rules.{RULE_ID}.exempt",
            declared=guest.vmid, other=f"{low}-{high}")
