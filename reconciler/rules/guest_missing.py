"""Declared guests that should exist but were observed not to."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import EXPECTED_LIVE, Finding, Kind, Severity
from . import RuleContext
from ._guests import subject_of, type_word

RULE_ID = "guest-missing"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for match in ctx.guests.matches:
        guest = match.declared
        if match.live is not None or match.gap is not None or guest.status not in EXPECTED_LIVE:
            continue
        yield Finding(
            kind=Kind.MISSING, rule=RULE_ID, subject=subject_of(guest, ctx.scope.site),
            message=f"{type_word(guest.vm_type)} {guest.vmid} ({guest.hostname}) is declared "
                    f"{guest.status.value} on {guest.proxmox_host} but does not exist there",
            severity=Severity.ERROR, declared=guest.status.value, sources=(guest.source,),
            hint=f"recreate the guest, or set status: decommissioned at {guest.source_of('status')}",
        )
