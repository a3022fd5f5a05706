"""`reconcile check`: every governance rule over one site's binding files (no network)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import field

from ..bindings.governance import GovernanceBindings, SharedFiles, load_governance
from ..config import SiteConfig
from ..errors import ExitCode
from ..model import Finding
from ..model.coverage import CoverageMatrix, merge_coverage
from ..model.report import sort_findings
from ..record import record
from ..rules.governance import build_context
from ..rules.registry import governance_policy, run_governance_rules
from ..settings import GovernancePolicy
from .coverage import coverage


def load_policy(cfg: SiteConfig) -> GovernancePolicy:
    return governance_policy(cfg.rules, str(cfg.path))


def check_site(bindings: GovernanceBindings, policy: GovernancePolicy | None = None) -> list[Finding]:
    """Every governance finding of one site: the loaders' `invalid` problems, then each rule's `parity`."""
    ctx = build_context(bindings, policy or governance_policy())
    return sort_findings([*bindings.problems, *run_governance_rules(ctx)])


def exit_code_of(findings: Iterable[Finding]) -> ExitCode:
    return ExitCode.DRIFT if any(f.actionable for f in findings) else ExitCode.OK


@record
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
