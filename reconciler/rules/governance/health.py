"""governance-health: at least one enabled services.health.yaml probe on the guest, unless it runs no docker
(`has_docker: false`, or no `stacks:`) or its `health_probe_policy` is `none`; probe URLs that name an
address must use one of the guest's addresses."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_address

from ...model import DeclaredGuest, Finding
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-health"
DEFAULT_SCOPE = RuleScope()
SURFACE = "health"
FILE_KEY = "services_health"


def runs_docker(guest: DeclaredGuest) -> bool:
    if guest.has_docker is not None:
        return guest.has_docker
    return bool(guest.stacks)


def applies(ctx: GovernanceContext, guest: DeclaredGuest) -> bool:
    return (ctx.policy.scope(RULE_ID).covers(guest, ctx.site) and FILE_KEY not in ctx.bindings.missing
            and (guest.health_probe_policy or "").lower() != "none" and runs_docker(guest))


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope, shown = ctx.policy.scope(RULE_ID), ctx.bindings.health.shown
    for guest in ctx.site_guests:
        if not applies(ctx, guest):
            continue
        label = f"{guest.hostname} ({guest.proxmox_host}/{guest.vmid})"
        found = ctx.health_endpoints(guest)
        enabled = [e for e, _ in found if e.enabled]
        if not enabled:
            if found:
                first = found[0][0]
                message = f"{label}: all {len(found)} probe(s) in {shown} for this guest are disabled"
                sources = [guest.source, *(e.source_of("enabled") for e, _ in found)]
                hint = f"enable a probe (e.g. {first.id} at {first.source}) or set health_probe_policy: none"
            else:
                message = (f"{guest.status.value} {label} runs docker (stacks: {', '.join(guest.stacks) or '-'}) "
                           f"but has no probe in {shown}")
                sources = [guest.source, guest.source_of("health_probe_policy")]
                hint = (f"add an endpoint with host: {guest.ssh_target or guest.hostname} to {shown}, "
                        "or set health_probe_policy: none")
            yield ctx.guest_finding(RULE_ID, scope, guest, "health", message, sources, hint=hint)
        addresses = ctx.addresses(guest)
        for endpoint, how in found:
            url_host = endpoint.url_host
            if how != "name" or not url_host or not calls_another_address(url_host, addresses):
                continue
            yield ctx.guest_finding(
                RULE_ID, scope, guest, f"health.url:{endpoint.id}",
                f"{label}: probe '{endpoint.id}' calls {url_host}, which is not this guest's address "
                f"({', '.join(sorted(addresses))})", [endpoint.source_of("url"), guest.source_of("tailscale_ip")],
                hint="point the URL at the guest's tailscale_ip or lan_ip", declared=sorted(addresses),
                other=url_host)


def calls_another_address(url_host: str, addresses: set[str]) -> bool:
    """A probe URL whose host is an IP address that is none of the guest's (known) addresses."""
    return bool(addresses) and _is_ip(url_host) and url_host not in addresses


def _is_ip(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True
