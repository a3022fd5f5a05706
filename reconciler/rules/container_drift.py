"""Registry containers whose state contradicts their status.

`active` (or no status) but not running, or running with a failing healthcheck (`unhealthy`), restarting or
dead: error, the live value says which (`health: starting` is fine). `parked` but running: warning (the registry is out
of date). `stopped` but running: info. `deprecated`: any state is fine. A container that belongs to
an unregistered compose project is left to that project's one `stack-unregistered` finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity
from . import RuleContext
from ._stacks import container_subject

RULE_ID = "container-drift"


def check(ctx: RuleContext) -> Iterator[Finding]:
    views = {v.target: v for v in ctx.hosts if v.observed and v.observation is not None}
    for declared in ctx.declared.containers:
        view = views.get(declared.host)
        if view is None or view.observation is None:
            continue
        live = view.live_by_name.get(declared.container)
        if live is None:
            continue
        if live.project and live.project in view.unclaimed_names:
            continue
        status = declared.status or "active"
        running = live.state == "running"
        healthy = live.condition == "running"  # a failing healthcheck, restarting, dead, exited… are not
        subject = container_subject(ctx.scope.site, declared.host, declared.container)
        label = f"container {declared.container} (service {declared.service})"
        if status == "active" and not healthy:
            severity, expected = Severity.ERROR, "running"
            message = f"{label} is registered active on {declared.host} but is {live.condition} ({live.status})"
            hint = f"start it, or set status: parked / stopped at {declared.source}"
        elif status == "parked" and running:
            severity, expected = Severity.WARNING, "not running"
            message = f"{label} is registered parked but runs on {declared.host}"
            hint = f"stop it, or set status: active at {declared.source}"
        elif status == "stopped" and running:
            severity, expected = Severity.INFO, "not running"
            message = f"{label} is registered stopped but runs on {declared.host}"
            hint = f"set status: active at {declared.source}"
        else:
            continue
        yield Finding(kind=Kind.DRIFTED, rule=RULE_ID, subject=subject, field="state", declared=expected,
                      live=live.condition, message=message, hint=hint, severity=severity, sources=(declared.source,))
