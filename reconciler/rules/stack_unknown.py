"""Docker hosts that could not be observed, and their declared stacks: `unknown`, with the reason code."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity, Subject
from . import RuleContext
from ._stacks import HINTS, stack_subject

RULE_ID = "stack-unknown"


def check(ctx: RuleContext) -> Iterator[Finding]:
    site = ctx.scope.site
    for view in ctx.hosts:
        gap = view.gap
        if gap is None:
            continue
        reason = gap.reason.value
        containers = sum(1 for c in ctx.declared.containers if c.host == view.target)
        also = f"; {containers} registered container(s) not checked" if containers else ""
        yield Finding(
            kind=Kind.UNKNOWN, rule=RULE_ID, subject=Subject(type="host", site=site, target=view.target),
            reason=reason, severity=Severity.WARNING, hint=HINTS.get(reason, ""),
            message=f"docker host {view.target} could not be observed: {gap.detail}{also}",
        )
        for stack in view.declared:
            yield Finding(
                kind=Kind.UNKNOWN, rule=RULE_ID, subject=stack_subject(site, view.target, stack.name),
                reason=reason, severity=Severity.WARNING, sources=(stack.source,), hint=HINTS.get(reason, ""),
                message=f"stack {stack.name} on {view.target} could not be observed: {gap.detail}",
            )
