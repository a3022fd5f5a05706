"""`reconcile parity`: how many entries of each binding category each site has (the shop-vs-home audit)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..bindings.governance import GovernanceBindings, load_governance
from ..config import SiteConfig
from ..errors import ConfigError
from ..model.coverage import ParityRow, ParityTable
from ..rules.governance import build_context
from ..rules.governance.context import GovernanceContext
from ..settings import Category
from ..yamlio import YList, YMap, load_yaml_file
from .check import load_policy

BUILTIN_CATEGORIES = (
    Category("SSH targets"),
    Category("Docker compose targets"),
    Category("VM lifecycle entries"),
    Category("Backup inventory (enabled)", show_enabled=True),
    Category("Health probes"),
)

SiteItems = list[tuple[str | None, bool]]  # (site or None, counted-as-enabled)


def builtin_items(ctx: GovernanceContext, host_sites: Mapping[str, str] | None = None) -> dict[str, SiteItems]:
    """Each built-in category's entries as (site or None, enabled). Documented in docs/governance.md.

    An entry's site comes from the guest it is about (by vmid, ssh target id, hostname or address),
    else from the machine it names (`host_sites` override, Proxmox host, placement and naming policy,
    ssh target tags). Backup targets are about the data: one stored on a storage host shared by the
    sites (NAS: kind storage/nas) and naming no guest stays unassigned unless `host_sites` places it.
    """
    b = ctx.bindings
    overrides = dict(host_sites or {})

    def machine_site(name: str | None, data: bool = False) -> str | None:
        if not name:
            return None
        if name in overrides:
            return overrides[name]
        guest = ctx.resolve_name(name)
        if guest is not None:
            return ctx.site_of_guest(guest)
        if data and name not in ctx.proxmox_hosts and ctx.non_guest(name):
            return None
        return ctx.site_of_name(name)

    def guest_site(guest) -> str | None:
        return ctx.site_of_guest(guest) if guest is not None else None

    ssh = [(guest_site(_first(ctx.by_ssh_target.get(t.id))) or machine_site(t.id), True)
           for t in b.ssh.targets.values()]
    compose = [(machine_site(t.ssh_target) or machine_site(t.id), t.enabled) for t in b.compose.targets.values()]
    lifecycle = [(ctx.site_of_guest(g), True) for g in ctx.guests]
    backup = [(guest_site(_first(ctx.backup_guests(t))) or machine_site(t.host, data=True), t.enabled)
              for t in b.backup.targets]
    health = [(machine_site(e.host) or guest_site(ctx.resolve_address(e.url_host)), e.enabled)
              for e in b.health.endpoints]
    return dict(zip((c.name for c in BUILTIN_CATEGORIES), (ssh, compose, lifecycle, backup, health), strict=True))


def parity_table(ctx_by_site: Mapping[str, GovernanceContext], sites: Sequence[str],
                 categories: Sequence[Category] = (), host_sites: Mapping[str, str] | None = None) -> ParityTable:
    """Count every category's entries per site; each site's column comes from that site's context.

    Every category counts all its entries; "E of T" categories (backup) show enabled of total.
    """
    items_by_ctx: dict[int, dict[str, SiteItems]] = {}
    rows = []
    for category in (*BUILTIN_CATEGORIES, *categories):
        counts: dict[str, int] = {}
        totals: dict[str, int] = {}
        unassigned = 0
        seen_roots: set[Path] = set()
        for site in sites:
            ctx = ctx_by_site[site]
            if category.file is None and category.glob is None:
                if id(ctx) not in items_by_ctx:
                    items_by_ctx[id(ctx)] = builtin_items(ctx, host_sites)
                items = items_by_ctx[id(ctx)][category.name]
            else:
                items = configured_items(ctx, category, host_sites)
            mine = [enabled for s, enabled in items if s == site]
            totals[site] = len(mine)
            counts[site] = sum(mine) if category.show_enabled or category.count == "enabled" else len(mine)
            if ctx.bindings.root not in seen_roots:
                seen_roots.add(ctx.bindings.root)
                unassigned += sum(1 for s, _ in items if s is None)
        rows.append(ParityRow(category.name, counts, totals if category.show_enabled else None, unassigned))
    return ParityTable(tuple(sites), tuple(rows))


def configured_items(ctx: GovernanceContext, category: Category,
                     host_sites: Mapping[str, str] | None = None) -> SiteItems:
    """Entries of a category configured under rules.parity.categories (a file's list/mapping, or a glob)."""
    root = ctx.bindings.root
    if category.glob:
        paths = sorted(p for p in root.glob(category.glob) if p.is_file())
        return [(_site_by_match(category, str(p.relative_to(root))) or category.default_site, True) for p in paths]
    path = root / (category.file or "")
    where = f"rules.parity.categories: {category.name}"
    if not path.is_file():  # a row of zeros would read as "nothing there", not as a mistyped file
        raise ConfigError(f"{where}: file {category.file} not found under the bindings root {root}")
    data: Any = load_yaml_file(path)
    for part in (category.items or "").split("."):
        if part:
            data = data.get(part) if isinstance(data, dict) else None
    if isinstance(data, YMap | dict):
        entries = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, YList | list):
        entries = [(_entry_name(v), v) for v in data]
    elif data is None and category.items:
        raise ConfigError(f"{where}: {category.file} has no '{category.items}' (items:) to count")
    else:
        return []
    items: SiteItems = []
    for name, value in entries:
        site = None
        if category.site_key and isinstance(value, dict):
            site = value.get(category.site_key)
        if site is None and category.host_key and isinstance(value, dict):
            host = value.get(category.host_key)
            host = host if isinstance(host, str) else None
            guest = ctx.resolve_name(host)
            site = (host_sites or {}).get(host or "") or (ctx.site_of_guest(guest) if guest else ctx.site_of_name(host))
        site = site or _site_by_match(category, name) or category.default_site
        enabled = not (category.count == "enabled" and isinstance(value, dict) and value.get("enabled") is False)
        items.append((str(site) if site else None, enabled))
    return items


def _entry_name(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("id", "name", "stack_id", "canonical_name"):
            if isinstance(value.get(key), str):
                return value[key]
    return str(value)


def _site_by_match(category: Category, text: str) -> str | None:
    for site, pattern in category.match:
        if re.search(pattern, text):
            return site
    return None


def _first(values):
    return values[0] if values else None


def default_parity_sites(ctx: GovernanceContext) -> list[str]:
    """Sites of the placement policy that have Proxmox hosts (shop, home), in file order."""
    return [s.name for s in ctx.bindings.placement.sites.values() if s.proxmox_hosts] or [ctx.site]


def run_parity(configs: Sequence[SiteConfig], sites: Sequence[str] | None = None,
               loader: Callable[[SiteConfig], GovernanceBindings] = load_governance) -> ParityTable:
    """`reconcile parity [--sites shop,home]`. Each site is counted in its own site file's bindings when
    one of `configs` is that site, else in the first config's bindings (one governance repo)."""
    if not configs:
        raise ConfigError("parity needs at least one site file")
    by_name = {cfg.name: cfg for cfg in configs}
    cache: dict[str, GovernanceContext] = {}

    def context(cfg: SiteConfig) -> GovernanceContext:
        if cfg.name not in cache:
            cache[cfg.name] = build_context(loader(cfg), load_policy(cfg))
        return cache[cfg.name]

    first = configs[0]
    configured_sites: list[str] | None = None
    categories: list[Category] = []
    host_sites: dict[str, str] = {}
    for cfg in configs:
        settings = cfg.settings.parity
        configured_sites = configured_sites or settings.sites
        categories += [c for c in settings.categories if c.name not in {k.name for k in categories}]
        host_sites = {**settings.host_sites, **host_sites}
    chosen = list(sites or configured_sites or default_parity_sites(context(first)))
    known = set(by_name) | set(context(first).bindings.placement.sites)
    unknown = [site for site in chosen if site not in known]
    if unknown:
        # a made-up column would read as a real audit result full of zeros
        raise ConfigError(f"parity: unknown site {', '.join(map(repr, unknown))} "
                          f"(known: {', '.join(sorted(known))})")
    contexts = {site: context(by_name.get(site, first)) for site in chosen}
    return parity_table(contexts, chosen, categories, host_sites)
