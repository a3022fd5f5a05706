"""governance-naming: guest hostnames follow naming.policy.yaml `naming_convention.rules` (lowercase,
hyphen separators, no underscores, at most N characters)."""

from __future__ import annotations

from collections.abc import Iterator

from ...model import DeclaredGuest, Finding, Severity
from ...settings import EXISTING, RuleScope
from .context import GovernanceContext

RULE_ID = "governance-naming"
DEFAULT_SCOPE = RuleScope(statuses=EXISTING, severity=Severity.WARNING)


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return ctx.policy.scope(RULE_ID).covers(guest, ctx.site)


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, naming = ctx.policy.scope(RULE_ID), ctx.bindings.naming
    for guest in ctx.site_guests:
        if not applies(ctx, guest) or naming.exempt(guest.hostname, "hostname"):
            continue
        broken = naming.rules.violations(guest.hostname)
        if not broken:
            continue
        yield ctx.guest_finding(
            RULE_ID, scope, guest, "hostname",
            f"hostname '{guest.hostname}' ({guest.proxmox_host}/{guest.vmid}) breaks the naming rules: "
            f"{'; '.join(broken)}", [guest.source_of("hostname"), naming.rules.source],
            hint=f"rename the host, or add an allowed_exceptions entry (surface: hostname) to {naming.shown}")
