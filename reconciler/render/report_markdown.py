"""A run's report (the full run, `check`) as Markdown: headline, counts by kind, findings by kind, and the
sources that could not be fully observed. Pure; the same report gives the same bytes."""

from __future__ import annotations

from itertools import groupby

from ..model.report import KIND_ORDER, Report
from .json_report import finding_data
from .markdown import data_item, md_text, table
from .table import VERDICT, summary_line


def report_markdown(report: Report) -> str:
    code = report.exit_code
    summary = report.summary()
    out = [f"# Reconcile report — {', '.join(report.sites)}", "",
           f"- generated: {report.generated_at}",
           f"- verdict: exit {int(code)}, {VERDICT[code]}", "",
           *table([kind.value for kind in KIND_ORDER], [[summary[kind.value] for kind in KIND_ORDER]])]
    for kind, group in groupby(report.findings, key=lambda f: f.kind):
        findings = list(group)
        out += ["", f"## {kind.value} ({len(findings)})", ""]
        for finding in findings:
            out += data_item(finding_data(finding))
    degraded = [s for s in report.sources if s.status != "ok"]
    if degraded or report.errors:
        out += ["", "## Sources not fully observed", ""]
        out += [f"- error: {md_text(error)}" for error in report.errors]
        out += [f"- {md_text(s.site)} `{md_text(s.name)}`: {md_text(s.status)}"
                f"{f' ({s.reason.value})' if s.reason else ''} {md_text(s.detail)}".rstrip() for s in degraded]
    out += ["", md_text(summary_line(report))]
    return "\n".join(out) + "\n"
