"""Attribute drift of observed guests: one finding per differing field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..model import DeclaredGuest, Finding, Kind, LiveGuest, Severity, Status
from ..record import record
from . import RuleContext
from ._guests import subject_of

RULE_ID = "guest-drift"

# Statuses whose guests' attributes are compared (planning and gone guests have their own rules).
COMPARED = frozenset({Status.PROVISIONED, Status.REGISTERED, Status.ACTIVE, Status.STOPPED, Status.TEMPLATE})
_EXPECTED_POWER = {Status.ACTIVE: "running", Status.STOPPED: "stopped"}


@record
class Field:
    name: str  # finding field
    source_key: str  # key in the binding item whose line is cited
    declared: Callable[[DeclaredGuest], Any]
    live: Callable[[LiveGuest], Any]
    hint: str  # what to change where; {declared} {live} {where} are filled in


def _power(guest: DeclaredGuest) -> str | None:
    return _EXPECTED_POWER.get(guest.status)


FIELDS = (
    Field("name", "hostname", lambda d: d.hostname, lambda g: g.name,
          "set hostname: {live} at {where}, or rename the guest to {declared}"),
    Field("type", "vm_type", lambda d: d.vm_type.value, lambda g: g.vm_type.value,
          "set vm_type: {live} at {where}"),
    Field("power", "status", _power, lambda g: g.status,
          "start or stop the guest, or change status at {where}"),
    Field("template", "status", lambda d: d.status is Status.TEMPLATE, lambda g: g.template,
          "set status to match the template flag at {where}"),
    Field("cpu_cores", "cpu_cores", lambda d: d.cpu_cores, lambda g: g.cores,
          "set resources.cpu_cores: {live} at {where}, or resize the guest"),
    Field("memory_mb", "memory_mb", lambda d: d.memory_mb, lambda g: g.memory_mb,
          "set resources.memory_mb: {live} at {where}, or resize the guest"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    for match in ctx.guests.matches:
        guest, live = match.declared, match.live
        if live is None or match.gap is not None or guest.status not in COMPARED:
            continue
        for spec in FIELDS:
            want, have = spec.declared(guest), spec.live(live)
            if want is None or have is None or want == have:
                continue
            yield _finding(ctx, guest, live, spec.name, want, have, spec.source_key, spec.hint)
        yield from _disk(ctx, guest, live)
        yield from _lan_ip(ctx, guest, live)


def _disk(ctx: RuleContext, guest: DeclaredGuest, live: LiveGuest) -> Iterator[Finding]:
    if guest.boot_disk_gb is None or live.boot_disk_gb is None:
        return
    if abs(guest.boot_disk_gb - live.boot_disk_gb) > ctx.disk_tolerance_gb:
        yield _finding(ctx, guest, live, "boot_disk_gb", guest.boot_disk_gb, live.boot_disk_gb, "boot_disk_gb",
                       "set resources.boot_disk_gb: {live} at {where} (tolerance "
                       f"{ctx.disk_tolerance_gb:g} GB)")


def _lan_ip(ctx: RuleContext, guest: DeclaredGuest, live: LiveGuest) -> Iterator[Finding]:
    # Compared only when the addresses were actually read (agent / LXC interfaces).
    if not guest.lan_ip or live.ips is None or live.status != "running" or guest.lan_ip in live.ips:
        return
    yield _finding(ctx, guest, live, "lan_ip", guest.lan_ip, ", ".join(live.ips) or "(none)", "lan_ip",
                   "set lan_ip at {where} to the guest's address, or fix the guest's network")


def _finding(ctx: RuleContext, guest: DeclaredGuest, live: LiveGuest, name: str, want: Any, have: Any,
             source_key: str, hint: str) -> Finding:
    where = guest.source_of(source_key)
    return Finding(
        kind=Kind.DRIFTED, rule=RULE_ID, subject=subject_of(guest, ctx.scope.site), field=name,
        declared=want, live=have, sources=(where,), severity=Severity.ERROR,
        message=f"{guest.vmid} ({guest.hostname}) {name}: declared {want}, live {have}",
        hint=hint.format(declared=want, live=have, where=where),
    )
