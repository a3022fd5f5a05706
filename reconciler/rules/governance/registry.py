"""governance-registry: a SERVICE_REGISTRY.yaml `hosts:` entry per guest, with vmid, address and ssh parity."""

from __future__ import annotations

from collections.abc import Iterator

from ...model import DeclaredGuest, Finding, SourceRef
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-registry"
DEFAULT_SCOPE = RuleScope(sites=frozenset({"shop"}))  # the user's scope decision: shop only
SURFACE = "registry"
FILE_KEY = "service_registry"


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return ctx.policy.scope(RULE_ID).covers(guest, ctx.site) and FILE_KEY not in ctx.bindings.missing


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, registry = ctx.policy.scope(RULE_ID), ctx.bindings.registry
    shown, lifecycle = registry.shown, ctx.bindings.lifecycle.shown
    for guest in ctx.site_guests:
        if not applies(ctx, guest):
            continue
        label = f"{guest.hostname} ({guest.proxmox_host}/{guest.vmid})"
        entry = ctx.registry_host(guest)
        if entry is None:
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "registry",
                f"{guest.status.value} {label} has no hosts: entry in {shown}", [guest.source],
                hint=f"add '{guest.hostname}:' under hosts: in {shown} with vmid, proxmox_host, tailscale_ip and ssh")
            continue
        detail = ctx.bindings.registry.hosts.get(entry.id)

        def at(key: str, entry_id: str = entry.id, detail=detail) -> SourceRef:
            line = detail.field_lines.get(key, detail.line) if detail else None
            return SourceRef(shown, line) if line else ctx.bindings.registry.hosts[entry_id].source

        vmid_key = "id" if "id" in guest.field_lines else "vmid"
        if entry.vmid is None:
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "registry.vmid",
                f"{label}: registry host '{entry.id}' has no vmid ({lifecycle} says {guest.vmid})",
                [entry.source, guest.source_of(vmid_key)],
                hint=f"add 'vmid: {guest.vmid}' and 'proxmox_host: {guest.proxmox_host}' to {entry.source}",
                declared=guest.vmid, other=None)
        elif entry.vmid != guest.vmid:
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "registry.vmid",
                f"{label}: registry host '{entry.id}' says vmid {entry.vmid}, {lifecycle} says {guest.vmid}",
                [at("vmid"), guest.source_of(vmid_key)], hint="make the two vmids agree",
                declared=guest.vmid, other=entry.vmid)
        if entry.proxmox_host and entry.proxmox_host != guest.proxmox_host:
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "registry.proxmox_host",
                f"{label}: registry host '{entry.id}' says proxmox_host {entry.proxmox_host}, "
                f"{lifecycle} says {guest.proxmox_host}",
                [at("proxmox_host"), guest.source_of("proxmox_host")], hint="make the two agree",
                declared=guest.proxmox_host, other=entry.proxmox_host)
        pairs = [("tailscale_ip", guest.tailscale_ip, entry.tailscale_ip)]
        if detail and detail.lan_ip:
            pairs.append(("lan_ip", guest.lan_ip, detail.lan_ip))
        for key, mine, theirs in pairs:
            if (mine or theirs) and mine != theirs:
                yield ctx.guest_finding(
                    RULE_ID, scope, guest, f"registry.{key}",
                    f"{label}: registry host '{entry.id}' has {key} {theirs or 'unset'}, "
                    f"{lifecycle} says {mine or 'unset'}",
                    [at(key), guest.source_of(key)], hint=f"make {key} agree in both files",
                    declared=mine, other=theirs)
        if entry.ssh and guest.ssh_target and entry.ssh != guest.ssh_target:
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "registry.ssh",
                f"{label}: registry host '{entry.id}' has ssh {entry.ssh}, {lifecycle} says ssh_target "
                f"{guest.ssh_target}", [at("ssh"), guest.source_of("ssh_target")],
                hint="use the same ssh target id in both files", declared=guest.ssh_target, other=entry.ssh)
        target = ctx.bindings.ssh.get(guest.ssh_target)
        user = detail.ssh_user if detail else None
        if user and target is not None and target.user and target.user != user:
            yield ctx.guest_finding(
                RULE_ID, scope, guest, "registry.ssh_user",
                f"{label}: registry host '{entry.id}' has ssh_user {user}, ssh target '{target.id}' "
                f"in {ctx.bindings.ssh.shown} has user {target.user}",
                [at("ssh_user"), target.source_of("user"), guest.source_of("ssh_user")],
                hint="make the ssh user agree (vm.lifecycle.yaml ssh_user, ssh.targets.yaml user, registry ssh_user)",
                declared=target.user, other=user)
