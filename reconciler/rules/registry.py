"""The one registry of comparison rules, keyed by rule id: guest, docker and governance rules alike.

A rule is a module (the yamllint pattern) with a `RULE_ID` and a `check(ctx)` generator of findings; its
docstring is its one-line documentation. `RULES` holds them in the order they run, one line each, with the
family that says which context `check` receives (`RuleContext` for guest and docker rules,
`GovernanceContext` for governance rules). Adding a rule is one new module and one line here; the
governance rules' configurable scopes are `reconciler.settings.GovernancePolicy` fields of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Protocol

from ..model import Finding
from ..record import record
from ..settings import GovernancePolicy, RuleScope, policy_from_rules
from . import (
    backup_coverage,
    backup_files,
    backup_runs,
    backup_unknown,
    backup_unregistered,
    container_drift,
    container_missing,
    guest_drift,
    guest_lifecycle,
    guest_missing,
    guest_unknown,
    guest_unregistered,
    stack_drift,
    stack_missing,
    stack_unknown,
    stack_unregistered,
)
from .governance import (
    backup,
    compose,
    duplicates,
    files,
    health,
    naming,
    orphans,
    placeholders,
    registry,
    ssh,
    stack_registry,
    vmid_range,
)


class Family(StrEnum):
    GUEST = "guest"  # declared × live guests of the site's Proxmox hosts (RuleContext)
    DOCKER = "docker"  # declared × live stacks and containers of the site's docker hosts (RuleContext)
    GOVERNANCE = "governance"  # the binding files against each other, no live state (GovernanceContext)
    BACKUP = "backup"  # backup.inventory.yaml × jobs, storages, runs and files (RuleContext)


class Rule(Protocol):
    """What a rule module provides. Governance rules also have `DEFAULT_SCOPE: RuleScope` (which guests and
    sites they check, at which severity), which a site file's `rules: {RULE_ID: ...}` section overrides."""

    RULE_ID: str

    def check(self, ctx: Any, /) -> Iterator[Finding]: ...


@record
class Registered:
    rule: Rule
    family: Family

    @property
    def id(self) -> str:
        return self.rule.RULE_ID

    @property
    def doc(self) -> str:
        """The rule's one-line description: the first line of its module docstring."""
        lines = (self.rule.__doc__ or "").strip().splitlines()
        return lines[0] if lines else ""

    @property
    def surface(self) -> str | None:
        """The coverage-matrix column of a guest-surface governance rule (ssh, registry, ...), else None."""
        return getattr(self.rule, "SURFACE", None)


def _register(*entries: tuple[Family, Rule]) -> dict[str, Registered]:
    rules: dict[str, Registered] = {}
    for family, rule in entries:
        if rule.RULE_ID in rules:
            raise ValueError(f"rule id {rule.RULE_ID} is registered twice")
        rules[rule.RULE_ID] = Registered(rule, family)
    return rules


RULES: dict[str, Registered] = _register(
    (Family.GUEST, guest_unregistered),
    (Family.GUEST, guest_missing),
    (Family.GUEST, guest_drift),
    (Family.GUEST, guest_lifecycle),
    (Family.GUEST, guest_unknown),
    (Family.DOCKER, stack_unregistered),
    (Family.DOCKER, stack_missing),
    (Family.DOCKER, stack_drift),
    (Family.DOCKER, container_missing),
    (Family.DOCKER, container_drift),
    (Family.DOCKER, stack_unknown),
    (Family.BACKUP, backup_files),
    (Family.BACKUP, backup_coverage),
    (Family.BACKUP, backup_runs),
    (Family.BACKUP, backup_unregistered),
    (Family.BACKUP, backup_unknown),
    (Family.GOVERNANCE, files),
    (Family.GOVERNANCE, ssh),
    (Family.GOVERNANCE, registry),
    (Family.GOVERNANCE, backup),
    (Family.GOVERNANCE, health),
    (Family.GOVERNANCE, compose),
    (Family.GOVERNANCE, stack_registry),
    (Family.GOVERNANCE, placeholders),
    (Family.GOVERNANCE, vmid_range),
    (Family.GOVERNANCE, naming),
    (Family.GOVERNANCE, orphans),
    (Family.GOVERNANCE, duplicates),
)


def of_family(family: Family) -> tuple[Rule, ...]:
    """The rules of one family, in the order they run."""
    return tuple(entry.rule for entry in RULES.values() if entry.family is family)


GUEST_RULES = of_family(Family.GUEST)
STACK_RULES = of_family(Family.DOCKER)
BACKUP_RULES = of_family(Family.BACKUP)
GOVERNANCE_RULES = of_family(Family.GOVERNANCE)
# The coverage matrix's columns, in order: the governance rules that have a guest surface.
SURFACE_RULES = tuple(entry.rule for entry in RULES.values() if entry.surface is not None)


# Each governance rule's default scope, by id: what `rules:` sections may override (and the only ids they may name).
DEFAULT_SCOPES: dict[str, RuleScope] = {entry.id: entry.rule.DEFAULT_SCOPE for entry in RULES.values()  # type: ignore[attr-defined]
                                        if entry.family is Family.GOVERNANCE}


def governance_policy(rules: Mapping[str, Any] | None = None, where: str = "site file") -> GovernancePolicy:
    """The governance policy of a site file's `rules:` (the defaults without one); mistakes are ConfigErrors."""
    return policy_from_rules(rules or {}, where, DEFAULT_SCOPES)


def run_rules(ctx: Any, rules: tuple[Rule, ...]) -> Iterator[Finding]:
    for rule in rules:
        yield from rule.check(ctx)


def run_governance_rules(ctx: Any, rules: tuple[Rule, ...] = GOVERNANCE_RULES) -> Iterator[Finding]:
    return run_rules(ctx, rules)
