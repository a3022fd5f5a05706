"""A run's report (the full run, `check`) as one self-contained HTML page, in the nightly report's style."""

from __future__ import annotations

from itertools import groupby

from ..model.report import KIND_ORDER, Report
from .html import CSS, data_li, e, none, section, table
from .json_report import finding_data
from .table import VERDICT, summary_line


def report_html(report: Report) -> str:
    code = report.exit_code
    summary = report.summary()
    title = f"Reconcile report — {', '.join(report.sites)}"
    body = [f"<header><h1>{e(title)}</h1><ul><li>generated {e(report.generated_at)}</li>"
            f'<li>verdict: <span class="verdict v{int(code)}">exit {int(code)}, {e(VERDICT[code])}</span></li>'
            "</ul></header>",
            section("summary", "Findings by kind", table([k.value for k in KIND_ORDER],
                                                         [[str(summary[k.value]) for k in KIND_ORDER]], 0))]
    for kind, group in groupby(report.findings, key=lambda f: f.kind):
        findings = list(group)
        items = "".join(data_li(finding_data(f), kind.value, f"f-{kind.value}") for f in findings)
        body.append(section(kind.value, f"{kind.value} ({len(findings)})", f'<ul class="findings">{items}</ul>'))
    degraded = [s for s in report.sources if s.status != "ok"]
    errors = "".join(f'<p class="verdict v2">error: {e(x)}</p>' for x in report.errors)
    rows = [[e(s.site), f"<code>{e(s.name)}</code>", e(s.status), e(s.reason.value if s.reason else "-"),
             e(s.detail or "-")] for s in degraded]
    body.append(section("sources", "Sources not fully observed", errors + (
        table(["site", "source", "status", "reason", "detail"], rows) if rows else none("None."))))
    body.append(f"<footer><p>{e(summary_line(report))}</p></footer>")
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
