"""`reconcile doctor` as text (one line per check, what to do indented under it) and as JSON."""

from __future__ import annotations

import json

from ..model.doctor import DoctorReport, Verdict
from . import printable

_COLOURS = {Verdict.OK: "32", Verdict.FIX: "31", Verdict.INFO: "2"}


def doctor_text(report: DoctorReport, color: bool = False) -> str:
    lines = []
    for check in report.checks:
        label = f"{check.verdict.value:<4}"
        if color:
            label = f"\033[{_COLOURS[check.verdict]}m{label}\033[0m"
        lines.append(printable(f"{label} {check.site} {check.area}: {check.detail}"))
        if check.hint:
            lines.append(printable(f"       → {check.hint}"))
        if check.where and check.verdict is Verdict.FIX:
            lines.append(printable(f"       at {check.where}"))
    lines.append(report.summary)
    return "\n".join(lines) + "\n"


def doctor_json(report: DoctorReport) -> str:
    data = {"format_version": 1, "sites": list(report.sites), "exit_code": int(report.exit_code),
            "checks": [{"site": c.site, "area": c.area, "verdict": c.verdict.value, "detail": c.detail,
                        "hint": c.hint, "where": c.where} for c in report.checks]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
