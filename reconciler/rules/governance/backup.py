"""governance-backup: an enabled backup target whose glob covers the guest's vzdump artifacts (right guest
type), and the guest's `backup_target` name exists in backup.inventory.yaml and covers it."""

from __future__ import annotations

from collections.abc import Iterator

from ...model import DeclaredGuest, Finding
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-backup"
DEFAULT_SCOPE = RuleScope()
SURFACE = "backup"
FILE_KEY = "backup_inventory"


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return ctx.policy.scope(RULE_ID).covers(guest, ctx.site) and FILE_KEY not in ctx.bindings.missing


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, inventory = ctx.policy.scope(RULE_ID), ctx.bindings.backup
    shown, lifecycle = inventory.shown, ctx.bindings.lifecycle.shown
    names = inventory.by_name
    for guest in ctx.site_guests:
        if not applies(ctx, guest):
            continue
        label = f"{guest.hostname} ({guest.proxmox_host}/{guest.vmid})"
        pattern = f"vzdump-{guest.vm_type.value}-{guest.vmid}-*"
        covering = ctx.backup_covering(guest)
        good = [t for t in covering if t.enabled and t.covers(guest.vm_type, guest.vmid)]
        if not good:
            wrong_type = [t for t in covering if not t.covers(guest.vm_type, guest.vmid)]
            disabled = [t for t in covering if t.covers(guest.vm_type, guest.vmid)]
            if disabled:
                t = disabled[0]
                yield ctx.guest_finding(
                    RULE_ID, scope, guest, "backup.enabled",
                    f"{label}: backup target '{t.name}' covers {pattern} but is disabled",
                    [t.source_of("enabled"), guest.source], hint=f"enable it ({t.source_of('enabled')}) once the "
                    "artifacts are validated, or exempt the guest", declared=True, other=False)
            elif wrong_type:
                t = wrong_type[0]
                yield ctx.guest_finding(
                    RULE_ID, scope, guest, "backup.type",
                    f"{label} is a {guest.vm_type.value} guest, but backup target '{t.name}' globs {t.glob}",
                    [t.source_of("glob"), guest.source_of("vm_type")],
                    hint=f"write the glob as {pattern}.* (or fix vm_type in {lifecycle})",
                    declared=guest.vm_type.value, other=t.glob)
            else:
                yield ctx.guest_finding(
                    RULE_ID, scope, guest, "backup",
                    f"{guest.status.value} {label}: no target in {shown} covers {pattern}", [guest.source],
                    hint=f"add a target with glob {pattern}.* on host {guest.proxmox_host} to {shown}")
        if not guest.backup_target:
            continue
        named = names.get(guest.backup_target)
        if named is None:
            suggestion = good or covering
            extra = [t.source for t in suggestion[:1]]
            hint = (f"set backup_target to '{suggestion[0].name}' ({suggestion[0].source}), which covers {pattern}"
                    if suggestion else f"add a target named '{guest.backup_target}' to {shown}")
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "backup_target",
                f"{label}: backup_target '{guest.backup_target}' is not a target name in {shown}",
                [guest.source_of("backup_target"), *extra], hint=hint, declared=guest.backup_target)
        elif not named.covers(guest.vm_type, guest.vmid):
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "backup_target",
                f"{label}: backup_target '{named.name}' globs {named.glob or '(no glob)'}, not {pattern}",
                [guest.source_of("backup_target"), named.source_of("glob")],
                hint="point backup_target at the target that backs up this guest, or fix that target's glob",
                declared=guest.backup_target, other=named.glob)
