"""Live compose projects on an observed docker host that the host does not declare.

The containers of such a project roll up into this one finding (they are listed in its message and
`live`), instead of one finding per container.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity
from . import RuleContext
from ._stacks import stack_subject

RULE_ID = "stack-unregistered"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for view in ctx.hosts:
        if not view.observed or view.observation is None:
            continue
        for stack in view.unclaimed:
            names = sorted(view.by_project.get(stack.name, ()))
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            where = f" in {stack.working_dir}" if stack.working_dir else ""
            status = stack.status_text or "no containers"
            anchor = view.declared[0].source if view.declared else None
            yield Finding(
                kind=Kind.UNREGISTERED, rule=RULE_ID, subject=stack_subject(ctx.scope.site, view.target, stack.name),
                message=f"compose project {stack.name}{where} runs on {view.target} ({status}) but is not declared"
                        + (f"; containers: {shown}" if names else ""),
                severity=Severity.ERROR,
                live={"status": stack.status_text, "working_dir": stack.working_dir, "containers": names},
                sources=(anchor,) if anchor else (),
                hint=f"add {{name: {stack.name}, path: {stack.working_dir or '...'}}} to the stacks of "
                     f"{view.target} in docker.compose.targets.yaml, or remove the project",
            )
