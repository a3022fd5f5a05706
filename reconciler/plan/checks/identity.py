"""plan-vm checks of identity: the VMID, the hostname and the addresses must not collide with any declared or
live guest of any configured site."""

from __future__ import annotations

from collections.abc import Iterator

from ...bindings.backup import BackupTarget
from ...model import GONE
from ...model.plan import Check
from ...rules.governance.context import GovernanceContext
from .inputs import (
    FAIL,
    PASS,
    WARN,
    PlanInput,
    guest_label,
    hosts_seen,
    live_label,
    normalized,
    sources_of,
    unique_pairs,
    visibility_doubts,
)


def check_vmid_declared(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    hits = [(g, site) for g, site in inp.declared_guests() if g.vmid == req.vmid]
    active = [(g, s) for g, s in hits if g.status not in GONE]
    gone = [(g, s) for g, s in hits if g.status in GONE]
    if active:
        labels = "; ".join(f"{guest_label(g, s)} at {g.source}" for g, s in active)
        yield Check("vmid.declared", FAIL, f"{req.vmid} is already declared: {labels}",
                    sources_of(*(g.source for g, _ in active)), hint="choose another VMID")
        return
    retained = _backups_naming(inp, req.vmid)
    if gone:
        labels = "; ".join(f"{guest_label(g, s)} at {g.source}" for g, s in gone)
        same_host = [g for g, _ in gone if g.proxmox_host == req.proxmox_host]
        hint = (f"reusing a retired VMID: replace the entry at {same_host[0].source} instead of adding a second one "
                "(two entries with one vmid on one host are invalid)" if same_host
                else "prefer a VMID that was never used, so old backups and records cannot be confused with it")
        yield Check("vmid.declared", WARN, f"{req.vmid} was used before: {labels}",
                    sources_of(*(g.source for g, _ in gone), *(t.source for t in retained)), hint=hint)
        return
    if retained:
        names = ", ".join(f"'{t.name}' ({t.source}, {'enabled' if t.enabled else 'disabled'})" for t in retained)
        yield Check("vmid.declared", WARN, f"{req.vmid} is not declared, but backup target(s) {names} already "
                    f"glob vzdump artifacts of vmid {req.vmid}", sources_of(*(t.source for t in retained)),
                    hint="remove the stale backup target, or choose another VMID")
        return
    count = len(inp.declared_guests())
    yield Check("vmid.declared", PASS, f"{req.vmid} is not declared for any Proxmox host ({count} declared guests)")


def _backups_naming(inp: PlanInput, vmid: int) -> list[BackupTarget]:
    found: dict[tuple[str, str], BackupTarget] = {}
    for ctx in inp.contexts:
        for target in ctx.backups_naming(vmid, inp.request.proxmox_host):
            found.setdefault((target.name, str(target.source)), target)
    return list(found.values())


def check_vmid_live(inp: PlanInput) -> Iterator[Check]:
    vmid = inp.request.vmid
    hits = [(h, g) for h in inp.live if h.listed for g in h.observation.guests if g.vmid == vmid]  # type: ignore
    if hits:
        here = [(h, g) for h, g in hits if h.proxmox_host == inp.request.proxmox_host]
        kind = "live on this site's host" if here else "live on another site"
        yield Check("vmid.live", FAIL, f"{vmid} is {kind}: " + "; ".join(live_label(g, h) for h, g in hits),
                    hint="choose another VMID (a VMID in use on any configured host is a collision)")
        return
    doubts = visibility_doubts(inp, vmid)
    if doubts:
        yield Check("vmid.live", WARN, f"{vmid} is not in the listings that answered, but: {'; '.join(doubts)}",
                    hint="run `reconcile doctor` to see why a host did not answer (address, TLS, token, or "
                         "privileges: docs/privileges.md), then plan again to be sure")
        return
    yield Check("vmid.live", PASS, f"{vmid} is not live on any configured Proxmox host ({hosts_seen(inp)})")


def check_hostname_declared(inp: PlanInput) -> Iterator[Check]:
    name = inp.request.hostname
    fails: list[tuple[str, str]] = []
    warns: list[tuple[str, str]] = []

    def note(text: str, source: object, retired: bool) -> None:
        (warns if retired else fails).append((text, str(source)))

    for guest, site in inp.declared_guests():
        if name in (guest.hostname, guest.ssh_target):
            key = "hostname" if guest.hostname == name else "ssh_target"
            note(f"{key} of {guest_label(guest, site)}", guest.source_of(key), guest.status in GONE)
    for ctx in inp.contexts:
        b = ctx.bindings

        def retired(entry_name: str | None, ctx: GovernanceContext = ctx) -> bool:
            owner = ctx.resolve_name(entry_name)
            return owner is not None and owner.status in GONE

        target = b.ssh.get(name)
        if target is not None:
            note(f"ssh target id in {b.ssh.shown}", target.source, retired(name))
        host = b.registry.hosts.get(name)
        if host is not None:
            note(f"host in {b.registry.shown}", host.source, retired(name))
        for compose in b.compose.targets.values():
            if name in (compose.id, compose.ssh_target):
                note(f"compose target '{compose.id}' in {b.compose.shown}", compose.source,
                     retired(compose.ssh_target) or not compose.enabled)
        for endpoint in b.health.endpoints:
            if endpoint.host == name:
                note(f"host of health probe '{endpoint.id}' in {b.health.shown}", endpoint.source_of("host"),
                     retired(name) or not endpoint.enabled)
        placed = b.placement.hosts.get(name)
        if placed is not None:
            note(f"host ({placed.kind or 'no kind'}) in {b.placement_shown}", placed.source, retired(name))
        named = b.naming.hosts.get(name)
        if named is not None:
            decommissioned = (named.status or "") in {status.value for status in GONE}
            note(f"canonical host ({named.kind or 'no kind'}) in {b.naming.shown}", named.source,
                 retired(name) or decommissioned)
    fails, warns = unique_pairs(fails), unique_pairs(warns)
    if fails:
        yield Check("hostname.declared", FAIL, f"'{name}' is already used: {'; '.join(t for t, _ in fails)}",
                    tuple(s for _, s in fails), hint="choose another hostname")
    elif warns:
        retired_text = "; ".join(t for t, _ in warns)
        yield Check("hostname.declared", WARN, f"'{name}' belonged to retired entries: {retired_text}",
                    tuple(s for _, s in warns),
                    hint="remove or rename the retired entries first, or they will be matched to the new guest")
    else:
        yield Check("hostname.declared", PASS, f"'{name}' is not used by any guest, ssh target, registry host, "
                    "compose target, health probe, placement or naming entry")


def check_hostname_live(inp: PlanInput) -> Iterator[Check]:
    name = inp.request.hostname.casefold()
    hits = [(h, g) for h in inp.live if h.listed for g in h.observation.guests  # type: ignore[union-attr]
            if (g.name or "").casefold() == name]
    if hits:
        yield Check("hostname.live", FAIL, "a live guest already has this name: "
                    + "; ".join(live_label(g, h) for h, g in hits), hint="choose another hostname")
        return
    missing = [h.why_not for h in inp.live if not h.listed]
    if missing or not inp.live:
        yield Check("hostname.live", WARN, "no live guest of that name among the hosts that answered, but: "
                    + ("; ".join(missing) or "no Proxmox host is configured"))
        return
    yield Check("hostname.live", PASS, f"no live guest is named '{inp.request.hostname}' ({hosts_seen(inp)})")


def check_addresses(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    given = [(label, addr) for label, addr in (("lan_ip", req.lan_ip), ("tailscale_ip", req.tailscale_ip)) if addr]
    if not given:
        yield Check("address", WARN, "no --lan-ip or --tailscale-ip given: address collisions were not checked, "
                    "and the stubs hold PENDING placeholders", hint="plan again once the addresses are known")
        return
    if req.lan_ip and req.lan_ip == req.tailscale_ip:
        yield Check("address", FAIL, f"--lan-ip and --tailscale-ip are the same address {req.lan_ip}")
    for label, addr in given:
        yield from _address_declared(inp, label, addr)
        yield from _address_live(inp, label, addr)


def _address_declared(inp: PlanInput, label: str, addr: str) -> Iterator[Check]:
    fails: list[tuple[str, str]] = []
    warns: list[tuple[str, str]] = []
    for guest, site in inp.declared_guests():
        for key in ("lan_ip", "tailscale_ip"):
            if normalized(getattr(guest, key)) == addr:
                (warns if guest.status in GONE else fails).append(
                    (f"{key} of {guest_label(guest, site)}", str(guest.source_of(key))))
    for ctx in inp.contexts:
        b = ctx.bindings
        for target in b.ssh.targets.values():
            if normalized(target.host) == addr:
                fails.append((f"host of ssh target '{target.id}' ({b.ssh.shown})", str(target.source_of("host"))))
        for host in b.registry.hosts.values():
            detail = b.registry.hosts.get(host.id)
            if addr in (normalized(host.tailscale_ip), normalized(detail.lan_ip if detail else None)):
                fails.append((f"registry host '{host.id}' ({b.registry.shown})", str(host.source)))
        for endpoint in b.health.endpoints:
            if normalized(endpoint.url_host) == addr:
                bucket = fails if endpoint.enabled else warns
                bucket.append((f"URL of health probe '{endpoint.id}' ({b.health.shown})",
                               str(endpoint.source_of("url"))))
    fails, warns = unique_pairs(fails), unique_pairs(warns)
    check_id = f"{label}.declared"
    if fails:
        yield Check(check_id, FAIL, f"{addr} is already used: {'; '.join(t for t, _ in fails)}",
                    tuple(s for _, s in fails), hint="choose a free address (or fix the stale entry first)")
    elif warns:
        yield Check(check_id, WARN, f"{addr} appears in retired entries: {'; '.join(t for t, _ in warns)}",
                    tuple(s for _, s in warns),
                    hint="remove the retired entries, or they will be matched to this guest")
    else:
        yield Check(check_id, PASS, f"{addr} is not used by any declared guest, ssh target, registry host or "
                    "health probe")


def _address_live(inp: PlanInput, label: str, addr: str) -> Iterator[Check]:
    check_id = f"{label}.live"
    hits: list[str] = []
    unread: list[str] = []
    for h in inp.live:
        if not h.listed:
            continue
        obs = h.observation
        for guest in obs.guests:  # type: ignore[union-attr]
            if guest.ips is not None and addr in {normalized(ip) for ip in guest.ips}:
                hits.append(live_label(guest, h))
            elif guest.ips is None and guest.status == "running" and not guest.template:
                unread.append(f"{h.proxmox_host}/{guest.vmid}")
    if hits:
        yield Check(check_id, FAIL, f"{addr} is in use by {'; '.join(hits)}", hint="choose a free address")
        return
    missing = [h.why_not for h in inp.live if not h.listed]
    if unread or missing:
        parts = missing + ([f"the addresses of {len(unread)} running guest(s) could not be read "
                            f"({', '.join(unread[:6])}{', ...' if len(unread) > 6 else ''})"] if unread else [])
        yield Check(check_id, WARN, f"{addr} was not seen live, but: {'; '.join(parts)}",
                    hint="guest agent (qemu) or PVE 8.1+ (lxc) is needed to read addresses")
        return
    yield Check(check_id, PASS, f"{addr} is not an address of any live guest ({hosts_seen(inp)})")
