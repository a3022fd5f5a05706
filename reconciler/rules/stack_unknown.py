"""Docker hosts that could not be observed: one `unknown` finding per host, with the reason code.

The finding names what the outage hides (`Finding.hides`: the host's declared stacks and registered
containers) instead of one more finding for each of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity, Subject
from . import RuleContext
from ._stacks import HINTS, container_subject, stack_subject

RULE_ID = "stack-unknown"


def check(ctx: RuleContext) -> Iterator[Finding]:
    site = ctx.scope.site
    for view in ctx.hosts:
        gap = view.gap
        if gap is None:
            continue
        reason = gap.reason.value
        containers = view.registered
        hidden = [f"{len(view.declared)} declared stack(s)" if view.declared else "",
                  f"{len(containers)} registered container(s)" if containers else ""]
        hiding = f"; hides {' and '.join(h for h in hidden if h)}" if any(hidden) else ""
        names = ", ".join(s.name for s in view.declared)
        yield Finding(
            kind=Kind.UNKNOWN, rule=RULE_ID, subject=Subject(type="host", site=site, target=view.target),
            reason=reason, severity=Severity.WARNING, hint=HINTS.get(reason, ""),
            message=f"docker host {view.target} could not be observed: {gap.detail}{hiding}"
                    + (f" ({names})" if names else ""),
            hides=(*(f"{site}/{stack_subject(site, view.target, s.name).handle}" for s in view.declared),
                   *(f"{site}/{container_subject(site, c.host, c.container).handle}" for c in containers)),
        )
