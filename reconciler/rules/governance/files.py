"""governance-files: the optional binding files that are absent, reported once per site as not configured (info)."""

from __future__ import annotations

from collections.abc import Iterator

from ...bindings.governance import OPTIONAL_FILES
from ...model import Finding, Severity
from ...settings import RuleScope
from .context import GovernanceContext

RULE_ID = "governance-files"
# A repo that does not have every surface yet is adopting the tool, not drifting: its missing files are said,
# once, and fail nothing. A site that wants them required sets `rules: {governance-files: {severity: error}}`.
DEFAULT_SCOPE = RuleScope(severity=Severity.INFO)


def check(ctx: GovernanceContext) -> Iterator[Finding]:
    scope = ctx.policy.scope(RULE_ID)
    if not scope.for_site(ctx.site):
        return
    absent = {key: shown for key, shown in ctx.bindings.missing.items()
              if key not in scope.exempt and shown not in scope.exempt}
    if not absent:
        return
    said = "; ".join(f"{shown} ({OPTIONAL_FILES[key]})" for key, shown in absent.items())
    yield ctx.entry_finding(
        RULE_ID, scope.severity, "binding", "not configured", "files",
        f"{len(absent)} binding file(s) not configured: {said}", (),
        hint="create them when the surface exists, point bindings.KEY in the site file at them, or exempt the "
             f"keys ({', '.join(absent)}) under rules.{RULE_ID}.exempt")
