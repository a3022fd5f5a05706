"""Lifecycle drift: guests that should be gone but linger, planned guests already live, guests on the wrong host."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import GONE, Finding, Kind, Severity, Status
from . import RuleContext
from ._guests import subject_of, type_word

RULE_ID = "guest-lifecycle"


def check(ctx: RuleContext) -> Iterator[Finding]:
    index = ctx.guests
    site = ctx.scope.site
    for match in index.matches:
        guest, live = match.declared, match.live
        if live is None or match.gap is not None:
            continue
        label = f"{type_word(guest.vm_type)} {guest.vmid} ({guest.hostname})"
        if guest.status in GONE:
            yield Finding(
                kind=Kind.DRIFTED, rule=RULE_ID, subject=subject_of(guest, site), field="lingering",
                declared=guest.status.value, live=live.status, sources=(guest.source_of("status"),),
                message=f"{label} is declared {guest.status.value} but still exists ({live.status})",
                severity=Severity.ERROR,
                hint=f"destroy the guest on {guest.proxmox_host}, or correct status at {guest.source_of('status')}",
            )
        elif guest.status is Status.PLANNING:
            yield Finding(
                kind=Kind.DRIFTED, rule=RULE_ID, subject=subject_of(guest, site), field="planning_live",
                declared=guest.status.value, live=live.status, sources=(guest.source_of("status"),),
                message=f"{label} is still 'planning' but already exists ({live.status})",
                severity=Severity.WARNING,
                hint=f"advance status to provisioned at {guest.source_of('status')}",
            )
    for guest, live in index.moved:
        yield Finding(
            kind=Kind.DRIFTED, rule=RULE_ID, subject=subject_of(guest, site), field="placement",
            declared=guest.proxmox_host, live=live.proxmox_host, sources=(guest.source_of("proxmox_host"),),
            message=f"{type_word(guest.vm_type)} {guest.vmid} ({guest.hostname}) is declared on "
                    f"{guest.proxmox_host} but runs on {live.proxmox_host}",
            severity=Severity.ERROR,
            hint=f"set proxmox_host: {live.proxmox_host} at {guest.source_of('proxmox_host')}, or migrate it back",
        )
