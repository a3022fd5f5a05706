"""The nightly report as one self-contained HTML page: inline CSS and SVG, no scripts, no external assets.

Same content as the Markdown report, plus a colour-coded coverage matrix and a small trend chart of the
findings per night from the history. Every section has a stable id (summary, trend, new, persisting,
resolved, unobserved, ignored, expired, coverage, sources) so tests and links can find it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from itertools import groupby
from pathlib import Path
from typing import Any

from ..model.coverage import SURFACE_LABELS, Cell
from ..model.nightly import HistoryPoint, Mark, NightlyReport, Tracked
from .markdown import SUMMARY_COLUMNS, day
from .table import VERDICT

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#1f2328;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1.05em;margin:1em 0 .4em}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.zero{color:#8c959f}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;padding:1px 4px;border-radius:4px}
ul.findings{list-style:none;padding-left:0}ul.findings li{margin:.35em 0;padding:.3em .6em;border-left:4px solid
#d0d7de}ul.findings .meta{color:#57606a;font-size:.92em}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:.85em;font-weight:600;color:#fff}
.k-invalid,.k-security{background:#8250df}.k-unregistered,.k-drifted{background:#bf8700}.k-missing{background:#cf222e}
.k-parity{background:#1b7c83}.k-unknown{background:#0969da}
li.m-new{border-left-color:#cf222e}li.m-persisting{border-left-color:#bf8700}li.m-resolved{border-left-color:#1a7f37}
li.m-unobserved{border-left-color:#0969da}
td.cell-ok{background:#dafbe1;color:#116329;font-weight:600}td.cell-miss{background:#ffebe9;color:#a40e26;
font-weight:700}td.cell-na{background:#f6f8fa;color:#8c959f}
.verdict{font-weight:700}.v0{color:#1a7f37}.v1{color:#cf222e}.v2{color:#cf222e}.v3{color:#0969da}
.none{color:#57606a;font-style:italic}
"""


def e(text: object) -> str:
    return escape(str(text), quote=True)


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int | None = None) -> str:
    """`rows` hold already-escaped HTML cells."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            numeric = numeric_from is not None and i >= numeric_from
            css = ("n zero" if cell == "0" else "n") if numeric else ""
            cells.append(f'<td class="{css}">{cell}</td>' if css else f"<td>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{e(title)}</h2>{body}</section>'


def none(text: str = "None.") -> str:
    return f'<p class="none">{e(text)}</p>'


def badge(kind: str) -> str:
    return f'<span class="badge k-{e(kind)}">{e(kind)}</span>'


def finding_li(tracked: Tracked, note: str = "") -> str:
    return data_li(tracked.data, tracked.kind, f"m-{tracked.mark.value}", note)


def data_li(data: Mapping[str, Any], kind: str, css: str, note: str = "") -> str:
    """One finding (its JSON shape) as a list item: badge, address, message, `at` sources and `fix:`."""
    meta = []
    if data.get("sources"):
        meta.append("at " + ", ".join(f"<code>{e(s)}</code>" for s in data["sources"]))
    if data.get("hint"):
        meta.append("fix: " + e(data["hint"]))
    severity = "" if data.get("severity") == "error" else f" ({e(data.get('severity'))})"
    head = (f"{badge(kind)} <code>{e(data['address'])}</code>{severity} — {e(data['message'])}"
            + (f" — <em>{e(note)}</em>" if note else ""))
    extra = "".join(f'<div class="meta">{m}</div>' for m in meta)
    return f'<li class="{css}">{head}{extra}</li>'


def no_note(tracked: Tracked) -> str:
    return ""


def since(tracked: Tracked) -> str:
    return f"since {day(tracked.first_seen)}"


def seen(tracked: Tracked) -> str:
    return f"first seen {day(tracked.first_seen)}, last seen {day(tracked.last_seen)}"


def carried(tracked: Tracked) -> str:
    return f"since {day(tracked.first_seen)}, last seen {day(tracked.last_seen)}; {tracked.why_unobserved}"


def finding_list(items: Iterable[Tracked], note: Callable[[Tracked], str] = no_note) -> str:
    return '<ul class="findings">' + "".join(finding_li(t, note(t)) for t in items) + "</ul>"


# ── sections ─────────────────────────────────────────────────────────────────


def header(nightly: NightlyReport) -> str:
    code = int(nightly.exit_code)
    counts = nightly.counts()
    previous = nightly.previous_at or "none (first run: every finding is new)"
    live = ", ".join(f"{site}: {'api' if src == 'api' else Path(src).name}"
                     for site, src in sorted(nightly.report.live_from.items()))
    items = [
        f"generated {e(nightly.generated_at)} (previous run: {e(previous)})",
        f"sites: {e(', '.join(nightly.sites))}" + (f" (live from {e(live)})" if live else ""),
        f'verdict: <span class="verdict v{code}">exit {code}, {e(VERDICT[nightly.exit_code])}</span>',
        f"findings: {len(nightly.findings)} reported ({counts['new']} new, {counts['persisting']} persisting), "
        f"{counts['resolved']} resolved, {counts['unobserved']} not observed, {counts['ignored']} ignored",
    ]
    return (f"<header><h1>Nightly reconcile report — {e(day(nightly.generated_at))}</h1>"
            f"<ul>{''.join(f'<li>{i}</li>' for i in items)}</ul></header>")


def summary(nightly: NightlyReport) -> str:
    rows = [[e(site), *(str(nightly.site_counts(site)[c]) for c in SUMMARY_COLUMNS)] for site in nightly.sites]
    return section("summary", "Summary by site", table(["site", *SUMMARY_COLUMNS], rows, numeric_from=1))


def trend_svg(points: Sequence[HistoryPoint], width: int = 640, height: int = 180) -> str:
    """Reported findings per night (line) and new findings per night (bars)."""
    left, right, top, bottom = 40, 12, 14, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *(max(p.findings, p.new) for p in points)])
    step = plot_w / max(len(points), 1)

    def x(i: int) -> float:
        return left + step * (i + 0.5)

    def y(value: int) -> float:
        return top + plot_h - plot_h * value / peak

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="findings per night">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#8c959f"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="10" fill="#57606a">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="10" fill="#57606a">0</text>']
    bar = min(max(step * 0.35, 2), 24)
    for i, p in enumerate(points):
        parts.append(f'<rect class="new-bar" x="{x(i) - bar / 2:.1f}" y="{y(p.new):.1f}" width="{bar:.1f}" '
                     f'height="{top + plot_h - y(p.new):.1f}" fill="#ff8182"><title>{e(p.day)}: {p.new} new'
                     f"</title></rect>")
    path = " ".join(f"{x(i):.1f},{y(p.findings):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline points="{path}" fill="none" stroke="#0969da" stroke-width="2"/>')
    label_every = max(1, len(points) // 8)
    for i, p in enumerate(points):
        parts.append(f'<circle class="night" cx="{x(i):.1f}" cy="{y(p.findings):.1f}" r="3" fill="#0969da">'
                     f"<title>{e(p.day)}: {p.findings} findings, {p.new} new, {p.resolved} resolved, "
                     f"{p.ignored} ignored</title></circle>")
        if i % label_every == 0 or i == len(points) - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 10}" text-anchor="middle" font-size="10" '
                         f'fill="#57606a">{e(p.day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def trend(nightly: NightlyReport) -> str:
    legend = ('<p class="meta"><span style="color:#0969da">&#9679;</span> reported findings '
              '<span style="color:#ff8182">&#9632;</span> new findings — one point per night, '
              f"{len(nightly.history)} night(s)</p>")
    return section("trend", "Trend", trend_svg(nightly.history) + legend)


def new(nightly: NightlyReport) -> str:
    items = nightly.marked(Mark.NEW)
    if not items:
        return section("new", "New findings (0)", none())
    body = "".join(f"<h3>{e(site)}</h3>" + finding_list(group) for site, group in groupby(items, key=lambda t: t.site))
    return section("new", f"New findings ({len(items)})", body)


def persisting(nightly: NightlyReport) -> str:
    items = nightly.marked(Mark.PERSISTING)
    if not items:
        return section("persisting", "Persisting findings (0)", none())
    body = []
    for (site, kind), group in groupby(items, key=lambda t: (t.site, t.kind)):
        rows = list(group)
        body.append(f"<h3>{e(site)} · {e(kind)} ({len(rows)})</h3>"
                    + finding_list(rows, since))
    return section("persisting", f"Persisting findings ({len(items)})", "".join(body))


def resolved(nightly: NightlyReport) -> str:
    title = f"Resolved since the previous run ({len(nightly.resolved)})"
    if not nightly.resolved:
        return section("resolved", title, none())
    return section("resolved", title, finding_list(nightly.resolved, seen))


def unobserved(nightly: NightlyReport) -> str:
    title = f"Not observed tonight, so not resolved ({len(nightly.unobserved)})"
    if not nightly.unobserved:
        return section("unobserved", title, none())
    intro = "<p>These were reported before; tonight their subject could not be looked at.</p>"
    return section("unobserved", title, intro + finding_list(nightly.unobserved, carried))


def ignored(nightly: NightlyReport) -> str:
    title = f"Ignored ({len(nightly.ignored)})"
    if not nightly.ignored:
        return section("ignored", title, none())
    rows = []
    for t in nightly.ignored:
        entry = t.ignored_by
        assert entry is not None
        rows.append([f"<code>{e(t.data['address'])}</code>", badge(t.kind), e(t.mark.value),
                     f"<code>{e(entry.text)}</code>", e(f"{Path(entry.file).name}:{entry.line}"),
                     e(entry.reason or "-"), e(entry.expires.isoformat() if entry.expires else "-")])
    return section("ignored", title, table(["finding", "kind", "mark", "pattern", "entry", "reason", "expires"], rows))


def expired(nightly: NightlyReport) -> str:
    if not nightly.expired:
        return ""
    rows = [[f"<code>{e(x.text)}</code>", e(f"{Path(x.file).name}:{x.line}"), e(x.expires), e(x.reason or "-")]
            for x in nightly.expired]
    intro = "<p>These entries no longer ignore anything: renew them with a new date, or remove them.</p>"
    return section("expired", f"Expired ignore entries ({len(nightly.expired)})",
                   intro + table(["pattern", "entry", "expired", "reason"], rows))


_CELL_CSS = {Cell.OK: "cell-ok", Cell.MISS: "cell-miss", Cell.NA: "cell-na"}


def coverage(nightly: NightlyReport) -> str:
    matrix = nightly.coverage
    if not matrix.rows:
        return section("coverage", "Coverage matrix", none(f"No guest in scope of the governance rules "
                                                           f"({matrix.summary})."))
    head = "".join(f"<th>{e(h)}</th>" for h in ("site", "vmid", "hostname", "proxmox host", "status",
                                                *(SURFACE_LABELS[s] for s in matrix.surfaces), "notes"))
    rows = []
    for r in matrix.rows:
        cells = "".join(f'<td class="{_CELL_CSS[r.cells[s]]}">{e(r.cells[s].value)}</td>' for s in matrix.surfaces)
        rows.append(f"<tr><td>{e(r.site)}</td><td class=\"n\">{r.vmid}</td><td>{e(r.hostname)}</td>"
                    f"<td>{e(r.proxmox_host)}</td><td>{e(r.status)}</td>{cells}<td>{e('; '.join(r.notes))}</td></tr>")
    body = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return section("coverage", "Coverage matrix", body + f"<p><strong>{e(matrix.summary)}</strong></p>")


def sources(nightly: NightlyReport) -> str:
    degraded = [s for s in nightly.report.sources if s.status != "ok"]
    errors = "".join(f'<p class="verdict v2">error: {e(x)}</p>' for x in nightly.report.errors)
    if not degraded:
        return section("sources", "Sources not fully observed", errors + none("None: every source answered in full."))
    rows = [[e(s.site), f"<code>{e(s.name)}</code>", e(s.status), e(s.reason.value if s.reason else "-"),
             e(s.detail or "-")] for s in degraded]
    return section("sources", "Sources not fully observed",
                   errors + table(["site", "source", "status", "reason", "detail"], rows))


def render_html(nightly: NightlyReport) -> str:
    body = [header(nightly), summary(nightly), trend(nightly), new(nightly), persisting(nightly), resolved(nightly),
            unobserved(nightly), ignored(nightly), expired(nightly), coverage(nightly), sources(nightly)]
    title = f"Nightly reconcile report — {day(nightly.generated_at)}"
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(b for b in body if b) + "\n</body></html>\n")
