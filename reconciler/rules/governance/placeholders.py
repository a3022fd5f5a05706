"""governance-placeholders: no `PENDING_*` placeholder left in a guest's lifecycle entry, its ssh target or
its registry host once the guest is registered."""

from __future__ import annotations

from collections.abc import Iterator

from ...model import DeclaredGuest, Finding, SourceRef, Status
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-placeholders"
DEFAULT_SCOPE = RuleScope(statuses=frozenset({Status.REGISTERED, Status.ACTIVE, Status.STOPPED}))
_FIELDS = ("hostname", "lan_ip", "tailscale_ip", "ssh_target", "backup_target", "profile", "health_probe_policy")


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return ctx.policy.scope(RULE_ID).covers(guest, ctx.site)


def is_placeholder(value: object, prefixes: tuple[str, ...]) -> bool:
    return isinstance(value, str) and any(value.strip().upper().startswith(p.upper()) for p in prefixes)


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, prefixes = ctx.policy.scope(RULE_ID), ctx.policy.placeholder_prefixes
    for guest in ctx.site_guests:
        if not applies(ctx, guest):
            continue
        values: list[tuple[str, object, SourceRef]] = [(f, getattr(guest, f), guest.source_of(f)) for f in _FIELDS]
        values += [("stacks", s, guest.source_of("stacks")) for s in guest.stacks]
        values += [("services", s, guest.source_of("services")) for s in guest.services]
        target = ctx.bindings.ssh.get(guest.ssh_target)
        if target is not None:
            values += [("ssh.host", target.host, target.source_of("host")),
                       ("ssh.user", target.user, target.source_of("user"))]
        entry = ctx.registry_host(guest)
        if entry is not None:
            values.append(("registry.tailscale_ip", entry.tailscale_ip, entry.source))
        for name, value, source in values:
            if not is_placeholder(value, prefixes):
                continue
            yield ctx.guest_finding(
                RULE_ID, scope, guest, f"placeholder.{name}",
                f"{guest.status.value} {guest.hostname} ({guest.proxmox_host}/{guest.vmid}): {name} is still "
                f"the placeholder {value}", [source],
                hint=f"replace {value} with the real value before the guest is {guest.status.value}")
