"""The versioned JSON report (schema: docs/report-schema.json)."""

from __future__ import annotations

import json
from typing import Any

from ..model import Finding, SourceStatus
from ..model.report import Report
from ..model.serialize import to_data

FORMAT_VERSION = 1


def finding_data(finding: Finding) -> dict[str, Any]:
    subject = finding.subject
    return {
        "id": finding.id,
        "address": finding.address,
        "kind": finding.kind.value,
        "rule": finding.rule,
        "severity": finding.severity.value,
        "subject": {
            "type": subject.type, "site": subject.site, "proxmox_host": subject.proxmox_host,
            "vmid": subject.vmid, "name": subject.name, "target": subject.target,
        },
        "field": finding.field,
        "declared": to_data(finding.declared),
        "live": to_data(finding.live),
        "message": finding.message,
        "sources": [str(ref) for ref in finding.sources],
        "reason": finding.reason,
        "hint": finding.hint,
        "hides": list(finding.hides),
    }


def source_data(source: SourceStatus) -> dict[str, Any]:
    return {
        "name": source.name, "host": source.host, "kind": source.shown_kind, "site": source.site,
        "status": source.status,
        "reason": source.reason.value if source.reason else None, "detail": source.detail,
        "requests": source.requests,
    }


def report_data(report: Report) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": report.generated_at,
        "exit_code": int(report.exit_code),
        "sites": list(report.sites),
        "live_from": dict(report.live_from),
        "sources": [source_data(s) for s in report.sources],
        "errors": list(report.errors),
        "summary": report.summary(),
        "findings": [finding_data(f) for f in report.findings],
        "ignored": [finding_data(f) for f in report.ignored],
        "backups": [to_data(b) for b in report.backups],
    }


def render_json(report: Report) -> str:
    return json.dumps(report_data(report), indent=2, ensure_ascii=False) + "\n"
