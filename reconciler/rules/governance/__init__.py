"""Cross-file governance rules: pure functions from the loaded binding files to `parity` findings.

Each rule is a module with a `RULE_ID` and a `check(ctx: GovernanceContext) -> Iterator[Finding]`
generator. The guest-surface rules (ssh, registry, backup, health, compose) also expose
`SURFACE` and `applies(ctx, guest)`, which the coverage matrix uses to tell MISS from n.a.
`GOVERNANCE_RULES` fixes the order in which they run. Scopes: `policy.GovernancePolicy`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...model import Finding
from . import (
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
from .context import GovernanceContext, build_context
from .policy import GovernancePolicy, RuleScope, policy_from_rules

GOVERNANCE_RULES = (files, ssh, registry, backup, health, compose, stack_registry, placeholders, vmid_range,
                    naming, orphans, duplicates)
# The coverage matrix's columns, in order.
SURFACE_RULES = (ssh, registry, backup, health, compose)


def run_governance_rules(ctx: GovernanceContext, modules=GOVERNANCE_RULES) -> Iterator[Finding]:
    for module in modules:
        yield from module.check(ctx)


__all__ = ["GOVERNANCE_RULES", "SURFACE_RULES", "GovernanceContext", "GovernancePolicy", "RuleScope",
           "build_context", "policy_from_rules", "run_governance_rules"]
