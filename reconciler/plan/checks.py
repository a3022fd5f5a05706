"""The plan-vm checks: pure functions from the declared and live data to pass / warn / fail with a reason.

Every check is a function `check_x(inp: PlanInput) -> Iterator[Check]`; `PLAN_CHECKS` fixes their order.
Nothing here reads a file or asks an API: the caller (`plan.run`) loads the bindings of every configured
site, observes every configured Proxmox host (or reads the snapshots) and hands the result over.

Outcome policy: a *fail* is a collision or a resource that is provably short (the plan is blocked, exit 1);
a *warn* is something that could not be proven either way (a host not observed, a permission that hides
guests, capacity unknown offline) or a documented soft limit (CPU overcommit); *pass* says what was checked.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..bindings.backup import BackupTarget
from ..bindings.profiles import ProfilesFile
from ..collect.pve_capacity import Capacity, NodeCapacity
from ..model import GONE, DeclaredGuest, GuestType, LiveGuest, ProxmoxObservation, SourceRef
from ..model.plan import Check, Outcome, Resolved
from ..rules.governance.context import GovernanceContext
from .stubs import EntryNames

PASS, WARN, FAIL = Outcome.PASS, Outcome.WARN, Outcome.FAIL


@dataclass(frozen=True, slots=True)
class PlanSettings:
    """Soft limits (site file `rules: plan-vm: {...}`; docs/plan-vm.md)."""

    cpu_overcommit: float = 4.0  # vCPUs of running guests (plus the new one) per node CPU before a warning
    memory_overcommit: float = 1.0  # configured memory of running guests (plus the new one) per node memory


@dataclass(frozen=True, slots=True)
class HostLive:
    """One configured Proxmox host as observed for the plan."""

    proxmox_host: str
    site: str
    observation: ProxmoxObservation | None  # None: no API and no snapshot for it
    capacity: Capacity | None = None  # None: not asked (offline snapshot, or another site's host)
    source: str = "api"  # "api" or "snapshot NAME"

    @property
    def listed(self) -> bool:
        return self.observation is not None and self.observation.listed

    @property
    def why_not(self) -> str:
        """Why the host's guests are not known (empty when they are)."""
        if self.observation is None:
            return f"no API or snapshot configured for Proxmox host {self.proxmox_host}"
        if not self.observation.listed:
            first = self.observation.gaps[0] if self.observation.gaps else None
            return f"Proxmox host {self.proxmox_host} could not be observed: {first.detail if first else 'no data'}"
        return ""


@dataclass(frozen=True, slots=True)
class PlanInput:
    request: Resolved
    target: GovernanceContext  # the bindings of the site the guest is planned on
    others: tuple[GovernanceContext, ...]  # other sites whose bindings live in another root
    live: tuple[HostLive, ...]  # every configured Proxmox host of every site
    profiles: ProfilesFile
    names: EntryNames
    settings: PlanSettings = PlanSettings()

    @property
    def contexts(self) -> tuple[GovernanceContext, ...]:
        return (self.target, *self.others)

    def declared_guests(self) -> list[tuple[DeclaredGuest, str | None]]:
        """Every declared guest of every bindings root, once per (Proxmox host, vmid), with its site."""
        seen: dict[tuple[str, int], tuple[DeclaredGuest, str | None]] = {}
        for ctx in self.contexts:
            for guest in ctx.guests:
                seen.setdefault(guest.key, (guest, ctx.site_of_guest(guest)))
        return list(seen.values())

    def host(self) -> HostLive | None:
        return next((h for h in self.live if h.proxmox_host == self.request.proxmox_host), None)


def _sources(*refs: SourceRef | str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(r) for r in refs if r))


def _guest_label(guest: DeclaredGuest, site: str | None) -> str:
    where = f"{guest.proxmox_host}" + (f", site {site}" if site else "")
    return f"{guest.vm_type.value} {guest.vmid} '{guest.hostname}' ({guest.status.value}, {where})"


def _live_label(guest: LiveGuest, host: HostLive) -> str:
    return f"{guest.vm_type.value} {guest.vmid} '{guest.name or '-'}' on {host.proxmox_host} (site {host.site}, " \
           f"node {guest.node}, {guest.status})"


# ── profile and resources ────────────────────────────────────────────────────


def check_profile(inp: PlanInput) -> Iterator[Check]:
    req, profiles = inp.request, inp.profiles
    if req.profile is None:
        yield Check("profile", WARN, "no profile given: resources come from the flags only and there is no clone "
                    "source to check", hint=f"pass --profile (one of: {', '.join(profiles.profiles) or 'none'})")
        return
    profile = profiles.get(req.profile)
    if profile is None:
        where = profiles.shown if profiles.present else f"{profiles.shown} (not found)"
        yield Check("profile", FAIL, f"profile '{req.profile}' is not defined in {where}",
                    hint=f"use one of: {', '.join(profiles.profiles) or 'none'}")
        return
    problems = [p for p in profiles.problems if p.subject.name == profile.name]
    if problems:
        yield Check("profile", WARN, "; ".join(p.message for p in problems),
                    _sources(*(s for p in problems for s in p.sources)), hint=problems[0].hint)
        return
    yield Check("profile", PASS, f"profile {profile.name}: {profile.description or 'no description'}",
                _sources(profile.source))


def check_resources(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    missing = [flag for flag, value in (("--cores", req.cores), ("--memory-mb", req.memory_mb),
                                        ("--disk-gb", req.disk_gb)) if value is None]
    if missing:
        yield Check("resources", FAIL, f"not known: {', '.join(missing)} (no flag, and no profile that sets it)",
                    hint=f"pass {' '.join(missing)} or a --profile")
        return
    said = f"{req.cores} cores, {req.memory_mb} MB memory, {_gb(req.disk_gb)} GB disk"
    labels: dict[str, None] = {}
    refs: list[str] = []
    for key in ("cores", "memory_mb", "disk_gb"):
        label, ref = split_origin(req.origins.get(key, ""))
        if label:
            labels[label] = None
        if ref:
            refs.append(ref)
    yield Check("resources", PASS, said + (f" (from {', '.join(labels)})" if labels else ""), _sources(*refs))


def split_origin(origin: str) -> tuple[str, str | None]:
    """"profile X (file:12)" → ("profile X", "file:12"); "--cores" → ("--cores", None)."""
    match = re.fullmatch(r"(.*) \((\S+:\d+)\)", origin)
    return (match.group(1), match.group(2)) if match else (origin, None)


# ── vmid ─────────────────────────────────────────────────────────────────────


def check_vmid_range(inp: PlanInput) -> Iterator[Check]:
    req, ctx = inp.request, inp.target
    vmid_range = ctx.bindings.scope.vmid_range
    placed = ctx.bindings.placement.sites.get(req.site)
    source = _sources(placed.source if placed and placed.vmid_range == vmid_range else None)
    if vmid_range is None:
        yield Check("vmid.range", WARN, f"site {req.site} has no VMID range (placement policy or site file)",
                    hint="add vmid_min/vmid_max to the placement policy, or vmid_range to the site file")
        return
    low, high = vmid_range
    if low <= req.vmid <= high:
        yield Check("vmid.range", PASS, f"{req.vmid} is inside site {req.site}'s range {low}-{high}", source)
    else:
        yield Check("vmid.range", FAIL, f"{req.vmid} is outside site {req.site}'s range {low}-{high}", source,
                    hint=f"choose a free VMID in {low}-{high}")


def check_vmid_declared(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    hits = [(g, site) for g, site in inp.declared_guests() if g.vmid == req.vmid]
    active = [(g, s) for g, s in hits if g.status not in GONE]
    gone = [(g, s) for g, s in hits if g.status in GONE]
    if active:
        labels = "; ".join(f"{_guest_label(g, s)} at {g.source}" for g, s in active)
        yield Check("vmid.declared", FAIL, f"{req.vmid} is already declared: {labels}",
                    _sources(*(g.source for g, _ in active)), hint="choose another VMID")
        return
    retained = _backups_naming(inp, req.vmid)
    if gone:
        labels = "; ".join(f"{_guest_label(g, s)} at {g.source}" for g, s in gone)
        same_host = [g for g, _ in gone if g.proxmox_host == req.proxmox_host]
        hint = (f"reusing a retired VMID: replace the entry at {same_host[0].source} instead of adding a second one "
                "(two entries with one vmid on one host are invalid)" if same_host
                else "prefer a VMID that was never used, so old backups and records cannot be confused with it")
        yield Check("vmid.declared", WARN, f"{req.vmid} was used before: {labels}",
                    _sources(*(g.source for g, _ in gone), *(t.source for t in retained)), hint=hint)
        return
    if retained:
        names = ", ".join(f"'{t.name}' ({t.source}, {'enabled' if t.enabled else 'disabled'})" for t in retained)
        yield Check("vmid.declared", WARN, f"{req.vmid} is not declared, but backup target(s) {names} already "
                    f"glob vzdump artifacts of vmid {req.vmid}", _sources(*(t.source for t in retained)),
                    hint="remove the stale backup target, or choose another VMID")
        return
    count = len(inp.declared_guests())
    yield Check("vmid.declared", PASS, f"{req.vmid} is not declared for any Proxmox host ({count} declared guests)")


def _backups_naming(inp: PlanInput, vmid: int) -> list[BackupTarget]:
    found: dict[tuple[str, str], BackupTarget] = {}
    for ctx in inp.contexts:
        for target in ctx.bindings.backup.targets:
            parsed = target.vzdump
            if parsed is None or parsed[1] != vmid:
                continue
            if target.host in ctx.proxmox_hosts and target.host != inp.request.proxmox_host:
                continue
            found.setdefault((target.name, str(target.source)), target)
    return list(found.values())


def check_vmid_live(inp: PlanInput) -> Iterator[Check]:
    vmid = inp.request.vmid
    hits = [(h, g) for h in inp.live if h.listed for g in h.observation.guests if g.vmid == vmid]  # type: ignore
    if hits:
        here = [(h, g) for h, g in hits if h.proxmox_host == inp.request.proxmox_host]
        kind = "live on this site's host" if here else "live on another site"
        yield Check("vmid.live", FAIL, f"{vmid} is {kind}: " + "; ".join(_live_label(g, h) for h, g in hits),
                    hint="choose another VMID (a VMID in use on any configured host is a collision)")
        return
    doubts = _visibility_doubts(inp, vmid)
    if doubts:
        yield Check("vmid.live", WARN, f"{vmid} is not in the listings that answered, but: {'; '.join(doubts)}",
                    hint="fix the source (docs/privileges.md) and plan again to be sure")
        return
    yield Check("vmid.live", PASS, f"{vmid} is not live on any configured Proxmox host ({_hosts_seen(inp)})")


def _hosts_seen(inp: PlanInput) -> str:
    return ", ".join(f"{h.proxmox_host} ({h.site}, {h.source})" for h in inp.live) or "none configured"


def _visibility_doubts(inp: PlanInput, vmid: int) -> list[str]:
    """Why an absence from the listings does not prove a guest is not there."""
    doubts = [h.why_not for h in inp.live if not h.listed]
    for h in inp.live:
        if not h.listed:
            continue
        audit = h.observation.audit  # type: ignore[union-attr]
        if not audit.known:
            doubts.append(f"the token permissions on {h.proxmox_host} could not be read")
        elif not audit.can_see(vmid):
            doubts.append(f"the token may not audit /vms/{vmid} on {h.proxmox_host} (VM.Audit), so it would be "
                          "hidden")
    if not inp.live:
        doubts.append("no Proxmox host is configured in any site file")
    return doubts


# ── hostname ─────────────────────────────────────────────────────────────────


def check_hostname_naming(inp: PlanInput) -> Iterator[Check]:
    name, naming = inp.request.hostname, inp.target.bindings.naming
    source = _sources(naming.rules.source)
    broken = naming.rules.violations(name)
    if broken and naming.exempt(name, "hostname"):
        yield Check("hostname.naming", PASS, f"'{name}' breaks {', '.join(broken)}, but is an allowed exception "
                    f"in {naming.shown}", source)
    elif broken:
        limit = f", at most {naming.rules.max_length} characters" if naming.rules.max_length else ""
        yield Check("hostname.naming", FAIL, f"'{name}' breaks the naming policy: {'; '.join(broken)}", source,
                    hint=f"use lowercase letters, digits and single hyphens{limit}, named for its function")
    else:
        yield Check("hostname.naming", PASS, f"'{name}' follows the naming rules of {naming.shown}", source)


def check_hostname_declared(inp: PlanInput) -> Iterator[Check]:
    name = inp.request.hostname
    fails: list[tuple[str, str]] = []
    warns: list[tuple[str, str]] = []

    def note(text: str, source: object, retired: bool) -> None:
        (warns if retired else fails).append((text, str(source)))

    for guest, site in inp.declared_guests():
        if name in (guest.hostname, guest.ssh_target):
            key = "hostname" if guest.hostname == name else "ssh_target"
            note(f"{key} of {_guest_label(guest, site)}", guest.source_of(key), guest.status in GONE)
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
    fails, warns = _unique_pairs(fails), _unique_pairs(warns)
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


def _unique_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))


def check_hostname_live(inp: PlanInput) -> Iterator[Check]:
    name = inp.request.hostname.casefold()
    hits = [(h, g) for h in inp.live if h.listed for g in h.observation.guests  # type: ignore[union-attr]
            if (g.name or "").casefold() == name]
    if hits:
        yield Check("hostname.live", FAIL, "a live guest already has this name: "
                    + "; ".join(_live_label(g, h) for h, g in hits), hint="choose another hostname")
        return
    missing = [h.why_not for h in inp.live if not h.listed]
    if missing or not inp.live:
        yield Check("hostname.live", WARN, "no live guest of that name among the hosts that answered, but: "
                    + ("; ".join(missing) or "no Proxmox host is configured"))
        return
    yield Check("hostname.live", PASS, f"no live guest is named '{inp.request.hostname}' ({_hosts_seen(inp)})")


# ── addresses ────────────────────────────────────────────────────────────────


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


def _norm(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value.strip()


def _address_declared(inp: PlanInput, label: str, addr: str) -> Iterator[Check]:
    fails: list[tuple[str, str]] = []
    warns: list[tuple[str, str]] = []
    for guest, site in inp.declared_guests():
        for key in ("lan_ip", "tailscale_ip"):
            if _norm(getattr(guest, key)) == addr:
                (warns if guest.status in GONE else fails).append(
                    (f"{key} of {_guest_label(guest, site)}", str(guest.source_of(key))))
    for ctx in inp.contexts:
        b = ctx.bindings
        for target in b.ssh.targets.values():
            if _norm(target.host) == addr:
                fails.append((f"host of ssh target '{target.id}' ({b.ssh.shown})", str(target.source_of("host"))))
        for host in b.registry.hosts.values():
            detail = b.registry_details.get(host.id)
            if addr in (_norm(host.tailscale_ip), _norm(detail.lan_ip if detail else None)):
                fails.append((f"registry host '{host.id}' ({b.registry.shown})", str(host.source)))
        for endpoint in b.health.endpoints:
            if _norm(endpoint.url_host) == addr:
                bucket = fails if endpoint.enabled else warns
                bucket.append((f"URL of health probe '{endpoint.id}' ({b.health.shown})",
                               str(endpoint.source_of("url"))))
    fails, warns = _unique_pairs(fails), _unique_pairs(warns)
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
            if guest.ips is not None and addr in {_norm(ip) for ip in guest.ips}:
                hits.append(_live_label(guest, h))
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
    yield Check(check_id, PASS, f"{addr} is not an address of any live guest ({_hosts_seen(inp)})")


# ── placement ────────────────────────────────────────────────────────────────


def choose_node(req: Resolved, host: HostLive | None) -> tuple[str | None, str]:
    """The node to create on: the request's, else the clone source's node, else the host's only node."""
    if req.node:
        return req.node, req.origins.get("node", "--node")
    if host is None or not host.listed:
        return None, ""
    obs = host.observation
    template = next((g for g in obs.guests if g.vmid == req.template_vmid), None)  # type: ignore[union-attr]
    if template is not None:
        return template.node, f"the node of clone source {template.vmid}"
    nodes = _node_names(host)
    if len(nodes) == 1:
        return nodes[0], f"the only node of {host.proxmox_host}"
    return None, ""


def _node_names(host: HostLive) -> list[str]:
    if host.capacity is not None and host.capacity.observed:
        return sorted(host.capacity.nodes)
    obs = host.observation
    if obs is None:
        return []
    return sorted({g.node for g in obs.guests} | set(obs.offline_nodes))


def check_placement_host(inp: PlanInput) -> Iterator[Check]:
    req, scope = inp.request, inp.target.bindings.scope
    if req.proxmox_host not in scope.proxmox_hosts:
        known = ", ".join(sorted(scope.proxmox_hosts)) or "none"
        yield Check("placement.host", FAIL, f"{req.proxmox_host} is not a Proxmox host of site {req.site} ({known})",
                    hint="pick a Proxmox host of the site (--proxmox-host)")
        return
    host = inp.host()
    origin = req.origins.get("proxmox_host", "--proxmox-host")
    if host is None or not host.listed:
        why = host.why_not if host else f"no API or snapshot configured for {req.proxmox_host}"
        yield Check("placement.host", WARN, f"{req.proxmox_host} ({origin}): {why}",
                    hint="configure its API in the site file, or give a snapshot with --live")
        return
    yield Check("placement.host", PASS, f"{req.proxmox_host} ({origin}) answered ({host.source})")


def check_node(inp: PlanInput) -> Iterator[Check]:
    req, host = inp.request, inp.host()
    if host is None or not host.listed:
        yield Check("placement.node", WARN, f"node {req.node or '?'} not checked: Proxmox host {req.proxmox_host} "
                    "was not observed")
        return
    if req.node is None:
        nodes = _node_names(host)
        yield Check("placement.node", FAIL, f"{req.proxmox_host} has {len(nodes)} nodes ({', '.join(nodes)}) and no "
                    "clone source was found to pick one", hint="pass --node")
        return
    origin = req.origins.get("node", "--node")
    capacity = host.capacity
    if capacity is not None and capacity.observed:
        node = capacity.nodes.get(req.node)
        if node is None:
            yield Check("placement.node", FAIL, f"{req.proxmox_host} has no node '{req.node}' (nodes: "
                        f"{', '.join(sorted(capacity.nodes)) or 'none'})", hint="pass an existing --node")
        elif node.status != "online":
            yield Check("placement.node", FAIL, f"node {req.node} of {req.proxmox_host} is {node.status}",
                        hint="bring the node online, or pass another --node")
        else:
            yield Check("placement.node", PASS, f"node {req.node} ({origin}) of {req.proxmox_host} is online")
        return
    obs = host.observation
    if req.node in obs.offline_nodes:  # type: ignore[union-attr]
        yield Check("placement.node", FAIL, f"node {req.node} of {req.proxmox_host} is offline ({host.source})",
                    hint="bring the node online, or pass another --node")
    elif req.node in {g.node for g in obs.guests}:  # type: ignore[union-attr]
        yield Check("placement.node", PASS, f"node {req.node} ({origin}) hosts guests in {host.source} (its "
                    "capacity is not in the snapshot)")
    else:
        yield Check("placement.node", WARN, f"node {req.node} cannot be confirmed from {host.source} (no guests "
                    "there and no node list)")


def _running_on(host: HostLive, node: str) -> list[LiveGuest]:
    obs = host.observation
    if obs is None:
        return []
    return [g for g in obs.guests if g.node == node and g.status == "running" and not g.template]


def _capacity_node(inp: PlanInput, check_id: str) -> tuple[tuple[HostLive, NodeCapacity] | None, Check | None]:
    """((host, node capacity), None), or (None, a WARN check saying why capacity is unknown)."""
    req, host = inp.request, inp.host()
    if host is None or req.node is None:
        return None, Check(check_id, WARN, "not checked: no node to place the guest on")
    capacity = host.capacity
    if capacity is None:
        return None, Check(check_id, WARN, f"not checked: node capacity is not part of {host.source}",
                           hint="run without --live / live_snapshot to ask the API")
    if not capacity.observed:
        return None, Check(check_id, WARN, f"not checked: capacity of {req.proxmox_host} could not be read: "
                           f"{capacity.detail}")
    node = capacity.nodes.get(req.node)
    if node is None or node.status != "online":
        return None, Check(check_id, WARN, f"not checked: node {req.node} is not an online node")
    return (host, node), None


def check_memory(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if req.memory_mb is None:
        return
    found, problem = _capacity_node(inp, "placement.memory")
    if problem is not None:
        yield problem
        return
    host, node = found
    free, total = node.memory_free_mb, node.memory_total_mb
    if free is None or total is None:
        yield Check("placement.memory", WARN, f"memory of node {node.node} not reported (the token needs Sys.Audit "
                    "on the node)", hint="see docs/privileges.md")
        return
    if req.memory_mb > free:
        yield Check("placement.memory", FAIL, f"the guest needs {req.memory_mb} MB; node {node.node} has {free} MB "
                    f"free of {total} MB", hint="pick another node, free memory, or ask for less --memory-mb")
        return
    configured = sum(g.memory_mb or 0 for g in _running_on(host, node.node)) + req.memory_mb
    limit = total * inp.settings.memory_overcommit
    if configured > limit:
        yield Check("placement.memory", WARN, f"fits now ({free} MB free), but running guests on {node.node} are "
                    f"configured with {configured - req.memory_mb} MB; with this one {configured} MB, more than "
                    f"{inp.settings.memory_overcommit:g} x the node's {total} MB",
                    hint="memory ballooning or swapping may follow under load (rules.plan-vm.memory_overcommit)")
        return
    yield Check("placement.memory", PASS, f"needs {req.memory_mb} MB; node {node.node} has {free} MB free of "
                f"{total} MB")


def check_cpu(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if req.cores is None:
        return
    found, problem = _capacity_node(inp, "placement.cpu")
    if problem is not None:
        yield problem
        return
    host, node = found
    if node.cpus is None:
        yield Check("placement.cpu", WARN, f"CPU count of node {node.node} not reported (needs Sys.Audit)")
        return
    if req.cores > node.cpus:
        yield Check("placement.cpu", FAIL, f"{req.cores} cores is more than node {node.node}'s {node.cpus} CPUs",
                    hint="ask for fewer --cores")
        return
    vcpus = sum(g.cores or 0 for g in _running_on(host, node.node)) + req.cores
    ratio = vcpus / node.cpus
    limit = inp.settings.cpu_overcommit
    said = f"{vcpus} vCPUs of running guests with this one on {node.cpus} CPUs: ratio {ratio:.2f} (limit {limit:g})"
    if ratio > limit:
        yield Check("placement.cpu", WARN, f"CPU overcommit: {said}",
                    hint="pick another node or fewer cores (limit: rules.plan-vm.cpu_overcommit)")
    else:
        yield Check("placement.cpu", PASS, said)


def check_storage(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if req.disk_gb is None:
        return
    if req.storage is None:
        yield Check("placement.storage", WARN, "no target storage known (the profile sets none)",
                    hint="set storage in the profile or in --from FILE")
        return
    found, problem = _capacity_node(inp, "placement.storage")
    if problem is not None:
        yield problem
        return
    host, node = found
    entry = host.capacity.storage_on(node.node, req.storage)
    if entry is None:
        names = sorted({s.storage for s in host.capacity.storage if s.node == node.node})
        yield Check("placement.storage", FAIL, f"storage '{req.storage}' is not on node {node.node} (visible: "
                    f"{', '.join(names) or 'none'})", hint="use a storage of the node (Datastore.Audit shows it)")
        return
    if entry.status != "available":
        yield Check("placement.storage", FAIL, f"storage {req.storage} on {node.node} is {entry.status}")
        return
    needed = "rootdir" if req.vm_type is GuestType.LXC else "images"
    if entry.content and needed not in entry.content:
        yield Check("placement.storage", FAIL, f"storage {req.storage} holds {', '.join(entry.content)}, not "
                    f"{needed} ({req.vm_type.value} disks)", hint="use a storage whose content includes " + needed)
        return
    free = entry.free_gb
    if free is None:
        yield Check("placement.storage", WARN, f"free space of {req.storage} not reported (needs Datastore.Audit)")
        return
    if req.disk_gb > free:
        yield Check("placement.storage", FAIL, f"the disk needs {_gb(req.disk_gb)} GB; {req.storage} on {node.node} "
                    f"has {_gb(free)} GB free of {_gb(entry.total_gb or 0)} GB",
                    hint="use another storage or a smaller --disk-gb")
        return
    yield Check("placement.storage", PASS, f"needs {_gb(req.disk_gb)} GB; {req.storage} on {node.node} has "
                f"{_gb(free)} GB free of {_gb(entry.total_gb or 0)} GB")


def _gb(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


# ── clone source, stacks, names ──────────────────────────────────────────────


def check_template(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    template_id = req.template_vmid
    if template_id is None:
        yield Check("clone.template", WARN, "no clone source: the profile has no template_vmid" if req.profile
                    else "no clone source: no profile given")
        return
    origin = req.origins.get("template_vmid", "")
    host = inp.host()
    if host is None or not host.listed:
        why = host.why_not if host else f"no API or snapshot for {req.proxmox_host}"
        yield Check("clone.template", WARN, f"template {template_id} not checked: {why}")
        return
    obs = host.observation
    guest = next((g for g in obs.guests if g.vmid == template_id), None)  # type: ignore[union-attr]
    if guest is None:
        elsewhere = [(h, g) for h in inp.live if h.listed and h is not host for g in h.observation.guests  # type: ignore
                     if g.vmid == template_id]
        extra = f"; it is on {', '.join(h.proxmox_host for h, _ in elsewhere)}, and qm clone works within one " \
                "cluster" if elsewhere else ""
        if not obs.audit.can_see(template_id) and not elsewhere:  # type: ignore[union-attr]
            yield Check("clone.template", WARN, f"template {template_id} ({origin}) is not in {req.proxmox_host}'s "
                        "listing, but the token may not see every guest", hint="grant VM.Audit on /vms")
            return
        yield Check("clone.template", FAIL, f"template {template_id} ({origin}) does not exist on "
                    f"{req.proxmox_host}{extra}", hint="create the template, or fix template_vmid in the profile")
        return
    if not guest.template:
        yield Check("clone.template", FAIL, f"{template_id} on {req.proxmox_host} exists ('{guest.name}', "
                    f"{guest.status}) but is not a template", hint="convert it (qm template) or fix template_vmid")
        return
    if guest.vm_type is not req.vm_type:
        yield Check("clone.template", FAIL, f"template {template_id} is a {guest.vm_type.value} guest; the plan is "
                    f"for {req.vm_type.value}", hint="use a profile whose template matches --type")
        return
    if req.node and req.node != guest.node:
        yield Check("clone.template", WARN, f"template {template_id} is on node {guest.node}, the guest is planned "
                    f"on {req.node}", hint=f"clone with --target {req.node} (needs the template on shared storage), "
                    "or plan on the template's node")
        return
    yield Check("clone.template", PASS, f"template {template_id} '{guest.name}' ({origin}) is a "
                f"{guest.vm_type.value} template on node {guest.node} of {req.proxmox_host}")


def check_stacks(inp: PlanInput) -> Iterator[Check]:
    stacks = inp.request.stacks
    if not stacks:
        return
    elsewhere = []
    for ctx in inp.contexts:
        for target in ctx.bindings.compose.targets.values():
            if not target.enabled:
                continue
            for stack in target.stacks:
                if stack.name in stacks:
                    elsewhere.append((f"'{stack.name}' under compose target '{target.id}'", str(stack.source)))
    elsewhere = _unique_pairs(elsewhere)
    if elsewhere:
        yield Check("stacks", WARN, f"already declared elsewhere: {'; '.join(t for t, _ in elsewhere)}",
                    tuple(s for _, s in elsewhere), hint="a moved stack must be removed from its old target")
        return
    registry = inp.target.bindings.stacks
    unregistered = [s for s in stacks if s not in registry.ids]
    said = f"not declared on any other docker host: {', '.join(stacks)}"
    if unregistered and registry.present:
        said += f" (new in {registry.shown}: {', '.join(unregistered)})"
    yield Check("stacks", PASS, said)


def check_entry_names(inp: PlanInput) -> Iterator[Check]:
    """The names the stubs create are free in their files (the hostname check covers the hostname itself)."""
    names, b = inp.names, inp.target.bindings
    taken: list[tuple[str, str]] = []
    backup = b.backup.by_name.get(names.backup_target)
    if backup is not None:
        taken.append((f"backup target '{names.backup_target}' in {b.backup.shown}", str(backup.source)))
    health = next((e for e in b.health.endpoints if e.id == names.health_id), None)
    if health is not None:
        taken.append((f"health probe id '{names.health_id}' in {b.health.shown}", str(health.source)))
    if taken:
        yield Check("register.names", FAIL, f"already taken: {'; '.join(t for t, _ in taken)}",
                    tuple(s for _, s in taken), hint="rename the old entry, or choose another hostname")
        return
    yield Check("register.names", PASS, f"the new entries' names are free (backup target {names.backup_target})")


def check_health_url(inp: PlanInput) -> Iterator[Check]:
    req = inp.request
    if not req.health_url:
        return
    from urllib.parse import urlsplit

    try:
        host = urlsplit(req.health_url).hostname
    except ValueError:
        host = None
    addresses = {a for a in (req.lan_ip, req.tailscale_ip) if a}
    if host is None:
        yield Check("health.url", FAIL, f"--health-url {req.health_url!r} has no host", hint="write http://ADDR:PORT/PATH")
    elif _norm(host) != host or host in addresses or not addresses:
        yield Check("health.url", PASS, f"probe URL {req.health_url}")
    else:
        yield Check("health.url", FAIL, f"probe URL calls {host}, which is not the guest's address "
                    f"({', '.join(sorted(addresses))})", hint="use the guest's Tailscale or LAN address in the URL")


PlanCheck = Callable[[PlanInput], Iterable[Check]]
PLAN_CHECKS: tuple[PlanCheck, ...] = (
    check_profile, check_resources,
    check_vmid_range, check_vmid_declared, check_vmid_live,
    check_hostname_naming, check_hostname_declared, check_hostname_live,
    check_addresses,
    check_placement_host, check_node, check_memory, check_cpu, check_storage,
    check_template, check_stacks, check_entry_names, check_health_url,
)


def run_checks(inp: PlanInput, checks: Sequence[PlanCheck] = PLAN_CHECKS) -> tuple[Check, ...]:
    return tuple(c for check in checks for c in check(inp))


__all__ = ["PLAN_CHECKS", "HostLive", "PlanInput", "PlanSettings", "choose_node", "run_checks"]
