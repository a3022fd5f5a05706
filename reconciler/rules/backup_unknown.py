"""Backup targets that could not be checked: one `unknown` per cause (host, storage, folder), naming what it hides."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity, Subject
from . import RuleContext
from ._backups import Cause, TargetState, target_sources

RULE_ID = "backup-unknown"
SHOWN = 6  # targets named in the message; `hides` has them all


def check(ctx: RuleContext) -> Iterator[Finding]:
    site = ctx.scope.site
    by_cause: dict[tuple[str, str], tuple[Cause, list[TargetState]]] = {}
    for state in ctx.backup_view.states:
        if state.cause is not None:
            key = (state.cause.kind, state.cause.name)
            by_cause.setdefault(key, (state.cause, []))[1].append(state)
    for (kind, name), (cause, states) in sorted(by_cause.items()):
        yield _finding(kind, name, cause, states, site)


def _finding(kind: str, name: str, cause: Cause, states: list[TargetState], site: str) -> Finding:
    names = [s.target.name for s in states]
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    if kind == "storage":
        subject = Subject(type="backup-storage", site=site, proxmox_host=cause.proxmox_host, name=name)
        what = f"Proxmox storage {name} on {cause.proxmox_host}"
    elif kind == "host":
        subject = Subject(type="host", site=site, target=name)
        what = f"backup host {name}"
    else:
        subject = Subject(type="backup", site=site, name=name)
        what = f"backup target {name}"
    return Finding(kind=Kind.UNKNOWN, rule=RULE_ID, subject=subject, reason=cause.reason, severity=Severity.WARNING,
                   sources=target_sources(s.target for s in states),
                   hides=tuple(f"{site}/backup/{n}" for n in names),
                   message=f"{what}: {cause.detail}; not checked: {shown}",
                   hint=_HINTS.get(cause.reason.value, "see docs/backups.md for this reason"))


_HINTS = {
    "skipped": "run without --skip-ssh to check the files",
    "storage_inactive": "the storage is down on that node (a dead NFS/CIFS server, an unmounted disk): its "
                        "files cannot be trusted until it is active again",
    "no_permission": "give the SSH user read access to the folder (docs/privileges.md)",
    "host_key_unknown": "pin the host's key in known_hosts (docs/ssh.md)",
}
