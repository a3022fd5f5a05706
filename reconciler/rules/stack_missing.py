"""Declared stacks with no live compose project, on a docker host that was observed fine.

The registered containers of a missing stack (SERVICE_REGISTRY services whose compose file is the stack's)
go with it: the finding names them (`Finding.hides`) and container-missing does not report them again.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity
from . import RuleContext
from ._stacks import container_subject, stack_subject

RULE_ID = "stack-missing"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for view in ctx.hosts:
        if not view.observed:
            continue  # unobservable: stack-unknown reports it, never as missing
        for stack, gone in view.missing:  # the missing stacks, each with its registered containers
            also = f"; its registered container(s) {', '.join(c.container for c in gone)} with it" if gone else ""
            yield Finding(
                kind=Kind.MISSING, rule=RULE_ID, subject=stack_subject(ctx.scope.site, view.target, stack.name),
                message=f"stack {stack.name} is declared on {view.target} but no such compose project exists there"
                        f" (not even stopped){also}",
                hides=tuple(f"{ctx.scope.site}/{container_subject(ctx.scope.site, c.host, c.container).handle}"
                            for c in gone),
                severity=Severity.ERROR, declared={"path": stack.path}, sources=(stack.source,),
                hint=f"deploy it (docker compose up -d in {stack.path or 'its directory'}), or remove it "
                     f"at {stack.source}",
            )
