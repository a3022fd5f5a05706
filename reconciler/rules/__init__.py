"""Comparison rules: pure functions from declared × live state to findings. No I/O here.

Each rule is a module with a `RULE_ID` and a `check(ctx) -> Iterator[Finding]` generator
(the yamllint pattern). `ALL_RULES` fixes the order in which they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from ..model import Declared, Finding, LiveState, SiteScope


@dataclass(frozen=True, slots=True)
class RuleContext:
    scope: SiteScope
    declared: Declared
    live: LiveState
    disk_tolerance_gb: float = 1.0
    lifecycle_file: str = "ops/bindings/vm.lifecycle.yaml"  # as named in hints


def run_rules(ctx: RuleContext, modules: tuple[ModuleType, ...]) -> Iterator[Finding]:
    for module in modules:
        yield from module.check(ctx)
