"""The nightly report as node_exporter textfile-collector metrics (Prometheus text format 0.0.4).

Every (site, kind, severity) series is written, zeros included, so an alert on `> 0` sees a series
go back to 0 instead of disappearing. Reported findings only: ignored ones have their own gauge.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping

from ..model import Severity
from ..model.nightly import KINDS, Mark, NightlyReport

Sample = tuple[Mapping[str, str], float]


def escape_label(value: str) -> str:
    """Label values: backslash, double quote and line feed are escaped (the text format's only escapes)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def metric(name: str, help_text: str, samples: Iterable[Sample], kind: str = "gauge") -> list[str]:
    lines = [f"# HELP {name} {escape_help(help_text)}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels.items())
        lines.append(f"{name}{{{text}}} {number(value)}" if text else f"{name} {number(value)}")
    return lines


def _stamp_seconds(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def render_prometheus(nightly: NightlyReport) -> str:
    sites = list(nightly.sites)
    by_key = Counter((t.site, t.kind, str(t.data.get("severity"))) for t in nightly.findings)
    severities = [s.value for s in Severity]

    def per_site(values: Mapping[str, int]) -> list[Sample]:
        return [({"site": site}, values.get(site, 0)) for site in sites]

    new = Counter(t.site for t in nightly.marked(Mark.NEW))
    resolved = Counter(t.site for t in nightly.resolved)
    ignored = Counter(t.site for t in nightly.ignored)
    unobserved = Counter(t.site for t in nightly.unobserved)
    lines = [
        *metric("reconcile_findings", "Findings reported by the last run (ignored ones excluded).",
                [({"site": s, "kind": k, "severity": v}, by_key.get((s, k, v), 0))
                 for s in sites for k in KINDS for v in severities]),
        *metric("reconcile_findings_new", "Findings first reported by the last run.", per_site(new)),
        *metric("reconcile_findings_resolved", "Findings of the previous run gone in the last run.",
                per_site(resolved)),
        *metric("reconcile_findings_unobserved",
                "Findings of earlier runs whose subject the last run could not observe (not resolved).",
                per_site(unobserved)),
        *metric("reconcile_findings_ignored", "Findings matched by an ignore entry.", per_site(ignored)),
        *metric("reconcile_ignore_entries_expired", "Ignore entries past their expires: date.",
                [({}, len(nightly.expired))]),
        *metric("reconcile_source_up", "1 when the source answered (fully or partly), 0 when it failed or was "
                "skipped.", [({"site": s.site, "source": s.name}, int(s.status in ("ok", "partial")))
                             for s in nightly.report.sources]),
        *metric("reconcile_backup_age_hours", "Age of the newest file of a backup target when it was observed "
                "(targets with a matching file only).",
                [({"site": b.site, "target": b.target}, b.age_hours) for b in nightly.report.backups
                 if b.age_hours is not None]),
        *metric("reconcile_backup_stale", "1 when a backup target has no usable fresh file (stale, empty or "
                "missing), 0 when it is fresh; absent when it could not be observed.",
                [({"site": b.site, "target": b.target}, int(b.state != "ok")) for b in nightly.report.backups
                 if b.state != "unknown"]),
        *metric("reconcile_exit_code", "Exit code of the last run: 0 in sync, 1 drift, 2 error, 3 unobserved.",
                [({}, int(nightly.exit_code))]),
        *metric("reconcile_last_run_timestamp_seconds", "When the last run started its report (Unix time).",
                [({}, _stamp_seconds(nightly.generated_at))]),
        *metric("reconcile_run_duration_seconds", "How long the last run took.",
                [({}, round(nightly.duration_s, 3))]),
    ]
    return "\n".join(lines) + "\n"
