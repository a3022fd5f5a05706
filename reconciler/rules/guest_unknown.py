"""What could not be observed: hosts, nodes, guests and guest addresses, each with a reason code."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Gap, Kind, Severity, Subject
from . import RuleContext
from ._guests import subject_of, type_word
from .guest_drift import COMPARED

RULE_ID = "guest-unknown"


def check(ctx: RuleContext) -> Iterator[Finding]:
    site = ctx.scope.site
    for obs in ctx.live.proxmox:
        if obs.proxmox_host not in ctx.scope.proxmox_hosts:
            continue
        for gap in obs.gaps:
            if gap.scope in ("host", "node"):
                yield _host_or_node(gap, site)
    declared = {g.key: g for g in ctx.declared.guests}
    for match in ctx.guests.matches:
        if match.gap is not None:
            guest = match.declared
            yield Finding(
                kind=Kind.UNKNOWN, rule=RULE_ID, subject=subject_of(guest, site), reason=match.gap.reason.value,
                message=f"{type_word(guest.vm_type)} {guest.vmid} ({guest.hostname}) could not be observed: "
                        f"{match.gap.detail}",
                severity=Severity.WARNING, sources=(guest.source,), hint=_HINTS.get(match.gap.reason.value, ""),
            )
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


def _host_or_node(gap: Gap, site: str) -> Finding:
    what = f"Proxmox host {gap.proxmox_host}" + (f" node {gap.node}" if gap.node else "")
    subject = Subject(type="host", site=site, proxmox_host=gap.proxmox_host,
                      name=f"{gap.proxmox_host}/{gap.node}" if gap.node else gap.proxmox_host)
    return Finding(
        kind=Kind.UNKNOWN, rule=RULE_ID, subject=subject, reason=gap.reason.value,
        message=f"{what} could not be observed: {gap.detail}", severity=Severity.WARNING,
        hint=_HINTS.get(gap.reason.value, ""),
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
