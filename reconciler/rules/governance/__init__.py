"""Cross-file governance rules: pure functions from the loaded binding files to `parity` findings.

Each rule is a module with a `RULE_ID` and a `check(ctx: GovernanceContext) -> Iterator[Finding]`
generator. The guest-surface rules (ssh, registry, backup, health, compose) also expose
`SURFACE` and `applies(ctx, guest)`, which the coverage matrix uses to tell MISS from n.a.
The order they run in is the rule registry's (reconciler/rules/registry.py); their scopes are
`reconciler.settings.GovernancePolicy`.
"""

from __future__ import annotations

from ...settings import GovernancePolicy, RuleScope
from .context import GovernanceContext, build_context

__all__ = ["GovernanceContext", "GovernancePolicy", "RuleScope", "build_context"]
