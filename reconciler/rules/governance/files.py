"""governance-files: an optional binding file that is absent is reported once (its checks are skipped)."""

from __future__ import annotations

from collections.abc import Iterator

from ...bindings.governance import OPTIONAL_FILES
from ...model import Finding, Severity
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-files"
DEFAULT_SCOPE = RuleScope(severity=Severity.WARNING)


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope = ctx.policy.scope(RULE_ID)
    if not scope.for_site(ctx.site):
        return
    for key, shown in ctx.bindings.missing.items():
        if key in scope.exempt or shown in scope.exempt:
            continue
        yield ctx.entry_finding(
            RULE_ID, scope.severity, "binding", shown, "file", f"{shown} not found: {OPTIONAL_FILES[key]}",
            (), hint=f"create it, point bindings.{key} in the site file at it, or exempt "
                                        f"'{key}' under rules.{RULE_ID}.exempt")
