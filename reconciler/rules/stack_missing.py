"""Declared stacks with no live compose project, on a docker host that was observed fine."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity
from . import RuleContext
from ._stacks import stack_subject

RULE_ID = "stack-missing"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for view in ctx.hosts:
        if not view.observed:
            continue  # unobservable: stack-unknown reports it, never as missing
        for match in view.matches:
            if match.live is not None:
                continue
            stack = match.declared
            yield Finding(
                kind=Kind.MISSING, rule=RULE_ID, subject=stack_subject(ctx.scope.site, view.target, stack.name),
                message=f"stack {stack.name} is declared on {view.target} but no such compose project exists there"
                        " (not even stopped)",
                severity=Severity.ERROR, declared={"path": stack.path}, sources=(stack.source,),
                hint=f"deploy it (docker compose up -d in {stack.path or 'its directory'}), or remove it "
                     f"at {stack.source}",
            )
