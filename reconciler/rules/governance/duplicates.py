"""governance-duplicates: names that must be unique but appear twice — backup target names, health probe
ids and STACK_REGISTRY stack_ids.

Duplicate vmids per Proxmox host, ssh target ids and stack names per compose target are reported by
their loaders (`invalid` findings of bindings-lifecycle, bindings-ssh-targets, bindings-compose-targets),
which the governance check includes in its output; they are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ...model import Finding, SourceRef
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-duplicates"
DEFAULT_SCOPE = RuleScope()


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope = ctx.policy.scope(RULE_ID)
    if not scope.for_site(ctx.site):
        return
    b = ctx.bindings
    groups = [
        ("backup-target", "backup target name", b.backup.shown,
         [(t.name, t.source, _backup_site(ctx, t)) for t in b.backup.targets]),
        ("health-endpoint", "health probe id", b.health.shown,
         [(e.id, e.source, _host_site(ctx, e.host)) for e in b.health.endpoints]),
        ("registry-stack", "stack_id", b.stacks.shown,
         [(s.stack_id, s.source, _vmid_site(ctx, s.vmid)) for s in b.stacks.stacks]),
    ]
    for entry_type, noun, shown, items in groups:
        for name, sources, sites in _repeated(items):
            known = {s for s in sites if s}
            if known and ctx.site not in known:
                continue
            if name in scope.exempt:
                continue
            where = ", ".join(str(s) for s in sources)
            yield ctx.entry_finding(
                RULE_ID, scope.severity, entry_type, name, "duplicate",
                f"{noun} '{name}' appears {len(sources)} times in {shown} ({where})", sources,
                hint="merge the entries or rename one; tools read only the first")


def _repeated(items: Iterable[tuple[str, SourceRef, str | None]]):
    seen: dict[str, list[tuple[SourceRef, str | None]]] = {}
    for name, source, site in items:
        seen.setdefault(name, []).append((source, site))
    for name, found in seen.items():
        if len(found) > 1:
            yield name, [s for s, _ in found], [site for _, site in found]


def _backup_site(ctx: GovernanceContext, target) -> str | None:
    guests = ctx.backup_guests(target)
    if guests:
        return ctx.site_of_guest(guests[0])
    return _host_site(ctx, target.host)


def _host_site(ctx: GovernanceContext, host: str | None) -> str | None:
    guest = ctx.resolve_name(host)
    return ctx.site_of_guest(guest) if guest else ctx.site_of_name(host)


def _vmid_site(ctx: GovernanceContext, vmid: int | None) -> str | None:
    guests = ctx.by_vmid.get(vmid or -1, ())
    return ctx.site_of_guest(guests[0]) if guests else None
