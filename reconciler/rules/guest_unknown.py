"""What could not be observed: one `unknown` finding per cause, each with a reason code.

A Proxmox host whose API could not be read, or a node that is offline, is one finding naming the declared
guests it hides (`Finding.hides`), not one finding per guest: the outage is the cause. Per-guest `unknown`
remains where the guest itself is the cause (the token may not audit it, its agent does not answer).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import DeclaredGuest, Finding, Gap, GapScope, Kind, Reason, Severity, Subject
from . import RuleContext
from ._guests import subject_of, type_word
from .guest_drift import COMPARED

RULE_ID = "guest-unknown"
SHOWN_HIDDEN = 8  # hidden guests named in the message; the JSON `hides` list has them all

Cause = tuple[str, str | None]  # (Proxmox host, node or None for the whole host)


def check(ctx: RuleContext) -> Iterator[Finding]:
    site = ctx.scope.site
    gaps: dict[Cause, Gap] = {}
    for obs in ctx.live.proxmox:
        if obs.proxmox_host not in ctx.scope.proxmox_hosts:  # another site's host (e.g. in a shared snapshot)
            continue
        for gap in obs.gaps:
            if gap.scope in (GapScope.HOST, GapScope.NODE):
                gaps.setdefault((obs.proxmox_host, gap.node if gap.scope is GapScope.NODE else None), gap)
    hidden: dict[Cause, list[DeclaredGuest]] = {}
    for match in ctx.guests.matches:
        if match.gap is None:
            continue
        cause = _cause_of(match.gap, gaps)
        if cause is None:
            yield _guest_finding(match.declared, match.gap, site)
            continue
        gaps.setdefault(cause, match.gap)  # e.g. a host without an API in this site: no observation at all
        hidden.setdefault(cause, []).append(match.declared)
    for cause in sorted(gaps, key=lambda c: (c[0], c[1] or "")):
        yield _source_finding(cause, gaps[cause], tuple(hidden.get(cause, ())), site)
    yield from _addresses(ctx)


def _cause_of(gap: Gap, gaps: dict[Cause, Gap]) -> Cause | None:
    """The host or node whose outage hides this guest; None when the guest itself is the cause."""
    host = gap.proxmox_host or ""
    if gap.scope is GapScope.HOST:
        return (host, None)
    if gap.reason is Reason.NODE_OFFLINE:
        if gap.node:
            return (host, gap.node)
        offline = sorted(node for (h, node) in gaps if h == host and node)
        if offline:  # absent while nodes are offline: it may sit on any of them; the first one names it
            return (host, offline[0])
    return None


def _guest_finding(guest: DeclaredGuest, gap: Gap, site: str) -> Finding:
    return Finding(
        kind=Kind.UNKNOWN, rule=RULE_ID, subject=subject_of(guest, site), reason=gap.reason.value,
        message=f"{type_word(guest.vm_type)} {guest.vmid} ({guest.hostname}) could not be observed: {gap.detail}",
        severity=Severity.WARNING, sources=(guest.source,), hint=_HINTS.get(gap.reason.value, ""),
    )


def _source_finding(cause: Cause, gap: Gap, hidden: tuple[DeclaredGuest, ...], site: str) -> Finding:
    host, node = cause
    what = f"Proxmox host {host}" + (f" node {node}" if node else "")
    subject = Subject(type="host", site=site, proxmox_host=host, name=f"{host}/{node}" if node else host)
    hides = tuple(f"{site}/{subject_of(g, site).handle}" for g in hidden)
    named = ", ".join(f"{g.vmid} ({g.hostname})" for g in hidden[:SHOWN_HIDDEN])
    more = f" and {len(hidden) - SHOWN_HIDDEN} more" if len(hidden) > SHOWN_HIDDEN else ""
    hiding = f"; hides {len(hidden)} declared guest(s): {named}{more}" if hidden else ""
    return Finding(
        kind=Kind.UNKNOWN, rule=RULE_ID, subject=subject, reason=gap.reason.value,
        message=f"{what} could not be observed: {gap.detail}{hiding}", severity=Severity.WARNING,
        hint=_HINTS.get(gap.reason.value, ""), hides=hides,
    )


def _addresses(ctx: RuleContext) -> Iterator[Finding]:
    site = ctx.scope.site
    declared = {g.key: g for g in ctx.declared.guests}
    for obs in ctx.live.proxmox:
        if obs.proxmox_host not in ctx.scope.proxmox_hosts:  # another site's host (e.g. in a shared snapshot)
            continue
        for gap in obs.gaps:
            guest = declared.get((obs.proxmox_host, gap.vmid or -1))
            # addresses matter only where the drift rule would compare them (not for lingering guests)
            if gap.scope == "guest_ips" and guest is not None and guest.lan_ip and guest.status in COMPARED:
                yield Finding(
                    kind=Kind.UNKNOWN, rule=RULE_ID, subject=subject_of(guest, site), field="lan_ip",
                    reason=gap.reason.value, declared=guest.lan_ip, sources=(guest.source_of("lan_ip"),),
                    message=f"addresses of {guest.vmid} ({guest.hostname}) could not be read: {gap.detail}",
                    severity=Severity.WARNING, hint=_HINTS.get(gap.reason.value, ""),
                )


_HINTS = {
    "node_offline": "bring the node back online, then run again",
    "agent_not_running": "start qemu-guest-agent inside the guest",
    "agent_not_configured": "enable the QEMU guest agent (qm set VMID --agent enabled=1) and install it in the guest",
    "agent_error": "check qemu-guest-agent inside the guest",
    "no_permission": "grant the token VM.Audit (and VM.GuestAgent.Audit on PVE 9 / VM.Monitor on PVE 8); "
                     "see docs/privileges.md",
    "api_timeout": "check the host is reachable, or raise timeout_s in the site file",
    "api_error": "check the Proxmox API answers (pveproxy running, URL correct)",
    "auth_failed": "check token_id and the token secret; see docs/privileges.md",
    "tls_error": "check ca_file / fingerprint in the site file",
    "skipped": "add a proxmox: entry for this host to the site file",
}
