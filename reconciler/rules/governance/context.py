"""The context every governance rule reads: the loaded bindings, the policy, and lookups built once.

Pure: `build_context` only indexes what `load_governance` already read. Guests are keyed by
(Proxmox host, vmid); names are resolved in a fixed order (ssh target id, then hostname) and
addresses only as a fallback, so the same hostname on two sites never confuses a lookup.

Every per-guest lookup into another file (its registry host, backup targets, health probes, compose
targets, ssh targets at its address) reads a table `build_context` made in one pass over that file, in
file order, so a rule that asks for each guest costs guests + entries, not their product
(benchmarks/growth_rules.py measures it). Each answers exactly what a scan of the file in order would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import field, replace
from ipaddress import ip_address

from ...bindings.backup import BackupTarget
from ...bindings.compose_targets import ComposeTarget
from ...bindings.governance import GovernanceBindings
from ...bindings.health import HealthEndpoint
from ...bindings.service_registry import RegistryHost
from ...bindings.ssh_targets import SshTarget
from ...model import GONE, DeclaredGuest, Finding, Kind, Severity, SourceRef, Subject
from ...record import record
from ...settings import GovernancePolicy, RuleScope


@record
class GovernanceContext:
    bindings: GovernanceBindings
    policy: GovernancePolicy
    guests: tuple[DeclaredGuest, ...]  # every declared guest (all sites), file order
    site_guests: tuple[DeclaredGuest, ...]  # this site's guests, by (Proxmox host, vmid)
    proxmox_hosts: frozenset[str]  # every name known to be a Proxmox host
    by_ssh_target: dict[str, tuple[DeclaredGuest, ...]] = field(default_factory=dict)
    by_hostname: dict[str, tuple[DeclaredGuest, ...]] = field(default_factory=dict)
    by_address: dict[str, tuple[DeclaredGuest, ...]] = field(default_factory=dict)
    by_vmid: dict[int, tuple[DeclaredGuest, ...]] = field(default_factory=dict)
    # the other files' entries, indexed once by build_context (file order kept within each key)
    registry_by_key: dict[tuple[str | None, int | None], RegistryHost] = field(default_factory=dict)
    backups_by_vmid: dict[int, tuple[BackupTarget, ...]] = field(default_factory=dict)  # vzdump globs' vmid
    probes_by_guest: dict[int, tuple[tuple[int, HealthEndpoint], ...]] = field(default_factory=dict)
    probes_by_url_host: dict[str, tuple[tuple[int, HealthEndpoint], ...]] = field(default_factory=dict)
    compose_by_ssh_target: dict[str | None, tuple[ComposeTarget, ...]] = field(default_factory=dict)
    ssh_by_host: dict[str, tuple[tuple[int, SshTarget], ...]] = field(default_factory=dict)

    @property
    def site(self) -> str:
        return self.bindings.site

    # ── sites ────────────────────────────────────────────────────────────────

    def site_of_guest(self, guest: DeclaredGuest) -> str | None:
        if guest.proxmox_host in self.bindings.scope.proxmox_hosts:
            return self.site
        return self.bindings.placement.site_of_proxmox_host(guest.proxmox_host)

    def site_of_name(self, name: str | None) -> str | None:
        """A non-guest host's site: placement policy, then naming policy, then its ssh target's tags."""
        if not name:
            return None
        if name in self.bindings.scope.proxmox_hosts:
            return self.site
        site = self.bindings.placement.site_of_proxmox_host(name)
        if site:
            return site
        named = self.bindings.naming.hosts.get(name)
        if named and named.site:
            return named.site
        target = self.bindings.ssh.get(name)
        if target is not None:
            known = set(self.bindings.placement.sites) | {self.site}
            for tag in target.tags:
                if tag in known:
                    return tag
        return None

    # ── guests by name, address, vmid ────────────────────────────────────────

    def resolve_name(self, name: str | None) -> DeclaredGuest | None:
        """The guest a host name means: its ssh target id first, then its hostname; live guests first."""
        if not name:
            return None
        for table in (self.by_ssh_target, self.by_hostname):
            found = _prefer(table.get(name, ()), self.site)
            if found is not None:
                return found
        return None

    def resolve_address(self, address: str | None) -> DeclaredGuest | None:
        if not address:
            return None
        return _prefer(self.by_address.get(address, ()), self.site)

    def non_guest(self, name: str | None) -> str | None:
        """Why `name` is a host that is not a guest (hypervisor, NAS, network gear…), or None."""
        if not name:
            return None
        p = self.policy
        if name in p.non_guest_hosts:
            return "listed in rules.governance.non_guest_hosts"
        if name in self.proxmox_hosts:
            return "a Proxmox host"
        placed = self.bindings.placement.hosts.get(name)
        if placed and placed.kind in p.non_guest_kinds:
            return f"kind {placed.kind} in {self.bindings.placement_shown}"
        named = self.bindings.naming.hosts.get(name)
        if named and named.kind in p.non_guest_kinds:
            return f"kind {named.kind} in {self.bindings.naming.shown}"
        target = self.bindings.ssh.get(name)
        if target is not None:
            if target.access_method in p.non_guest_access_methods:
                return f"access_method {target.access_method} in {self.bindings.ssh.shown}"
            tags = sorted(set(target.tags) & p.non_guest_tags)
            if tags:
                return f"tag {tags[0]} in {self.bindings.ssh.shown}"
        return None

    def backup_guests(self, target: BackupTarget) -> tuple[DeclaredGuest, ...]:
        """Guests whose vmid the target's glob names, on its host (or any host when it is not a Proxmox host)."""
        parsed = target.vzdump
        if parsed is None:
            return ()
        _, vmid = parsed
        candidates = self.by_vmid.get(vmid, ())
        if target.host in self.proxmox_hosts:
            return tuple(g for g in candidates if g.proxmox_host == target.host)
        return candidates

    # ── one guest's entries in every surface ─────────────────────────────────

    def addresses(self, guest: DeclaredGuest) -> set[str]:
        return {a for a in (guest.tailscale_ip, guest.lan_ip) if a}

    def registry_host(self, guest: DeclaredGuest) -> RegistryHost | None:
        """The first `hosts:` entry with the guest's vmid and Proxmox host, else the entry of its hostname."""
        found = self.registry_by_key.get((guest.proxmox_host, guest.vmid))
        if found is not None:
            return found
        entry = self.bindings.registry.hosts.get(guest.hostname)
        if entry is None:
            return None
        if entry.vmid is not None and entry.vmid != guest.vmid:
            # The same hostname may be another guest's (immich is 101 at home and 203 at the shop).
            others = [g for g in self.by_hostname.get(guest.hostname, ()) if g.vmid == entry.vmid]
            if others:
                return None
        return entry

    def backup_covering(self, guest: DeclaredGuest) -> list[BackupTarget]:
        """Every backup target whose glob names this guest's vmid (any type, enabled or not)."""
        return self.backups_naming(guest.vmid, guest.proxmox_host)

    def backups_naming(self, vmid: int, proxmox_host: str | None) -> list[BackupTarget]:
        """Backup targets whose vzdump glob names `vmid`, on `proxmox_host` or on a host that is not a Proxmox host."""
        return [t for t in self.backups_by_vmid.get(vmid, ())
                if t.host not in self.proxmox_hosts or t.host == proxmox_host]

    def health_endpoints(self, guest: DeclaredGuest) -> list[tuple[HealthEndpoint, str]]:
        """(endpoint, how it was matched: "name" or "address") for every probe of this guest, in file order.

        "name": the probe's host resolves to this guest (this very object: use the context's own guests);
        "address": its host resolves to no guest and its URL's host is one of the guest's addresses."""
        found = [(i, e, "name") for i, e in self.probes_by_guest.get(id(guest), ())]
        for address in self.addresses(guest):
            found += [(i, e, "address") for i, e in self.probes_by_url_host.get(address, ())]
        return [(e, how) for _, e, how in sorted(found, key=lambda hit: hit[0])]

    def compose_targets(self, guest: DeclaredGuest) -> list[ComposeTarget]:
        if not guest.ssh_target:
            return []
        return list(self.compose_by_ssh_target.get(guest.ssh_target, ()))

    def ssh_targets_at(self, guest: DeclaredGuest) -> list[SshTarget]:
        """ssh targets (file order) whose host is one of the guest's addresses."""
        found = [hit for address in self.addresses(guest) for hit in self.ssh_by_host.get(address, ())]
        return [t for _, t in sorted(found, key=lambda hit: hit[0])]

    # ── findings ─────────────────────────────────────────────────────────────

    def guest_finding(self, rule: str, scope: RuleScope, guest: DeclaredGuest, field_name: str, message: str,
                      sources: Iterable[SourceRef], hint: str = "", severity: Severity | None = None,
                      declared: object = None, other: object = None) -> Finding:
        subject = Subject(type=guest.vm_type.value, site=self.site, proxmox_host=guest.proxmox_host,
                          vmid=guest.vmid, name=guest.hostname)
        return Finding(kind=Kind.PARITY, rule=rule, subject=subject, message=message,
                       severity=severity or scope.severity, field=field_name, declared=declared, live=other,
                       sources=_unique(sources), hint=hint)

    def entry_finding(self, rule: str, severity: Severity, entry_type: str, name: str, field_name: str,
                      message: str, sources: Iterable[SourceRef], hint: str = "", site: str | None = None,
                      guest: DeclaredGuest | None = None) -> Finding:
        subject = Subject(type=entry_type, site=site or self.site, name=name,
                          proxmox_host=guest.proxmox_host if guest else None)
        return Finding(kind=Kind.PARITY, rule=rule, subject=subject, message=message, severity=severity,
                       field=field_name, sources=_unique(sources), hint=hint)


def _unique(sources: Iterable[SourceRef]) -> tuple[SourceRef, ...]:
    return tuple(dict.fromkeys(s for s in sources if s is not None))


def _prefer(guests: tuple[DeclaredGuest, ...], site: str) -> DeclaredGuest | None:
    if not guests:
        return None
    live = [g for g in guests if g.status not in GONE]
    return (live or list(guests))[0]


def build_context(bindings: GovernanceBindings, policy: GovernancePolicy) -> GovernanceContext:
    guests = bindings.lifecycle.guests
    site_guests = tuple(sorted((g for g in guests if g.proxmox_host in bindings.scope.proxmox_hosts),
                               key=lambda g: (g.proxmox_host, g.vmid)))
    proxmox_hosts = set(bindings.scope.proxmox_hosts) | {g.proxmox_host for g in guests}
    for site in bindings.placement.sites.values():
        proxmox_hosts.update(site.proxmox_hosts)
    proxmox_hosts.update(h.name for h in bindings.placement.hosts.values() if h.kind == "proxmox")
    ctx = GovernanceContext(
        bindings=bindings, policy=policy, guests=guests, site_guests=site_guests,
        proxmox_hosts=frozenset(proxmox_hosts),
        by_ssh_target=_group(guests, lambda g: [g.ssh_target] if g.ssh_target else []),
        by_hostname=_group(guests, lambda g: [g.hostname]),
        by_address=_group(guests, lambda g: [_norm(a) for a in (g.tailscale_ip, g.lan_ip) if a]),
        by_vmid=_group(guests, lambda g: [g.vmid]),
    )
    return replace(ctx, **_file_tables(ctx))


def _file_tables(ctx: GovernanceContext) -> dict[str, dict]:
    """The context's tables of the other files' entries: one pass over each file, file order kept per key."""
    b = ctx.bindings
    registry: dict[tuple[str | None, int | None], RegistryHost] = {}
    for entry in b.registry.hosts.values():
        registry.setdefault((entry.proxmox_host, entry.vmid), entry)  # the first one a scan would meet
    by_guest: dict[int, list[tuple[int, HealthEndpoint]]] = {}
    by_url_host: dict[str, list[tuple[int, HealthEndpoint]]] = {}
    for index, endpoint in enumerate(b.health.endpoints):
        guest = ctx.resolve_name(endpoint.host)
        if guest is not None:  # keyed by identity: the context's guests live as long as it does
            by_guest.setdefault(id(guest), []).append((index, endpoint))
        elif endpoint.url_host:
            by_url_host.setdefault(endpoint.url_host, []).append((index, endpoint))
    return {
        "registry_by_key": registry,
        "backups_by_vmid": _group(b.backup.targets, lambda t: [t.vzdump[1]] if t.vzdump is not None else []),
        "probes_by_guest": {k: tuple(v) for k, v in by_guest.items()},
        "probes_by_url_host": {k: tuple(v) for k, v in by_url_host.items()},
        "compose_by_ssh_target": _group(b.compose.targets.values(), lambda t: [t.ssh_target]),
        "ssh_by_host": _group(enumerate(b.ssh.targets.values()), lambda hit: [hit[1].host] if hit[1].host else []),
    }


def _group(items: Iterable, keys) -> dict:
    table: dict = {}
    for item in items:
        for key in keys(item):
            table.setdefault(key, []).append(item)
    return {k: tuple(v) for k, v in table.items()}


def _norm(address: str) -> str:
    try:
        return str(ip_address(address))
    except ValueError:
        return address
