"""governance-orphans: entries in the other files that point at hosts or vmids vm.lifecycle.yaml does not
declare, or declares decommissioned/abandoned.

Checked: ssh targets, compose targets, health endpoint hosts, SERVICE_REGISTRY hosts and vzdump backup
globs. Hosts that are not guests (hypervisors, NAS, network gear, workstations) are skipped: see
`GovernancePolicy.non_guest_*`. An entry pointing at a gone guest is reported at the rule's severity when
it is still enabled, and as `info` when it is disabled (a retained record). An entry is reported by the
run of the site it belongs to; one that cannot be placed in any site is reported by every site's run.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...bindings.service_registry import RegistryHost
from ...model import GONE, DeclaredGuest, Finding, Severity, SourceRef
from ...record import record
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-orphans"
DEFAULT_SCOPE = RuleScope(severity=Severity.WARNING)


@record
class _Entry:
    type: str  # ssh-target | compose-target | health-endpoint | registry-host | backup-target
    name: str
    what: str  # how the entry is described in messages
    source: SourceRef
    enabled: bool
    guest: DeclaredGuest | None
    via: str  # how the guest was found: name | address | vmid | "" (not found)
    host: str | None  # the host name the entry uses


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope = ctx.policy.scope(RULE_ID)
    if not scope.for_site(ctx.site):
        return
    for entry in _entries(ctx):
        if entry.name in scope.exempt or (entry.host and entry.host in scope.exempt):
            continue
        guest = entry.guest
        site = ctx.site_of_guest(guest) if guest else ctx.site_of_name(entry.host)
        if site is not None and site != ctx.site:
            continue
        lifecycle = ctx.bindings.lifecycle.shown
        if guest is None:
            yield ctx.entry_finding(
                RULE_ID, scope.severity, entry.type, entry.name, "orphan",
                f"{entry.what} points at '{entry.host}', which is neither a guest in {lifecycle} nor a known "
                "non-guest host", [entry.source],
                hint=f"remove the entry, declare the guest in {lifecycle}, or list '{entry.host}' under "
                     "rules.governance.non_guest_hosts")
            continue
        label = f"{guest.vm_type.value} {guest.vmid} ({guest.hostname} on {guest.proxmox_host})"
        if guest.status in GONE:
            severity = scope.severity if entry.enabled else Severity.INFO
            state = "still enabled" if entry.enabled else "disabled"
            yield ctx.entry_finding(
                RULE_ID, severity, entry.type, entry.name, "orphan",
                f"{entry.what} points at {label}, which is {guest.status.value} ({state})",
                [entry.source, guest.source_of("status")],
                hint="remove the entry (or keep it disabled as a record and exempt it)", guest=guest)
        elif entry.via == "address":
            target = guest.ssh_target or guest.hostname
            yield ctx.entry_finding(
                RULE_ID, scope.severity, entry.type, entry.name, "orphan",
                f"{entry.what}: host '{entry.host}' names no ssh target or guest; its address belongs to {label}",
                [entry.source, guest.source],
                hint=f"write host: {target} (the guest's ssh target id)", guest=guest)


def _entries(ctx: GovernanceContext) -> Iterator[_Entry]:
    b = ctx.bindings
    for target in b.ssh.targets.values():
        if ctx.non_guest(target.id):
            continue
        guest, via = _by_name_or_address(ctx, target.id, target.host)
        yield _Entry("ssh-target", target.id, f"ssh target '{target.id}' ({b.ssh.shown})", target.source, True,
                     guest, via, target.id)
    for target in b.compose.targets.values():
        if ctx.non_guest(target.ssh_target):
            continue
        guest = ctx.resolve_name(target.ssh_target) or ctx.resolve_name(target.id)
        yield _Entry("compose-target", target.id, f"compose target '{target.id}' ({b.compose.shown})",
                     target.source, target.enabled, guest, "name" if guest else "", target.ssh_target)
    for endpoint in b.health.endpoints:
        if not endpoint.host or ctx.non_guest(endpoint.host):
            continue
        guest, via = _by_name_or_address(ctx, endpoint.host, endpoint.url_host)
        yield _Entry("health-endpoint", endpoint.id, f"health probe '{endpoint.id}' ({b.health.shown})",
                     endpoint.source_of("host"), endpoint.enabled, guest, via, endpoint.host)
    for host in b.registry.hosts.values():
        if ctx.non_guest(host.id) or ctx.non_guest(host.ssh):
            continue
        guest = _registry_guest(ctx, host) or ctx.resolve_name(host.id) or ctx.resolve_name(host.ssh)
        yield _Entry("registry-host", host.id, f"registry host '{host.id}' ({b.registry.shown})", host.source,
                     True, guest, "name" if guest else "", host.id)
    for target in b.backup.targets:
        parsed = target.vzdump
        if parsed is None:
            continue  # not one guest's vzdump (app or device backup, or a wildcard)
        guests = ctx.backup_guests(target)
        live = [g for g in guests if g.status not in GONE]
        guest = (live or list(guests) or [None])[0]
        what = f"backup target '{target.name}' ({b.backup.shown}, glob {target.glob})"
        yield _Entry("backup-target", target.name, what, target.source, target.enabled, guest,
                     "vmid" if guest else "", target.host if guest is None else guest.hostname)


def _registry_guest(ctx: GovernanceContext, host: RegistryHost) -> DeclaredGuest | None:
    """The guest a registry host's vmid names: on its `proxmox_host`, else within the host's own site only (a
    vmid is unique per Proxmox host, not across sites: 101 is immich at home and another guest at the shop)."""
    if host.vmid is None:
        return None
    site = ctx.site_of_name(host.id) or ctx.site
    return next((g for g in ctx.by_vmid.get(host.vmid, ())
                 if (g.proxmox_host == host.proxmox_host if host.proxmox_host else ctx.site_of_guest(g) == site)),
                None)


def _by_name_or_address(ctx: GovernanceContext, name: str, address: str | None) -> tuple[DeclaredGuest | None, str]:
    guest = ctx.resolve_name(name)
    if guest is not None:
        return guest, "name"
    guest = ctx.resolve_address(address)
    return (guest, "address") if guest is not None else (None, "")
