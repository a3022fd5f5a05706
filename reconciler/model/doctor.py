"""What `reconcile doctor` found: one line per thing checked. Pure data."""

from __future__ import annotations

from enum import StrEnum

from ..errors import ExitCode
from ..record import record


class Verdict(StrEnum):
    OK = "ok"  # works
    FIX = "fix"  # something to do before runs can be trusted
    INFO = "info"  # worth knowing, nothing to fix (an optional file absent, a privilege not needed)


@record
class DoctorCheck:
    site: str
    area: str  # site | bindings | proxmox:HOST | ssh:HOST
    verdict: Verdict
    detail: str
    hint: str = ""  # what to do (for `fix`), or a value to copy (a fingerprint, a known_hosts line)
    where: str = ""  # the site file's file:line of the setting involved


@record
class DoctorReport:
    sites: tuple[str, ...]
    checks: tuple[DoctorCheck, ...]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if any(c.verdict is Verdict.FIX for c in self.checks) else ExitCode.OK

    @property
    def summary(self) -> str:
        fixes = sum(c.verdict is Verdict.FIX for c in self.checks)
        ok = sum(c.verdict is Verdict.OK for c in self.checks)
        verdict = "all good" if not fixes else f"{fixes} thing(s) to fix"
        return f"doctor {', '.join(self.sites)}: {ok} ok, {fixes} to fix — exit {int(self.exit_code)} ({verdict})"
