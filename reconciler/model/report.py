"""The report of a run: its findings, the state of its sources, and the exit code they make. Pure data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import field

from ..errors import ExitCode
from ..record import record
from . import Finding, Kind, SourceStatus
from .backup import BackupStatus

# The order in which kinds are shown and counted, everywhere (table, JSON summary, nightly reports).
KIND_ORDER = (Kind.INVALID, Kind.SECURITY, Kind.UNREGISTERED, Kind.MISSING, Kind.DRIFTED, Kind.PARITY, Kind.UNKNOWN)


@record
class Report:
    generated_at: str
    sites: tuple[str, ...]
    sources: tuple[SourceStatus, ...]
    findings: tuple[Finding, ...]
    errors: tuple[str, ...] = ()  # fatal source failures (authentication, TLS, nothing collected)
    live_from: dict[str, str] = field(default_factory=dict)  # site → "api" or the snapshot path
    # findings an ignore file entry covers: counted apart, never deciding the exit code
    ignored: tuple[Finding, ...] = ()
    backups: tuple[BackupStatus, ...] = ()  # each checked backup target's state (Prometheus gauges per target)

    def summary(self) -> dict[str, int]:
        counts = Counter(f.kind.value for f in self.findings)
        return {kind.value: counts.get(kind.value, 0) for kind in KIND_ORDER}

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.findings, self.errors)


def exit_code_for(findings: Iterable[Finding], errors: Sequence[str]) -> ExitCode:
    """Precedence 2 > 1 > 3 > 0: 0 always means verified in sync."""
    if errors:
        return ExitCode.ERROR
    findings = list(findings)
    if any(f.actionable for f in findings):
        return ExitCode.DRIFT
    if any(f.kind is Kind.UNKNOWN for f in findings):
        return ExitCode.UNOBSERVED
    return ExitCode.OK


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The one order of findings in every report: kind (KIND_ORDER), then subject, rule, field and message."""
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return sorted(findings, key=lambda f: (order.get(f.kind, 99), f.subject.site, f.subject.proxmox_host or "",
                                           f.subject.vmid or 0, f.subject.handle, f.rule, f.field or "", f.message))
