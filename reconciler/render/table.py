"""The human table: findings grouped by kind, unobserved sources, and a summary line last."""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict

from ..errors import ExitCode
from ..model import Finding, Kind, Severity
from ..model.report import KIND_ORDER, Report
from . import printable

SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
_SEVERITY_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "2"}
INDENT, CONTINUED = "      ", "        "

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


def _severity(finding: Finding, color: bool) -> str:
    return _paint(f"{finding.severity.value:<7}", _SEVERITY_COLOURS[finding.severity], color)


def _wrapped(text: str, width: int | None) -> list[str]:
    """One detail line, folded to `width` with its continuation lines indented further (never split a word)."""
    if not width or len(INDENT) + len(text) <= width:
        return [INDENT + text]
    return textwrap.wrap(text, width=max(width, 40), initial_indent=INDENT, subsequent_indent=CONTINUED,
                         break_long_words=False, break_on_hyphens=False)


def _finding_lines(finding: Finding, color: bool, width: int | None = None) -> list[str]:
    subject = finding.subject
    # the address leads (after the severity): it is what `.reconcileignore` and `reconcile ignore add` take
    who = finding.address + (f" ({subject.name})" if subject.name and subject.vmid is not None else "")
    head = f"  {_severity(finding, color)} {_paint(printable(who), '1', color)}"
    if finding.field and (finding.declared is not None or finding.live is not None):
        head += f"  {finding.field}: declared {_value(finding.declared)}, live {_value(finding.live)}"
    if finding.reason and finding.kind is Kind.UNKNOWN:
        head += f"  [{finding.reason}]"
    lines = [head, *_wrapped(printable(finding.message), width)]
    if finding.sources:
        lines += _wrapped(f"at {printable(', '.join(str(ref) for ref in finding.sources))}", width)
    if finding.hint:
        lines += _wrapped(f"fix: {printable(finding.hint)}", width)
    return lines


def _by_severity(findings: list[Finding]) -> list[Finding]:
    """Within a kind: errors first, then warnings, then info; otherwise the report's own order (site first)."""
    return sorted(findings, key=lambda f: (f.subject.site, SEVERITY_ORDER[f.severity]))


def render_brief(report: Report, color: bool = False) -> str:
    """One line per finding (severity, kind, address, message), then the summary line: for grep and narrow mail."""
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    findings = sorted(report.findings, key=lambda f: (f.subject.site, SEVERITY_ORDER[f.severity],
                                                       order.get(f.kind, 99)))
    lines = [f"{_severity(f, color)} {f.kind.value:<12} {printable(f.address)}  {printable(f.message)}"
             for f in findings]
    return "\n".join([*lines, summary_line(report)]) + "\n"


def render_table(report: Report, color: bool = False, width: int | None = None) -> str:
    by_kind: dict[Kind, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_kind[finding.kind].append(finding)
    out: list[str] = []
    for kind in KIND_ORDER:
        group = by_kind.get(kind)
        if not group:
            continue
        out.append(_paint(f"{kind.value.upper()} ({len(group)})", _COLOURS[kind] + ";1", color))
        for finding in _by_severity(group):
            out.extend(_finding_lines(finding, color, width))
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
    return f"{sites}: {counts or 'no findings'}{ignored} — exit {int(code)} ({VERDICT[code]}{why(report)})"


def why(report: Report) -> str:
    """Why the exit code is what it is, when the counts alone do not say it (findings that do not fail a run)."""
    code, findings = report.exit_code, report.findings
    if code is ExitCode.DRIFT:
        return f": {sum(f.actionable for f in findings)} to act on"
    if code is ExitCode.OK and findings:
        severities = Counter(f.severity.value for f in findings)
        return f": {_plural(len(findings), 'finding')}, {' and '.join(sorted(severities))} only"
    if code is ExitCode.UNOBSERVED:
        return f": {_plural(sum(f.kind is Kind.UNKNOWN for f in findings), 'unknown')}"
    return ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("s" if count != 1 else "")
