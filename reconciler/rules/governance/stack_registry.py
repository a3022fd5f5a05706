"""governance-stack-registry: every stack a guest declares has a STACK_REGISTRY.yaml entry (a warning)."""

from __future__ import annotations

from collections.abc import Iterator

from ...model import DeclaredGuest, Finding, Severity
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-stack-registry"
DEFAULT_SCOPE = RuleScope(severity=Severity.WARNING)
NOTES_SURFACE = "compose"  # shown in the notes of the compose column, never as a gap of its own (no SURFACE)
FILE_KEY = "stack_registry"


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return (ctx.policy.scope(RULE_ID).covers(guest, ctx.site) and FILE_KEY not in ctx.bindings.missing
            and bool(guest.stacks))


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, registry = ctx.policy.scope(RULE_ID), ctx.bindings.stacks
    ids = registry.ids
    for guest in ctx.site_guests:
        if not applies(ctx, guest):
            continue
        for stack in guest.stacks:
            if stack in ids:
                continue
            yield ctx.guest_finding(
                RULE_ID, scope, guest, f"stack_registry.{stack}",
                f"{guest.hostname} ({guest.proxmox_host}/{guest.vmid}): stack '{stack}' has no stack_id "
                f"entry in {registry.shown}", [guest.source_of("stacks")],
                hint=f"add '- stack_id: {stack}' (path: proxmox:vm-{guest.vmid}) to {registry.shown}, "
                     "or rename the stack to its registry id")
