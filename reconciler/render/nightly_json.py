"""The nightly report as JSON: the run's JSON report (json_report.py) plus the nightly fields, all additive
(docs/report-schema.md). It is also what the state folder keeps as the last report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..model.nightly import IgnoreEntry, NightlyReport, Tracked
from .governance import coverage_data
from .json_report import report_data


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
