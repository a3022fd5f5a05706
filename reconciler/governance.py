"""Cross-file governance for `reconcile check`, `reconcile coverage` and `reconcile parity`. No network.

Pure functions (data in, data out):

- `check_site(bindings, policy)` → the `parity` findings of one site (plus the loaders' `invalid` ones).
- `coverage(bindings, policy, findings, include_all)` → `CoverageMatrix`: one row per guest, a cell per
  surface (OK / MISS / n.a.), notes, and the "N guests | N governed | N gaps" summary.
- `parity_table(counts_by_site, sites)` / `count_categories(...)` → the seed's shop-vs-home table.

Entry points that read the binding files (`run_check`, `run_coverage`, `run_parity`) take `SiteConfig`s;
the policy comes from each site file's `rules:` (docs/governance.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .bindings.governance import GovernanceBindings, SharedFiles, load_governance
from .config import SiteConfig
from .errors import ConfigError, ExitCode, located
from .model import Finding, Kind, Severity
from .rules.governance import SURFACE_RULES, build_context, run_governance_rules, stack_registry
from .rules.governance.context import GovernanceContext
from .rules.governance.policy import GovernancePolicy, policy_from_rules
from .yamlio import YList, YMap, load_yaml_file

# ── check ────────────────────────────────────────────────────────────────────


def load_policy(cfg: SiteConfig) -> GovernancePolicy:
    return policy_from_rules(cfg.rules or {}, str(cfg.path))


def check_site(bindings: GovernanceBindings, policy: GovernancePolicy | None = None) -> list[Finding]:
    """Every governance finding of one site: the loaders' `invalid` problems, then each rule's `parity`."""
    ctx = build_context(bindings, policy or GovernancePolicy())
    return sort_findings([*bindings.problems, *run_governance_rules(ctx)])


_KIND_ORDER = {Kind.INVALID: 0, Kind.SECURITY: 1, Kind.PARITY: 2}
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (
        _KIND_ORDER.get(f.kind, 9), f.subject.site, f.subject.proxmox_host or "", f.subject.vmid or 0,
        f.subject.handle, f.rule, f.field or "", f.message))


def exit_code_of(findings: Iterable[Finding]) -> ExitCode:
    return ExitCode.DRIFT if any(f.actionable for f in findings) else ExitCode.OK


# ── coverage matrix ──────────────────────────────────────────────────────────


class Cell(StrEnum):
    OK = "OK"
    MISS = "MISS"
    NA = "n.a."


SURFACE_LABELS = {"ssh": "SSH", "registry": "registry", "backup": "backup", "health": "health", "compose": "compose"}


@dataclass(frozen=True, slots=True)
class CoverageRow:
    site: str
    proxmox_host: str
    vmid: int
    hostname: str
    status: str
    cells: Mapping[str, Cell]  # surface → cell, in SURFACE_LABELS order
    notes: tuple[str, ...] = ()

    @property
    def in_scope(self) -> bool:
        return any(c is not Cell.NA for c in self.cells.values())

    @property
    def governed(self) -> bool:
        return self.in_scope and all(c is not Cell.MISS for c in self.cells.values())

    @property
    def gaps(self) -> int:
        return sum(c is Cell.MISS for c in self.cells.values())


@dataclass(frozen=True, slots=True)
class CoverageMatrix:
    sites: tuple[str, ...]
    surfaces: tuple[str, ...]
    rows: tuple[CoverageRow, ...]
    include_all: bool = False

    @property
    def guests(self) -> int:
        return len(self.rows)

    @property
    def governed(self) -> int:
        return sum(r.governed for r in self.rows)

    @property
    def gaps(self) -> int:
        return sum(r.gaps for r in self.rows)

    @property
    def summary(self) -> str:
        return f"{self.guests} guests | {self.governed} governed | {self.gaps} gaps"

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if self.gaps else ExitCode.OK


def coverage(bindings: GovernanceBindings, policy: GovernancePolicy | None = None,
             findings: Sequence[Finding] | None = None, include_all: bool = False) -> CoverageMatrix:
    """One row per guest of the site (only guests some surface applies to, unless `include_all`)."""
    ctx = build_context(bindings, policy or GovernancePolicy())
    if findings is None:
        findings = list(run_governance_rules(ctx))
    return CoverageMatrix((ctx.site,), tuple(SURFACE_LABELS), tuple(_rows(ctx, findings, include_all)), include_all)


def _rows(ctx: GovernanceContext, findings: Sequence[Finding], include_all: bool) -> Iterator[CoverageRow]:
    by_guest: dict[tuple[str, int], list[Finding]] = {}
    for finding in findings:
        if finding.subject.vmid is not None and finding.subject.proxmox_host:
            by_guest.setdefault((finding.subject.proxmox_host, finding.subject.vmid), []).append(finding)
    surface_rules = {module.SURFACE: module for module in SURFACE_RULES}
    for guest in ctx.site_guests:
        mine = by_guest.get(guest.key, [])
        cells: dict[str, Cell] = {}
        for surface, module in surface_rules.items():
            if not module.applies(ctx, guest):
                cells[surface] = Cell.NA
                continue
            gap = any(f.rule == module.RULE_ID and f.actionable for f in mine)
            cells[surface] = Cell.MISS if gap else Cell.OK
        notes = [_note(f, guest.hostname) for f in mine]
        if cells["health"] is Cell.OK:
            by_address = sorted({e.host or e.id for e, how in ctx.health_endpoints(guest) if how == "address"})
            if by_address:
                notes.append(f"health probe found by URL address only (host: {', '.join(by_address)})")
        row = CoverageRow(ctx.site, guest.proxmox_host, guest.vmid, guest.hostname, guest.status.value, cells,
                          tuple(notes))
        if include_all or row.in_scope:
            yield row


def _note(finding: Finding, hostname: str) -> str:
    text = finding.message
    prefix = re.match(rf"^(?:\w+ )?{re.escape(hostname)} \([^)]*\):? ", text)
    if prefix:
        text = text[prefix.end():]
    if finding.rule == stack_registry.RULE_ID or finding.severity is not Severity.ERROR:
        text = f"{finding.severity.value}: {text}"
    return text


def merge_coverage(matrices: Sequence[CoverageMatrix]) -> CoverageMatrix:
    rows = sorted((r for m in matrices for r in m.rows), key=lambda r: (r.site, r.proxmox_host, r.vmid))
    return CoverageMatrix(tuple(s for m in matrices for s in m.sites), tuple(SURFACE_LABELS), tuple(rows),
                          any(m.include_all for m in matrices))


# ── entry points over site configs ───────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class GovernanceResult:
    site: str
    findings: tuple[Finding, ...]
    coverage: CoverageMatrix
    bindings: GovernanceBindings = field(repr=False, compare=False)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_of(self.findings)


def run_check(cfg: SiteConfig, include_all: bool = False, shared: SharedFiles | None = None) -> GovernanceResult:
    """`reconcile check --site X`: load the site's bindings, run every governance rule (reads files only)."""
    policy = load_policy(cfg)
    bindings = load_governance(cfg, shared)
    ctx = build_context(bindings, policy)
    rule_findings = list(run_governance_rules(ctx))
    matrix = coverage(bindings, policy, rule_findings, include_all)
    return GovernanceResult(cfg.name, tuple(sort_findings([*bindings.problems, *rule_findings])), matrix, bindings)


def run_coverage(configs: Sequence[SiteConfig], include_all: bool = False) -> CoverageMatrix:
    """`reconcile coverage --site X [--all]`: the matrix over every selected site."""
    return merge_coverage([run_check(cfg, include_all).coverage for cfg in configs])


# ── the site parity table ────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Category:
    """One row of the parity table: how entries are listed and how each is given a site."""

    name: str
    show_enabled: bool = False  # "E of T" cells (enabled of total)
    # configured categories (rules.parity.categories) only:
    file: str | None = None
    items: str | None = None
    glob: str | None = None
    site_key: str | None = None
    host_key: str | None = None
    match: tuple[tuple[str, str], ...] = ()
    default_site: str | None = None
    count: str = "all"  # all | enabled


@dataclass(frozen=True, slots=True)
class ParityRow:
    category: str
    counts: Mapping[str, int]  # site → entries counted
    totals: Mapping[str, int] | None = None  # site → all entries, for "E of T" rows
    unassigned: int = 0

    def cell(self, site: str) -> str:
        count = self.counts.get(site, 0)
        if self.totals is None:
            return str(count)
        return f"{count} of {self.totals.get(site, 0)}"

    def ratio(self, sites: Sequence[str]) -> str:
        if len(sites) != 2:
            return ""
        first, second = (self.counts.get(s, 0) for s in sites)
        if not first and not second:
            return "N/A"
        if not second:
            return "N/A"
        return f"{first / second:.1f}x"


@dataclass(frozen=True, slots=True)
class ParityTable:
    sites: tuple[str, ...]
    rows: tuple[ParityRow, ...]


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
    if not path.exists():
        return []
    data: Any = load_yaml_file(path)
    for part in (category.items or "").split("."):
        if part:
            data = data.get(part) if isinstance(data, dict) else None
    if isinstance(data, YMap | dict):
        entries = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, YList | list):
        entries = [(_entry_name(v), v) for v in data]
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


_CATEGORY_KEYS = {"name", "file", "items", "glob", "site_key", "host_key", "match", "default_site", "count"}
_PARITY_KEYS = {"sites", "categories", "host_sites"}


@dataclass(frozen=True, slots=True)
class ParitySettings:
    sites: list[str] | None = None
    categories: list[Category] = field(default_factory=list)
    host_sites: dict[str, str] = field(default_factory=dict)


def parity_settings(cfg: SiteConfig) -> ParitySettings:
    """`rules.parity` of a site file: default `sites`, extra `categories`, `host_sites` overrides.

    Raises ConfigError (file:line) on any mistake."""
    raw = (cfg.rules or {}).get("parity")
    if raw is None:
        return ParitySettings()
    where = str(cfg.path)

    def fail(data: Any, key: Any, message: str) -> ConfigError:
        line = data.line_of(key) if isinstance(data, YMap) else None
        return ConfigError(f"{located(where, line)}: rules.parity: {message}")

    if not isinstance(raw, dict):
        raise fail(cfg.rules, "parity", "expected a mapping")
    for key in raw:
        if key not in _PARITY_KEYS:
            raise fail(raw, key, f"unknown key '{key}'")
    sites = raw.get("sites")
    if sites is not None and (not isinstance(sites, list) or not all(isinstance(s, str) for s in sites)):
        raise fail(raw, "sites", "sites: expected a list of site names")
    categories = []
    for index, entry in enumerate(raw.get("categories") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise fail(raw, "categories", f"categories[{index}]: expected a mapping with a 'name'")
        for key in entry:
            if key not in _CATEGORY_KEYS:
                raise fail(entry, key, f"categories[{index}]: unknown key '{key}'")
        if bool(entry.get("file")) == bool(entry.get("glob")):
            raise fail(raw, "categories", f"categories[{index}] ({entry['name']}): set exactly one of file, glob")
        match = entry.get("match") or {}
        if not isinstance(match, dict):
            raise fail(entry, "match", f"categories[{index}]: match: expected a mapping of site → regex")
        for site, pattern in match.items():
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise fail(match, site, f"categories[{index}]: match.{site}: bad regex: {exc}") from None
        count = entry.get("count", "all")
        if count not in ("all", "enabled"):
            raise fail(entry, "count", f"categories[{index}]: count: expected all or enabled")
        categories.append(Category(
            name=entry["name"], file=entry.get("file"), items=entry.get("items"), glob=entry.get("glob"),
            site_key=entry.get("site_key"), host_key=entry.get("host_key"),
            match=tuple((str(s), str(p)) for s, p in match.items()), default_site=entry.get("default_site"),
            count=count,
        ))
    host_sites = raw.get("host_sites") or {}
    if not isinstance(host_sites, dict) or not all(isinstance(v, str) for v in host_sites.values()):
        raise fail(raw, "host_sites", "host_sites: expected a mapping of host name → site")
    return ParitySettings(sites, categories, {str(k): v for k, v in host_sites.items()})


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
        settings = parity_settings(cfg)
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
