"""Attribute drift of declared stacks: one finding per differing field.

Fields:
- `name`: the declared stack was found by its path under another project name;
- `path`: the declared path (`~` expanded with the remote $HOME) is neither the project's working
  directory nor the directory of one of its compose files;
- `compose_file`: a declared compose file is not among the project's config files;
- `state`: the project is not fully running (e.g. `exited(1), running(3)`); one-off containers of
  `docker compose run` are not counted.

Where `vm.lifecycle.yaml` and `docker.compose.targets.yaml` disagree about a host's stacks, nothing live
differs: that is `parity`, reported by governance-compose.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..model import DeclaredStack, Finding, Kind, LiveStack, Severity
from . import RuleContext
from ._stacks import HostView, expand_path, live_dirs, stack_subject

RULE_ID = "stack-drift"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for view in ctx.hosts:
        if view.observed:
            for match in view.matches:
                if match.live is not None:
                    yield from _compare(ctx, view, match.declared, match.live, match.renamed)


def _finding(ctx: RuleContext, view: HostView, stack: DeclaredStack, field: str, declared: object, live: object,
             message: str, hint: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(kind=Kind.DRIFTED, rule=RULE_ID, subject=stack_subject(ctx.scope.site, view.target, stack.name),
                   field=field, declared=declared, live=live, message=message, hint=hint, severity=severity,
                   sources=(stack.source,))


def _compare(ctx: RuleContext, view: HostView, stack: DeclaredStack, live: LiveStack,
             renamed: bool) -> Iterator[Finding]:
    where = f"{view.target}"
    if renamed:
        yield _finding(ctx, view, stack, "name", stack.name, live.name,
                       f"stack {stack.name} on {where} runs as compose project {live.name} (same directory)",
                       f"set name: {live.name} at {stack.source}, or redeploy with -p {stack.name}")
    want = expand_path(stack.path, view.home)
    dirs = live_dirs(live)
    if want is not None and dirs and want not in dirs:
        have = live.working_dir or sorted(dirs)[0]
        yield _finding(ctx, view, stack, "path", stack.path, have,
                       f"stack {stack.name} on {where} is declared at {stack.path}"
                       f"{f' ({want})' if want != stack.path else ''} but runs from {have}",
                       f"set path: {have} at {stack.source}, or move the stack")
    if stack.compose_file and live.config_files:
        base = want or (posixpath.normpath(stack.path) if stack.path and stack.path.startswith("/") else None)
        wanted = expand_path(stack.compose_file, view.home) if stack.compose_file.startswith(("/", "~")) else (
            posixpath.normpath(posixpath.join(base, stack.compose_file)) if base else None)
        files = {posixpath.normpath(f) for f in live.config_files}
        if wanted is not None and wanted not in files:
            yield _finding(ctx, view, stack, "compose_file", stack.compose_file, ",".join(live.config_files),
                           f"stack {stack.name} on {where} is declared with {stack.compose_file} but runs from "
                           f"{', '.join(live.config_files)}",
                           f"set compose_file at {stack.source} to the file in use", Severity.WARNING)
    if live.states and not live.fully_running:
        running = live.states.get("running", 0)
        yield _finding(ctx, view, stack, "state", "running", live.status_text,
                       f"stack {stack.name} on {where} is not fully running: {live.status_text}",
                       f"start it (docker compose up -d in {stack.path or 'its directory'}), or remove it at "
                       f"{stack.source}", Severity.WARNING if running else Severity.ERROR)
