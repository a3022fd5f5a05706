"""The nightly report's types: findings marked new / persisting / resolved / unobserved, the ignore file's
entries, and the trend history. Pure data; built by reconciler/nightly, rendered by reconciler/render."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import Counter
from enum import StrEnum
from typing import Any

from ..errors import ExitCode
from ..record import record
from . import Finding
from .coverage import CoverageMatrix
from .report import KIND_ORDER, Report

Data = dict[str, Any]  # a finding's JSON shape (render.json_report.finding_data), as kept in the state
KINDS = tuple(kind.value for kind in KIND_ORDER)


@record
class IgnoreEntry:
    pattern: str  # without the leading "!"
    negate: bool
    file: str
    line: int
    expires: dt.date | None = None
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def text(self) -> str:
        return ("!" if self.negate else "") + self.pattern

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, address: str) -> bool:
        return fnmatch.fnmatchcase(address, self.pattern)


@record
class IgnoreRules:
    entries: tuple[IgnoreEntry, ...] = ()
    files: tuple[str, ...] = ()  # the files read (shown in the report)

    def expired(self, today: dt.date) -> list[IgnoreEntry]:
        return [e for e in self.entries if e.expired(today)]

    def match(self, address: str, today: dt.date) -> IgnoreEntry | None:
        """The entry that ignores `address` today, or None (not ignored, or re-included by a `!` entry)."""
        decided: IgnoreEntry | None = None
        for entry in self.entries:
            if not entry.expired(today) and entry.matches(address):
                decided = entry
        return None if decided is None or decided.negate else decided


class Mark(StrEnum):
    NEW = "new"
    PERSISTING = "persisting"
    RESOLVED = "resolved"
    UNOBSERVED = "unobserved"


@record
class Tracked:
    """One finding with its mark. `data` is its JSON shape (`finding_data`), also for carried-over ones."""

    data: Data
    mark: Mark
    first_seen: str  # ISO stamp of the run that first reported it
    last_seen: str  # ISO stamp of the last run that reported it
    finding: Finding | None = None  # None for resolved / unobserved (known only from the previous report)
    ignored_by: IgnoreEntry | None = None
    why_unobserved: str | None = None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def site(self) -> str:
        return str(self.data["subject"]["site"])

    @property
    def kind(self) -> str:
        return str(self.data["kind"])


@record
class HistoryPoint:
    """One night of the trend chart."""

    generated_at: str
    findings: int  # reported (not ignored) findings
    new: int
    resolved: int
    ignored: int

    @property
    def day(self) -> str:
        return self.generated_at[:10]


@record
class NightlyReport:
    report: Report  # the engine report, its findings without the ignored ones
    findings: tuple[Tracked, ...]  # reported tonight: new + persisting, sorted by site, kind, address
    ignored: tuple[Tracked, ...]
    resolved: tuple[Tracked, ...]
    unobserved: tuple[Tracked, ...]
    expired: tuple[IgnoreEntry, ...]
    ignore_files: tuple[str, ...]
    coverage: CoverageMatrix
    history: tuple[HistoryPoint, ...]  # oldest first, tonight last
    previous_at: str | None
    duration_s: float

    @property
    def generated_at(self) -> str:
        return self.report.generated_at

    @property
    def sites(self) -> tuple[str, ...]:
        return self.report.sites

    @property
    def exit_code(self) -> ExitCode:
        """Ignored findings never fail a run: the report's findings are the reported ones only."""
        return self.report.exit_code

    def marked(self, mark: Mark) -> list[Tracked]:
        return [t for t in self.findings if t.mark is mark]

    def counts(self) -> dict[str, int]:
        return {"new": len(self.marked(Mark.NEW)), "persisting": len(self.marked(Mark.PERSISTING)),
                "resolved": len(self.resolved), "unobserved": len(self.unobserved), "ignored": len(self.ignored)}

    def site_counts(self, site: str) -> dict[str, int]:
        """Counts by kind of the site's reported findings, plus new / resolved / ignored / unobserved."""
        kinds = Counter(t.kind for t in self.findings if t.site == site)
        counts = {kind: kinds.get(kind, 0) for kind in KINDS}
        counts["new"] = sum(1 for t in self.marked(Mark.NEW) if t.site == site)
        for name, group in (("resolved", self.resolved), ("ignored", self.ignored), ("unobserved", self.unobserved)):
            counts[name] = sum(1 for t in group if t.site == site)
        return counts

    def point(self) -> HistoryPoint:
        return HistoryPoint(self.generated_at, len(self.findings), len(self.marked(Mark.NEW)), len(self.resolved),
                            len(self.ignored))
