"""governance-ssh: each guest's `ssh_target` is an id in ssh.targets.yaml, whose host is the guest's address."""

from __future__ import annotations

from collections.abc import Iterator

from ...model import DeclaredGuest, Finding
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-ssh"
DEFAULT_SCOPE = RuleScope()
SURFACE = "ssh"
FILE_KEY = "ssh_targets"


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return ctx.policy.scope(RULE_ID).covers(guest, ctx.site) and FILE_KEY not in ctx.bindings.missing


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, ssh = ctx.policy.scope(RULE_ID), ctx.bindings.ssh
    lifecycle = ctx.bindings.lifecycle.shown
    for guest in ctx.site_guests:
        if not applies(ctx, guest):
            continue
        label = f"{guest.status.value} {guest.hostname} ({guest.proxmox_host}/{guest.vmid})"
        if not guest.ssh_target:
            yield ctx.guest_finding(RULE_ID, scope, guest, "ssh_target",
                                    f"{label} has no ssh_target in {lifecycle}", [guest.source],
                                    hint=f"add 'ssh_target:' (an id from {ssh.shown}) to {guest.source}")
            continue
        target = ssh.get(guest.ssh_target)
        if target is None:
            by_address = [t.id for t in ctx.ssh_targets_at(guest)]
            hint = (f"set ssh_target to '{by_address[0]}' (its host is this guest's address)" if by_address
                    else f"add a target with id '{guest.ssh_target}' to {ssh.shown}")
            yield ctx.guest_finding(RULE_ID, scope, guest, "ssh_target",
                                    f"{label}: ssh_target '{guest.ssh_target}' is not an id in {ssh.shown}",
                                    [guest.source_of("ssh_target")], hint=hint)
            continue
        addresses = ctx.addresses(guest)
        if target.host and addresses and target.host not in addresses:
            declared = ", ".join(f"{k} {v}" for k, v in (("tailscale_ip", guest.tailscale_ip),
                                                           ("lan_ip", guest.lan_ip)) if v)
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "ssh.host",
                f"{label}: ssh target '{target.id}' has host {target.host}, but {lifecycle} says {declared}",
                [target.source_of("host"), guest.source_of("tailscale_ip"), guest.source_of("lan_ip")],
                hint="make the ssh target's host the guest's tailscale_ip (or lan_ip), or fix the lifecycle entry",
                declared=sorted(addresses), other=target.host)
