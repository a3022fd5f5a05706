"""Registry containers (SERVICE_REGISTRY.yaml) absent from their observed docker host.

`active` (or no status): must exist. `deprecated`: absent is reported as info (the entry can go).
`parked` / `stopped`: absence is expected. A container whose declared stack is missing altogether is named
by that stack-missing finding instead (one cause, one finding).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity
from . import RuleContext
from ._stacks import container_subject

RULE_ID = "container-missing"


def check(ctx: RuleContext) -> Iterator[Finding]:
    views = {v.target: v for v in ctx.hosts if v.observed and v.observation is not None}
    for declared in ctx.declared.containers:
        view = views.get(declared.host)
        if view is None or view.observation is None:
            continue
        if declared.container in view.live_by_name:
            continue
        if view.hides(declared):
            continue  # its stack is missing: stack-missing names it, one finding for one cause
        status = declared.status or "active"
        if status not in ("active", "deprecated"):
            continue
        subject = container_subject(ctx.scope.site, declared.host, declared.container)
        if status == "deprecated":
            yield Finding(
                kind=Kind.MISSING, rule=RULE_ID, subject=subject, severity=Severity.INFO, declared=status,
                sources=(declared.source,),
                message=f"container {declared.container} (service {declared.service}, deprecated) is gone from "
                        f"{declared.host}",
                hint=f"remove the service entry at {declared.source}",
            )
            continue
        implicit = "" if declared.status else " (no status: treated as active)"
        yield Finding(
            kind=Kind.MISSING, rule=RULE_ID, subject=subject, severity=Severity.ERROR, declared=status,
            sources=(declared.source,),
            message=f"container {declared.container} (service {declared.service}) is registered active{implicit} "
                    f"on {declared.host} but does not exist there",
            hint=f"start the service, or set its status (parked, deprecated) at {declared.source}",
        )
