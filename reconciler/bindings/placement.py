"""`infra.placement.policy.yaml`: which Proxmox hosts and VMID ranges belong to which site."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path

from ..config import SiteConfig
from ..errors import BindingsError, located
from ..model import SiteScope, SourceRef
from ..record import record
from ..yamlio import YMap
from . import open_binding


@record
class PlacementSite:
    name: str
    proxmox_hosts: tuple[str, ...]
    vmid_range: tuple[int, int] | None
    source: SourceRef


@record
class PlacementHost:
    name: str
    site: str | None
    kind: str | None  # proxmox | vm | storage | workstation | network | ...
    source: SourceRef


@record
class Placement:
    sites: Mapping[str, PlacementSite] = field(default_factory=dict)
    hosts: Mapping[str, PlacementHost] = field(default_factory=dict)
    present: bool = False

    def site_of_proxmox_host(self, proxmox_host: str) -> str | None:
        for site in self.sites.values():
            if proxmox_host in site.proxmox_hosts:
                return site.name
        host = self.hosts.get(proxmox_host)
        return host.site if host else None


def load_placement(path: Path, root: Path) -> Placement:
    """Load the placement policy; a missing file is an empty policy (the site file must then say more)."""
    file = open_binding(path, root, "'sites:' and 'hosts:' sections")
    return Placement(
        sites=_sites(file.section("sites", YMap), path, file.shown),
        hosts=_hosts(file.section("hosts", YMap), file.shown),
        present=file.present,
    )


def _sites(raw: YMap | None, path: Path, shown: str) -> dict[str, PlacementSite]:
    sites: dict[str, PlacementSite] = {}
    for name, entry in (raw or {}).items():
        entry = entry if isinstance(entry, YMap) else YMap(line=raw.line_of(name))
        hosts = entry.get("proxmox_hosts") or []
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise BindingsError(f"{located(path, entry.line_of('proxmox_hosts'))}: "
                                f"sites.{name}.proxmox_hosts must be a list of names")
        low, high = entry.get("vmid_min"), entry.get("vmid_max")
        vmid_range = (low, high) if isinstance(low, int) and isinstance(high, int) else None
        sites[str(name)] = PlacementSite(str(name), tuple(hosts), vmid_range, SourceRef(shown, raw.line_of(name)))
    return sites


def _hosts(raw: YMap | None, shown: str) -> dict[str, PlacementHost]:
    hosts: dict[str, PlacementHost] = {}
    for name, entry in (raw or {}).items():
        entry = entry if isinstance(entry, YMap) else YMap()
        site, kind = entry.get("site"), entry.get("kind")
        hosts[str(name)] = PlacementHost(
            str(name),
            site if isinstance(site, str) else None,
            kind if isinstance(kind, str) else None,
            SourceRef(shown, raw.line_of(name)),
        )
    return hosts


def site_scope(site: SiteConfig, placement: Placement) -> SiteScope:
    """Which Proxmox hosts and VMIDs belong to `site`: the site file wins, then the placement policy.

    Hosts configured in the site file's `proxmox:` list always belong to it: which API answered
    decides the site, never the PVE node name.
    """
    policy = placement.sites.get(site.name)
    if site.proxmox_hosts is not None:
        hosts = set(site.proxmox_hosts)
    else:
        hosts = set(policy.proxmox_hosts) if policy else set()
    hosts |= {p.name for p in site.proxmox}
    vmid_range = site.vmid_range or (policy.vmid_range if policy else None)
    return SiteScope(site=site.name, proxmox_hosts=frozenset(hosts), vmid_range=vmid_range)


def site_resolver(site: SiteConfig, placement: Placement, scope: SiteScope) -> Callable[[str], str | None]:
    """`proxmox_host` value → the site it belongs to: this site's scope first, then the placement policy."""

    def site_of(proxmox_host: str) -> str | None:
        if proxmox_host in scope.proxmox_hosts:
            return site.name
        return placement.site_of_proxmox_host(proxmox_host)

    return site_of
