"""The nightly report: tonight's engine report + marks, ignored findings, coverage matrix and trend history.

`build` is pure (data in, a `NightlyReport` out); its JSON form is reconciler/render/nightly_json.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..model import Finding
from ..model.coverage import CoverageMatrix
from ..model.nightly import KINDS, Data, HistoryPoint, IgnoreRules, NightlyReport, Tracked
from ..model.report import Report
from ..render.json_report import finding_data
from . import DEFAULT_FORGET_AFTER_DAYS
from .marks import blind_spots, mark_absent, mark_current, previous_entries, sort_tracked


def build(report: Report, coverage: CoverageMatrix, previous: Data | None, rules: IgnoreRules,
          history: Sequence[HistoryPoint] = (), duration_s: float = 0.0,
          forget_after_days: int = DEFAULT_FORGET_AFTER_DAYS) -> NightlyReport:
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
    resolved, unobserved = mark_absent(before, {f.id for f in report.findings}, blind, now, forget_after_days)
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


def history_point(data: Mapping[str, Any]) -> HistoryPoint | None:
    """A trend point from a stored nightly JSON report (None when it is not one)."""
    try:
        changes = data.get("changes") or {}
        return HistoryPoint(str(data["generated_at"]), len(data["findings"]), int(changes.get("new", 0)),
                            int(changes.get("resolved", 0)), len(data.get("ignored") or []))
    except (KeyError, TypeError, ValueError):
        return None
