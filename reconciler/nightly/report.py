"""The nightly report: tonight's engine report + marks, ignored findings, coverage matrix and trend history.

`build` is pure (data in, a `NightlyReport` out); `nightly_data` composes the JSON report of
reconciler/render/json_report.py with the nightly fields (all additive, docs/report-schema.md).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ExitCode
from ..model import Finding
from ..model.coverage import CoverageMatrix
from ..model.report import KIND_ORDER, Report
from ..render.governance import coverage_data
from ..render.json_report import finding_data, report_data
from .ignore import IgnoreEntry, IgnoreRules
from .marks import Data, Mark, Tracked, blind_spots, mark_absent, mark_current, previous_entries, sort_tracked

KINDS = tuple(kind.value for kind in KIND_ORDER)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


def build(report: Report, coverage: CoverageMatrix, previous: Data | None, rules: IgnoreRules,
          history: Sequence[HistoryPoint] = (), duration_s: float = 0.0) -> NightlyReport:
    """Mark tonight's findings against the previous report and split off the ignored ones."""
    now = report.generated_at
    today = dt.date.fromisoformat(now[:10])
    before = previous_entries(previous)
    reported: list[Tracked] = []
    ignored: list[Tracked] = []
    for finding in report.findings:
        entry = rules.match(finding.address, today)
        tracked = mark_current(finding_data(finding), finding, before, now, entry)
        (ignored if entry is not None else reported).append(tracked)
    blind = blind_spots(report.sites, report.findings, report.sources)
    resolved, unobserved = mark_absent(before, {f.id for f in report.findings}, blind)
    kept: list[Finding] = [t.finding for t in reported if t.finding is not None]
    shown = replace(report, findings=tuple(kept))
    partial = NightlyReport(
        report=shown, findings=tuple(sort_tracked(reported, KINDS)), ignored=tuple(sort_tracked(ignored, KINDS)),
        resolved=tuple(sort_tracked(resolved, KINDS)), unobserved=tuple(sort_tracked(unobserved, KINDS)),
        expired=tuple(rules.expired(today)), ignore_files=rules.files, coverage=coverage, history=(),
        previous_at=str(previous["generated_at"]) if previous and previous.get("generated_at") else None,
        duration_s=duration_s)
    earlier = [p for p in history if p.generated_at < now]
    return replace(partial, history=(*earlier, partial.point()))


# ── JSON ─────────────────────────────────────────────────────────────────────


def entry_data(entry: IgnoreEntry) -> dict[str, Any]:
    return {"file": entry.file, "line": entry.line, "pattern": entry.text, "reason": entry.reason,
            "expires": entry.expires.isoformat() if entry.expires else None}


def tracked_data(tracked: Tracked) -> dict[str, Any]:
    data: dict[str, Any] = {**tracked.data, "mark": tracked.mark.value, "first_seen": tracked.first_seen,
                            "last_seen": tracked.last_seen}
    if tracked.ignored_by is not None:
        data["ignored_by"] = entry_data(tracked.ignored_by)
    if tracked.why_unobserved is not None:
        data["unobserved_reason"] = tracked.why_unobserved
    return data


def nightly_data(nightly: NightlyReport) -> dict[str, Any]:
    """The report JSON (format_version 1) plus marks on every finding and the nightly sections."""
    data = report_data(nightly.report)
    by_id: Mapping[str, Tracked] = {t.id: t for t in nightly.findings}
    data["findings"] = [tracked_data(replace(by_id[f["id"]], data=f)) for f in data["findings"]]
    data.update({
        "previous_run": nightly.previous_at,
        "duration_seconds": round(nightly.duration_s, 3),
        "changes": nightly.counts(),
        "resolved": [tracked_data(t) for t in nightly.resolved],
        "unobserved": [tracked_data(t) for t in nightly.unobserved],
        "ignored": [tracked_data(t) for t in nightly.ignored],
        "ignore_files": list(nightly.ignore_files),
        "ignore_expired": [entry_data(e) for e in nightly.expired],
        "coverage": coverage_data(nightly.coverage),
    })
    return data


def render_nightly_json(nightly: NightlyReport) -> str:
    return json.dumps(nightly_data(nightly), indent=2, ensure_ascii=False) + "\n"


def history_point(data: Mapping[str, Any]) -> HistoryPoint | None:
    """A trend point from a stored nightly JSON report (None when it is not one)."""
    try:
        changes = data.get("changes") or {}
        return HistoryPoint(str(data["generated_at"]), len(data["findings"]), int(changes.get("new", 0)),
                            int(changes.get("resolved", 0)), len(data.get("ignored") or []))
    except (KeyError, TypeError, ValueError):
        return None
