"""The `rules:` section of a site file, parsed and validated before a command does anything else.

`rules:` holds one section per configurable governance rule (`governance-ssh: {sites: [shop]}`), the general
governance settings (`governance:`), the parity table's (`parity:`) and plan-vm's soft limits (`plan-vm:`).
Any other section, or any unknown key inside one, is an error at its `file:line` with a did-you-mean, in
every command: a typo must not silently switch a check off.

`parity` and `plan-vm` are parsed when the site file is loaded (`SiteConfig.settings`). The governance
sections are checked against the governance rules of the rule registry (reconciler/rules/registry.py, each
rule's DEFAULT_SCOPE) by `policy_from_rules`, which the CLI runs on every site file it loads.

Defaults follow the user's own gate (D69: active shop VMs need ssh, registry, backup and health
entries), extended to every site, except where the user decided otherwise (SERVICE_REGISTRY scope
decision LOOP-HOME-SERVICE-REGISTRY-SCOPE-DECISION-20260210: the registry covers shop guests only).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import field, replace
from typing import Any

from .errors import ConfigError, did_you_mean, located
from .model import DeclaredGuest, Severity, Status
from .record import record
from .yamlio import YMap

PARITY_SECTION = "parity"
PLAN_SECTION = "plan-vm"
OTHER_SECTIONS = (PARITY_SECTION, PLAN_SECTION)

# ── governance rule scopes ───────────────────────────────────────────────────

ACTIVE = frozenset({Status.ACTIVE})
# Guests that exist (or are about to): everything but templates and the gone.
EXISTING = frozenset({Status.PLANNING, Status.PROVISIONED, Status.REGISTERED, Status.ACTIVE, Status.STOPPED})


@record
class RuleScope:
    """Where one rule applies.

    statuses: lifecycle statuses of the guests it checks (guest rules); ignored by file-level rules.
    sites:    site names it applies to; None = every site.
    severity: of its findings (error and warning make `check` exit 1, info does not).
    exempt:   guests (hostname, vmid, or "proxmox_host/vmid") or, for the orphan and duplicate
              rules, entry names (ssh target id, compose target, health endpoint id or host,
              registry host, backup target name, stack_id) it skips.
    enabled:  false turns the rule off for the site.
    """

    statuses: frozenset[Status] = ACTIVE
    sites: frozenset[str] | None = None
    severity: Severity = Severity.ERROR
    exempt: frozenset[str] = frozenset()
    enabled: bool = True

    def for_site(self, site: str) -> bool:
        return self.enabled and (self.sites is None or site in self.sites)

    def covers(self, guest: DeclaredGuest, site: str) -> bool:
        return self.for_site(site) and guest.status in self.statuses and not self.exempts(guest)

    def exempts(self, guest: DeclaredGuest) -> bool:
        keys = {guest.hostname, str(guest.vmid), f"{guest.proxmox_host}/{guest.vmid}"}
        return bool(keys & self.exempt)


@record
class GovernancePolicy:
    """Every governance rule's scope (by rule id; each rule's default is its module's DEFAULT_SCOPE), plus how
    non-guest hosts are recognised. Built by `reconciler.rules.registry.governance_policy`."""

    scopes: Mapping[str, RuleScope] = field(default_factory=dict)
    # Hosts that are not guests (hypervisors, NAS, network gear, workstations): recognised by their
    # placement/naming policy `kind`, their ssh target `tags` or `access_method`, or by name.
    non_guest_kinds: frozenset[str] = frozenset({
        "proxmox", "hypervisor", "storage", "nas", "workstation", "network", "router", "switch",
        "access-point", "management", "camera", "nvr", "iot",
    })
    non_guest_tags: frozenset[str] = frozenset({
        "proxmox", "hypervisor", "storage", "nas", "network", "router", "switch", "lan-only",
        "management", "cameras", "wifi", "workstation",
    })
    non_guest_access_methods: frozenset[str] = frozenset({"lan_only"})
    non_guest_hosts: frozenset[str] = frozenset()
    # Values that mark an unfinished entry (the VM creation contract writes PENDING_* until known).
    placeholder_prefixes: tuple[str, ...] = ("PENDING",)

    def scope(self, rule_id: str) -> RuleScope:
        return self.scopes.get(rule_id, RuleScope())


_SCOPE_KEYS = {"statuses", "sites", "severity", "exempt", "enabled"}
_GENERAL_KEYS = {"non_guest_kinds", "non_guest_tags", "non_guest_access_methods", "non_guest_hosts",
                 "placeholder_prefixes"}
GENERAL_KEY = "governance"


def policy_from_rules(rules: Mapping[str, Any], where: str, defaults: Mapping[str, RuleScope]) -> GovernancePolicy:
    """The governance sections of a site file's `rules:` over the rules' default scopes (`defaults`, by rule id).

    Every section must be a governance rule id, `governance`, `parity` or `plan-vm`: anything else is a
    ConfigError at its line with a did-you-mean, as is any mistake inside a governance section."""
    scopes = dict(defaults)
    changes: dict[str, Any] = {}
    for key, value in rules.items():
        line = _line(rules, key)
        if key == GENERAL_KEY:
            changes.update(_general(value, where, line))
        elif key in defaults:
            scopes[key] = _scope(defaults[key], value, f"rules.{key}", where, line)
        elif key not in OTHER_SECTIONS:
            raise ConfigError(f"{located(where, line)}: rules: unknown rule '{key}'"
                              f"{did_you_mean(key, [*defaults, *OTHER_SECTIONS, GENERAL_KEY])}")
    return replace(GovernancePolicy(scopes), **changes)


def _line(data: Any, key: Any) -> int | None:
    line_of = getattr(data, "line_of", None)
    return line_of(key) if line_of else None


def _known_items(value: Any, known: Collection[str], context: str, where: str,
                 line: int | None) -> list[tuple[Any, Any, int | None]]:
    """(key, value, line) of a mapping whose every key must be in `known`: anything else is an error at its line,
    with a did-you-mean (or the known keys). `context` names the section in the message (`rules.plan-vm`)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{located(where, line)}: {context}: expected a mapping")
    items = []
    for key, item in value.items():
        at = _line(value, key) or line
        if key not in known:
            hint = did_you_mean(key, known) or f" (known: {', '.join(sorted(known))})"
            raise ConfigError(f"{located(where, at)}: {context}: unknown key '{key}'{hint}")
        items.append((key, item, at))
    return items


def _scope(base: RuleScope, value: Any, context: str, where: str, line: int | None) -> RuleScope:
    if value is None:
        return base
    if isinstance(value, bool):
        return replace(base, enabled=value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{located(where, line)}: {context}: expected a mapping or true/false")
    changes: dict[str, Any] = {}
    for key, item, at in _known_items(value, _SCOPE_KEYS, context, where, line):
        if key == "enabled":
            if not isinstance(item, bool):
                raise ConfigError(f"{located(where, at)}: {context}.enabled: expected true or false")
            changes["enabled"] = item
        elif key == "severity":
            try:
                changes["severity"] = Severity(item)
            except ValueError:
                allowed = ", ".join(s.value for s in Severity)
                raise ConfigError(f"{located(where, at)}: {context}.severity: {item!r} is not one of: "
                                  f"{allowed}") from None
        elif key == "statuses":
            changes["statuses"] = _statuses(item, f"{context}.statuses", where, at)
        elif key == "sites":
            changes["sites"] = None if item in ("all", ["all"]) else _names(item, f"{context}.sites", where, at)
        else:
            changes["exempt"] = _names(item, f"{context}.exempt", where, at)
    return replace(base, **changes)


def _statuses(value: Any, context: str, where: str, line: int | None) -> frozenset[Status]:
    names = _names(value, context, where, line)
    try:
        return frozenset(Status(n) for n in names)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in Status)
        raise ConfigError(f"{located(where, line)}: {context}: {exc}; allowed: {allowed}") from None


def _names(value: Any, context: str, where: str, line: int | None) -> frozenset[str]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{located(where, line)}: {context}: expected a list of names")
    return frozenset(str(v) for v in value)


def _general(value: Any, where: str, line: int | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, item, at in _known_items(value, _GENERAL_KEYS, f"rules.{GENERAL_KEY}", where, line):
        names = _names(item, f"rules.{GENERAL_KEY}.{key}", where, at)
        changes[key] = tuple(sorted(names)) if key == "placeholder_prefixes" else names
    return changes


# ── parity ───────────────────────────────────────────────────────────────────


@record
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


_CATEGORY_KEYS = {"name", "file", "items", "glob", "site_key", "host_key", "match", "default_site", "count"}
_PARITY_KEYS = {"sites", "categories", "host_sites"}


@record
class ParitySettings:
    sites: list[str] | None = None
    categories: list[Category] = field(default_factory=list)
    host_sites: dict[str, str] = field(default_factory=dict)


def parity_settings(rules: Mapping[str, Any], where: str) -> ParitySettings:
    """`rules.parity` of a site file: default `sites`, extra `categories`, `host_sites` overrides.

    Raises ConfigError (file:line) on any mistake."""
    raw = rules.get(PARITY_SECTION)
    if raw is None:
        return ParitySettings()

    def fail(data: Any, key: Any, message: str) -> ConfigError:
        line = data.line_of(key) if isinstance(data, YMap) else None
        return ConfigError(f"{located(where, line)}: rules.parity: {message}")

    _known_items(raw, _PARITY_KEYS, "rules.parity", where, _line(rules, PARITY_SECTION))  # values: checked below
    sites = raw.get("sites")
    if sites is not None and (not isinstance(sites, list) or not all(isinstance(s, str) for s in sites)):
        raise fail(raw, "sites", "sites: expected a list of site names")
    categories = []
    for index, entry in enumerate(raw.get("categories") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise fail(raw, "categories", f"categories[{index}]: expected a mapping with a 'name'")
        _known_items(entry, _CATEGORY_KEYS, f"rules.parity: categories[{index}]", where, _line(raw, "categories"))
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


# ── plan-vm ──────────────────────────────────────────────────────────────────


@record
class PlanSettings:
    """Soft limits (site file `rules: plan-vm: {...}`; docs/plan-vm.md)."""

    cpu_overcommit: float = 4.0  # vCPUs of running guests (plus the new one) per node CPU before a warning
    memory_overcommit: float = 1.0  # configured memory of running guests (plus the new one) per node memory


_PLAN_KEYS = {"cpu_overcommit", "memory_overcommit"}


def plan_settings(rules: Mapping[str, Any], where: str) -> PlanSettings:
    """`rules: plan-vm: {cpu_overcommit: 4, memory_overcommit: 1}` of the site file (errors name file:line)."""
    raw = rules.get(PLAN_SECTION)
    if raw is None:
        return PlanSettings()
    values: dict[str, float] = {}
    for key, value, at in _known_items(raw, _PLAN_KEYS, f"rules.{PLAN_SECTION}", where, _line(rules, PLAN_SECTION)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{located(where, at)}: rules.{PLAN_SECTION}.{key}: expected a positive number")
        values[key] = float(value)
    return PlanSettings(**values)


# ── the whole section ────────────────────────────────────────────────────────


@record
class RuleSettings:
    parity: ParitySettings = ParitySettings()
    plan_vm: PlanSettings = PlanSettings()


def parse_rule_settings(rules: Mapping[str, Any], where: str) -> RuleSettings:
    """The `parity` and `plan-vm` sections; the first mistake is a ConfigError naming `where` and its line.
    The governance sections need the rules' default scopes: `rules.registry.governance_policy` parses them."""
    return RuleSettings(parity_settings(rules, where), plan_settings(rules, where))
