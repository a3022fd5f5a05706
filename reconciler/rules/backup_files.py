"""A backup target's files: none match or base_path is absent (missing); the newest is stale or empty (drifted).

Ages are hours between the newest match's modification time and the moment the files were observed (a
snapshot keeps that moment, so replaying it later reports the same ages).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity, Subject
from . import RuleContext
from ._backups import TargetState

RULE_ID = "backup-files"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for state in ctx.backup_view.states:
        if state.check is not None:
            yield from _files(state, ctx.scope.site)


def subject_of(state: TargetState, site: str) -> Subject:
    return Subject(type="backup", site=site, name=state.target.name, proxmox_host=None)


def _files(state: TargetState, site: str) -> Iterator[Finding]:
    target, check = state.target, state.check
    assert check is not None
    where = f"{target.host}:{target.base_path}"
    via = " (from the Proxmox archive listing)" if state.via == "api" else ""
    subject = subject_of(state, site)
    if not check.exists:
        yield Finding(kind=Kind.MISSING, rule=RULE_ID, subject=subject, sources=(target.source_of("base_path"),),
                      declared=target.base_path, live="no such folder",
                      message=f"backup target {target.name}: base_path {where} does not exist",
                      hint="check the path on the host (a mount that is not mounted?), or correct base_path")
        return
    if check.count == 0:
        yield Finding(kind=Kind.MISSING, rule=RULE_ID, subject=subject, sources=(target.source_of("glob"),),
                      declared=target.glob, live="no match",
                      message=f"backup target {target.name}: no file in {where} matches {target.glob}{via}",
                      hint="see whether the job that writes it runs, or correct glob/base_path")
        return
    if check.newest_size == 0:
        yield Finding(kind=Kind.DRIFTED, rule=RULE_ID, subject=subject, field="size", declared="> 0", live=0,
                      sources=(target.source_of("glob"),),
                      message=f"backup target {target.name}: the newest match {check.newest_name} in {where} is "
                              f"empty (0 bytes){via}",
                      hint="an interrupted or failed backup writes empty files: look at the job's log")
    age = state.age_hours
    if age is not None and age > target.stale_after_hours:
        line = "stale_after_hours" if "stale_after_hours" in target.field_lines else "glob"
        yield Finding(kind=Kind.DRIFTED, rule=RULE_ID, subject=subject, field="age_hours",
                      declared=target.stale_after_hours, live=age, severity=Severity.ERROR,
                      sources=(target.source_of(line),),
                      message=f"backup target {target.name}: the newest match {check.newest_name} in {where} is "
                              f"{age:g} h old (stale after {target.stale_after_hours:g} h){via}",
                      hint="the backup that writes it has not run or not succeeded since; see its job or cron")
