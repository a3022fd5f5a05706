"""Live guests that no binding declares for their Proxmox host."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity
from . import RuleContext
from ._guests import subject_of, type_word

RULE_ID = "guest-unregistered"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for live in ctx.guests.unclaimed:
        label = f"{type_word(live.vm_type)} {live.vmid} ({live.name or 'unnamed'})"
        yield Finding(
            kind=Kind.UNREGISTERED, rule=RULE_ID, subject=subject_of(live, ctx.scope.site),
            message=f"{label} {_where(live.status, live.template)} {live.proxmox_host} (node {live.node}) but is "
                    "not declared",
            severity=Severity.ERROR, live=live.status,
            hint=f"add it to {ctx.lifecycle_file} (id: {live.vmid}, proxmox_host: {live.proxmox_host}"
                 f"{', vm_type: lxc' if live.vm_type.value == 'lxc' else ''}), or remove the guest",
        )


def _where(status: str, template: bool) -> str:
    """How the guest is there: a template or a stopped guest exists, only a running one runs."""
    if template:
        return "is a template on"
    return "runs on" if status == "running" else f"exists ({status}) on"
