"""governance-compose: a guest's `stacks:` and its docker.compose.targets.yaml target agree, both ways.

A guest with `stacks:` has an enabled compose target through its ssh target holding each of them, and every
stack that target declares is listed under the guest (any guest expected live on that ssh target). Both
directions compare two binding files, so they are `parity`, never `drifted` (nothing live differs).
"""

from __future__ import annotations

from collections.abc import Iterator

from ...model import EXPECTED_LIVE, DeclaredGuest, Finding
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-compose"
DEFAULT_SCOPE = RuleScope()
SURFACE = "compose"
FILE_KEY = "docker_compose_targets"


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    scope = ctx.policy.scope(RULE_ID)
    return scope.covers(guest, ctx.site) and FILE_KEY not in ctx.bindings.missing and bool(guest.stacks)


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    yield from _listed_but_not_declared(ctx)
    yield from _declared_but_not_listed(ctx)


def _listed_but_not_declared(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, compose = ctx.policy.scope(RULE_ID), ctx.bindings.compose
    shown, lifecycle = compose.shown, ctx.bindings.lifecycle.shown
    for guest in ctx.site_guests:
        if not applies(ctx, guest):
            continue
        label = f"{guest.hostname} ({guest.proxmox_host}/{guest.vmid})"
        if not guest.ssh_target:
            yield ctx.guest_finding(RULE_ID, scope, guest, "compose",
                                    f"{label} declares stacks but has no ssh_target to reach a compose target",
                                    [guest.source_of("stacks"), guest.source],
                                    hint=f"add 'ssh_target:' to {guest.source}")
            continue
        targets = ctx.compose_targets(guest)
        enabled = [t for t in targets if t.enabled]
        if not enabled:
            if targets:
                message = f"{label}: compose target '{targets[0].id}' (ssh_target {guest.ssh_target}) is disabled"
                sources = [targets[0].source_of("enabled"), guest.source_of("stacks")]
                hint = "enable it, or remove the guest's stacks from the lifecycle entry"
            else:
                message = (f"{label} declares stacks ({', '.join(guest.stacks)}) but no target in {shown} "
                           f"has ssh_target {guest.ssh_target}")
                sources = [guest.source_of("stacks")]
                hint = f"add a target with ssh_target: {guest.ssh_target} and those stacks to {shown}"
            yield ctx.guest_finding(RULE_ID, scope, guest, "compose", message, sources, hint=hint)
            continue
        target = enabled[0]
        present = {s.name for s in target.stacks}
        for stack in guest.stacks:
            if stack in present:
                continue
            yield ctx.guest_finding(
                RULE_ID, scope, guest, f"compose.stacks.{stack}",
                f"{label}: stack '{stack}' ({lifecycle}) is not listed under compose target '{target.id}'",
                [guest.source_of("stacks"), target.source_of("stacks")],
                hint=f"add '- name: {stack}' with its path under {target.id}: in {shown}, "
                     "or remove it from the lifecycle entry")


def _declared_but_not_listed(ctx: GovernanceContext) -> Iterator[Finding]:
    """Stacks an enabled compose target declares that no lifecycle entry of its guest lists."""
    scope = ctx.policy.scope(RULE_ID)
    if FILE_KEY in ctx.bindings.missing:
        return
    for target in ctx.bindings.compose.by_host().values():
        guests = [g for g in ctx.by_ssh_target.get(target.ssh_target, ())
                  if g.status in EXPECTED_LIVE and g.proxmox_host in ctx.bindings.scope.proxmox_hosts
                  and scope.covers(g, ctx.site)]
        if not guests:
            continue
        listed = {name for guest in guests for name in guest.stacks}
        guest = guests[0]
        label = f"{guest.hostname} ({guest.proxmox_host}/{guest.vmid})"
        for stack in target.stacks:
            if stack.name in listed:
                continue
            yield ctx.guest_finding(
                RULE_ID, scope, guest, f"lifecycle.stacks.{stack.name}",
                f"{label}: compose target '{target.id}' declares stack '{stack.name}', which the guest's stacks "
                f"in {ctx.bindings.lifecycle.shown} do not list",
                [stack.source, guest.source_of("stacks")],
                hint=f"add {stack.name} to the stacks at {guest.source_of('stacks')}, or remove it at {stack.source}")
