"""The human table: findings grouped by kind, unobserved sources, and a summary line last."""

from __future__ import annotations

from collections import defaultdict

from ..errors import ExitCode
from ..model import Finding, Kind
from ..model.report import KIND_ORDER, Report
from . import printable

_COLOURS = {
    Kind.INVALID: "35", Kind.SECURITY: "35", Kind.UNREGISTERED: "33", Kind.MISSING: "31",
    Kind.DRIFTED: "33", Kind.PARITY: "36", Kind.UNKNOWN: "34",
}
VERDICT = {
    ExitCode.OK: "in sync",
    ExitCode.DRIFT: "drift found",
    ExitCode.ERROR: "error",
    ExitCode.UNOBSERVED: "no drift found, but not everything could be observed",
}


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def _value(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(printable(v) for v in value) or "-"
    return "-" if value is None else printable(value)


def _finding_lines(finding: Finding, color: bool) -> list[str]:
    subject = finding.subject
    # the address leads: it is what `.reconcileignore` and `reconcile ignore add` take, copied as shown
    who = finding.address + (f" ({subject.name})" if subject.name and subject.vmid is not None else "")
    head = f"  {_paint(printable(who), '1', color)}"
    if finding.field and (finding.declared is not None or finding.live is not None):
        head += f"  {finding.field}: declared {_value(finding.declared)}, live {_value(finding.live)}"
    if finding.reason and finding.kind is Kind.UNKNOWN:
        head += f"  [{finding.reason}]"
    lines = [head, f"      {printable(finding.message)}"]
    if finding.sources:
        lines.append(f"      at {printable(', '.join(str(ref) for ref in finding.sources))}")
    if finding.hint:
        lines.append(f"      fix: {printable(finding.hint)}")
    return lines


def render_table(report: Report, color: bool = False) -> str:
    by_kind: dict[Kind, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_kind[finding.kind].append(finding)
    out: list[str] = []
    for kind in KIND_ORDER:
        group = by_kind.get(kind)
        if not group:
            continue
        out.append(_paint(f"{kind.value.upper()} ({len(group)})", _COLOURS[kind] + ";1", color))
        for finding in group:
            out.extend(_finding_lines(finding, color))
        out.append("")
    degraded = [s for s in report.sources if s.status != "ok"]
    if degraded:
        out.append(_paint("SOURCES NOT FULLY OBSERVED", "34;1", color))
        for source in degraded:
            reason = f" [{source.reason.value}]" if source.reason else ""
            out.append(printable(f"  {source.site} {source.name}: {source.status}{reason} {source.detail}".rstrip()))
        out.append("")
    out.append(summary_line(report))
    return "\n".join(out) + "\n"


def summary_line(report: Report) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in report.summary().items() if n)
    code = report.exit_code
    sites = ", ".join(report.sites)
    ignored = f" ({len(report.ignored)} ignored)" if report.ignored else ""
    return f"{sites}: {counts or 'no findings'}{ignored} — exit {int(code)} ({VERDICT[code]})"
