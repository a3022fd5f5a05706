"""The nightly report as Markdown, readable in a git web UI.

Order: headline, summary per site, NEW findings first, then persisting ones grouped by site and kind,
resolved, not observed (not resolved), ignored, expired ignore entries, the coverage matrix, and the sources
that could not be fully observed. Pure and deterministic: the same report gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from ..model.nightly import KINDS, IgnoreEntry, Mark, NightlyReport, Tracked
from . import md_cell, md_text
from .governance import coverage_markdown
from .table import VERDICT

SUMMARY_COLUMNS = (*KINDS, "new", "resolved", "ignored", "unobserved")



def day(stamp: str) -> str:
    return stamp[:10]


def where_of(entry: IgnoreEntry) -> str:
    return f"{Path(entry.file).name}:{entry.line}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def finding_item(tracked: Tracked, with_kind: bool = False, note: str = "") -> list[str]:
    return data_item(tracked.data, with_kind, note)


def data_item(data: Mapping[str, Any], with_kind: bool = False, note: str = "") -> list[str]:
    """`- kind address — message — note`, with `at file:line` and `fix:` as sub-items (a finding's JSON shape)."""
    kind = f"**{data['kind']}** " if with_kind else ""
    severity = "" if data.get("severity") == "error" else f" ({data.get('severity')})"
    lines = [f"- {kind}`{data['address']}`{severity} — {md_text(data['message'])}" + (f" — {note}" if note else "")]
    if data.get("sources"):
        lines.append("  - at " + ", ".join(md_text(s) for s in data["sources"]))
    if data.get("hint"):
        lines.append("  - fix: " + md_text(data["hint"]))
    return lines


def header_lines(nightly: NightlyReport) -> list[str]:
    code = nightly.exit_code
    counts = nightly.counts()
    previous = nightly.previous_at or "none (first run: every finding is new)"
    live = ", ".join(f"{site}: {'api' if src == 'api' else Path(src).name}"
                     for site, src in sorted(nightly.report.live_from.items()))
    return [
        f"# Nightly reconcile report — {day(nightly.generated_at)}",
        "",
        f"- generated: {nightly.generated_at} (previous run: {previous})",
        f"- sites: {', '.join(nightly.sites)}" + (f" (live from {live})" if live else ""),
        f"- verdict: exit {int(code)}, {VERDICT[code]}",
        f"- findings: {len(nightly.findings)} reported ({counts['new']} new, {counts['persisting']} persisting), "
        f"{counts['resolved']} resolved, {counts['unobserved']} not observed, {counts['ignored']} ignored",
    ]


def summary_lines(nightly: NightlyReport) -> list[str]:
    rows = []
    for site in nightly.sites:
        counts = nightly.site_counts(site)
        rows.append([site, *(counts[c] for c in SUMMARY_COLUMNS)])
    return ["## Summary by site", "", *table(["site", *SUMMARY_COLUMNS], rows)]


def new_lines(nightly: NightlyReport) -> list[str]:
    new = nightly.marked(Mark.NEW)
    out = [f"## New findings ({len(new)})", ""]
    if not new:
        return [*out, "None."]
    for site, group in groupby(new, key=lambda t: t.site):
        out += [f"### {site}", ""]
        for tracked in group:
            out += finding_item(tracked, with_kind=True)
        out.append("")
    return out[:-1]


def persisting_lines(nightly: NightlyReport) -> list[str]:
    persisting = nightly.marked(Mark.PERSISTING)
    out = [f"## Persisting findings ({len(persisting)})", ""]
    if not persisting:
        return [*out, "None."]
    for (site, kind), group in groupby(persisting, key=lambda t: (t.site, t.kind)):
        items = list(group)
        out += [f"### {site} · {kind} ({len(items)})", ""]
        for tracked in items:
            out += finding_item(tracked, note=f"since {day(tracked.first_seen)}")
        out.append("")
    return out[:-1]


def resolved_lines(nightly: NightlyReport) -> list[str]:
    out = [f"## Resolved since the previous run ({len(nightly.resolved)})", ""]
    if not nightly.resolved:
        return [*out, "None."]
    for tracked in nightly.resolved:
        out.append(f"- **{tracked.kind}** `{tracked.data['address']}` — {md_text(tracked.data['message'])} — "
                   f"first seen {day(tracked.first_seen)}, last seen {day(tracked.last_seen)}")
    return out


def unobserved_lines(nightly: NightlyReport) -> list[str]:
    out = [f"## Not observed tonight, so not resolved ({len(nightly.unobserved)})", ""]
    if not nightly.unobserved:
        return [*out, "None."]
    out += ["These were reported before; tonight their subject could not be looked at.", ""]
    for tracked in nightly.unobserved:
        out.append(f"- **{tracked.kind}** `{tracked.data['address']}` — {md_text(tracked.data['message'])} — "
                   f"since {day(tracked.first_seen)}, last seen {day(tracked.last_seen)}; "
                   f"{md_text(tracked.why_unobserved or '')}")
    return out


def ignored_lines(nightly: NightlyReport) -> list[str]:
    out = [f"## Ignored ({len(nightly.ignored)})", ""]
    if not nightly.ignored:
        return [*out, "None."]
    rows = []
    for tracked in nightly.ignored:
        entry = tracked.ignored_by
        assert entry is not None
        rows.append([f"`{tracked.data['address']}`", tracked.kind, tracked.mark.value, f"`{entry.text}`",
                     where_of(entry), entry.reason or "-", entry.expires.isoformat() if entry.expires else "-"])
    header = ["finding", "kind", "mark", "pattern", "entry", "reason", "expires"]
    return [*out, *_raw_table(header, rows, code_columns={0, 3})]


def _raw_table(header: Sequence[str], rows: Iterable[Sequence[str]], code_columns: set[int]) -> list[str]:
    """A table whose `code_columns` already hold `code` spans (escaped only for pipes)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [c.replace("|", "\\|") if i in code_columns else md_cell(c) for i, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def expired_lines(nightly: NightlyReport) -> list[str]:
    if not nightly.expired:
        return []
    out = [f"## Expired ignore entries ({len(nightly.expired)})", "",
           "These entries no longer ignore anything: renew them with a new date, or remove them.", ""]
    for entry in nightly.expired:
        reason = f" — {md_text(entry.reason)}" if entry.reason else ""
        out.append(f"- `{entry.text}` at {where_of(entry)}: expired {entry.expires}{reason}")
    return out


def coverage_lines(nightly: NightlyReport) -> list[str]:
    matrix = nightly.coverage
    out = ["## Coverage matrix", ""]
    if not matrix.rows:
        return [*out, f"No guest in scope of the governance rules ({matrix.summary})."]
    return [*out, *coverage_markdown(matrix).rstrip("\n").split("\n")]


def sources_lines(nightly: NightlyReport) -> list[str]:
    degraded = [s for s in nightly.report.sources if s.status != "ok"]
    out = ["## Sources not fully observed", ""]
    if nightly.report.errors:
        out += [f"- error: {md_text(e)}" for e in nightly.report.errors] + [""]
    if not degraded:
        return [*out, "None: every source answered in full."]
    rows = [[s.site, s.name, s.status, s.reason.value if s.reason else "-", s.detail or "-"] for s in degraded]
    return [*out, *table(["site", "source", "status", "reason", "detail"], rows)]


def render_markdown(nightly: NightlyReport) -> str:
    sections = [header_lines(nightly), summary_lines(nightly), new_lines(nightly), persisting_lines(nightly),
                resolved_lines(nightly), unobserved_lines(nightly), ignored_lines(nightly), expired_lines(nightly),
                coverage_lines(nightly), sources_lines(nightly)]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"
