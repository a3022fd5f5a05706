"""The governance policy: which guests each cross-file rule applies to, in one documented dataclass.

Defaults follow the user's own gate (D69: active shop VMs need ssh, registry, backup and health
entries), extended to every site, except where the user decided otherwise (SERVICE_REGISTRY scope
decision LOOP-HOME-SERVICE-REGISTRY-SCOPE-DECISION-20260210: the registry covers shop guests only).

A site file overrides any of it under `rules:` (docs/governance.md):

    rules:
      governance-registry: {sites: [shop, home]}          # require the registry at home too
      governance-backup: {statuses: [active, stopped], exempt: [download-home]}
      governance-orphans: {severity: info}
      governance: {non_guest_hosts: [macbook]}

Unknown rule ids and keys are configuration errors naming the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ...errors import ConfigError, did_you_mean, located
from ...model import GONE, DeclaredGuest, Severity, Status

ACTIVE = frozenset({Status.ACTIVE})
# Guests that exist (or are about to): everything but templates and the gone.
EXISTING = frozenset({Status.PLANNING, Status.PROVISIONED, Status.REGISTERED, Status.ACTIVE, Status.STOPPED})


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class GovernancePolicy:
    """Every governance rule's scope, plus how non-guest hosts are recognised.

    Field name = rule id without the `governance-` prefix (dashes → underscores).
    """

    ssh: RuleScope = RuleScope()
    registry: RuleScope = RuleScope(sites=frozenset({"shop"}))
    backup: RuleScope = RuleScope()
    health: RuleScope = RuleScope()
    compose: RuleScope = RuleScope()
    stack_registry: RuleScope = RuleScope(severity=Severity.WARNING)
    placeholders: RuleScope = RuleScope(statuses=frozenset({Status.REGISTERED, Status.ACTIVE, Status.STOPPED}))
    vmid_range: RuleScope = RuleScope(statuses=EXISTING)
    naming: RuleScope = RuleScope(statuses=EXISTING, severity=Severity.WARNING)
    orphans: RuleScope = RuleScope(severity=Severity.WARNING)
    duplicates: RuleScope = RuleScope()
    files: RuleScope = RuleScope(severity=Severity.WARNING)
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


RULE_FIELDS = {
    "governance-ssh": "ssh", "governance-registry": "registry", "governance-backup": "backup",
    "governance-health": "health", "governance-compose": "compose",
    "governance-stack-registry": "stack_registry", "governance-placeholders": "placeholders",
    "governance-vmid-range": "vmid_range", "governance-naming": "naming", "governance-orphans": "orphans",
    "governance-duplicates": "duplicates", "governance-files": "files",
}
_SCOPE_KEYS = {"statuses", "sites", "severity", "exempt", "enabled"}
_GENERAL_KEYS = {"non_guest_kinds", "non_guest_tags", "non_guest_access_methods", "non_guest_hosts",
                 "placeholder_prefixes"}
GENERAL_KEY = "governance"
# Other sections of `rules:` this module leaves to their owners.
FOREIGN_KEYS = {"parity"}


def policy_from_rules(rules: Mapping[str, Any], where: str = "site file") -> GovernancePolicy:
    """Apply a site file's `rules:` mapping to the defaults. Raises ConfigError on any mistake."""
    policy = GovernancePolicy()
    changes: dict[str, Any] = {}
    for key, value in rules.items():
        line = _line(rules, key)
        if key in FOREIGN_KEYS:
            continue
        if key == GENERAL_KEY:
            changes.update(_general(value, where, line))
            continue
        if not isinstance(key, str) or not key.startswith("governance-"):
            continue  # another family of rules (not governance)
        name = RULE_FIELDS.get(key)
        if name is None:
            raise ConfigError(f"{located(where, line)}: rules: unknown governance rule '{key}'"
                              f"{did_you_mean(key, RULE_FIELDS)}")
        changes[name] = _scope(getattr(policy, name), value, f"rules.{key}", where, line)
    return replace(policy, **changes)


def _line(data: Any, key: Any) -> int | None:
    line_of = getattr(data, "line_of", None)
    return line_of(key) if line_of else None


def _scope(base: RuleScope, value: Any, context: str, where: str, line: int | None) -> RuleScope:
    if value is None:
        return base
    if isinstance(value, bool):
        return replace(base, enabled=value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{located(where, line)}: {context}: expected a mapping or true/false")
    changes: dict[str, Any] = {}
    for key, item in value.items():
        at = _line(value, key) or line
        if key not in _SCOPE_KEYS:
            raise ConfigError(f"{located(where, at)}: {context}: unknown key '{key}'{did_you_mean(key, _SCOPE_KEYS)}")
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
    if not isinstance(value, Mapping):
        raise ConfigError(f"{located(where, line)}: rules.{GENERAL_KEY}: expected a mapping")
    changes: dict[str, Any] = {}
    for key, item in value.items():
        at = _line(value, key) or line
        if key not in _GENERAL_KEYS:
            raise ConfigError(f"{located(where, at)}: rules.{GENERAL_KEY}: unknown key '{key}'"
                              f"{did_you_mean(key, _GENERAL_KEYS)}")
        names = _names(item, f"rules.{GENERAL_KEY}.{key}", where, at)
        changes[key] = tuple(sorted(names)) if key == "placeholder_prefixes" else names
    return changes


def is_gone(guest: DeclaredGuest) -> bool:
    return guest.status in GONE
