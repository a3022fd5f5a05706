"""`reconcile coverage`: one row per guest, a cell per governance surface, from the check's findings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from ..bindings.governance import GovernanceBindings
from ..model import Finding, Severity
from ..model.coverage import SURFACE_LABELS, Cell, CoverageMatrix, CoverageRow
from ..rules.governance import build_context, stack_registry
from ..rules.governance.context import GovernanceContext
from ..rules.registry import SURFACE_RULES, governance_policy, run_governance_rules
from ..settings import GovernancePolicy


def coverage(bindings: GovernanceBindings, policy: GovernancePolicy | None = None,
             findings: Sequence[Finding] | None = None, include_all: bool = False) -> CoverageMatrix:
    """One row per guest of the site (only guests some surface applies to, unless `include_all`)."""
    ctx = build_context(bindings, policy or governance_policy())
    if findings is None:
        findings = list(run_governance_rules(ctx))
    return CoverageMatrix((ctx.site,), tuple(SURFACE_LABELS), tuple(_rows(ctx, findings, include_all)), include_all)


def _rows(ctx: GovernanceContext, findings: Sequence[Finding], include_all: bool) -> Iterator[CoverageRow]:
    by_guest: dict[tuple[str, int], list[Finding]] = {}
    for finding in findings:
        if finding.subject.vmid is not None and finding.subject.proxmox_host:
            by_guest.setdefault((finding.subject.proxmox_host, finding.subject.vmid), []).append(finding)
    surface_rules = {module.SURFACE: module for module in SURFACE_RULES}
    for guest in sorted(ctx.site_guests, key=lambda g: (g.vmid, g.proxmox_host)):  # the order people read vmids
        mine = by_guest.get(guest.key, [])
        cells: dict[str, Cell] = {}
        for surface, module in surface_rules.items():
            if not module.applies(ctx, guest):
                cells[surface] = Cell.NA
                continue
            gap = any(f.rule == module.RULE_ID and f.actionable for f in mine)
            cells[surface] = Cell.MISS if gap else Cell.OK
        notes = [_note(f, guest.hostname) for f in mine]
        if cells["health"] is Cell.OK:
            by_address = sorted({e.host or e.id for e, how in ctx.health_endpoints(guest) if how == "address"})
            if by_address:
                notes.append(f"health probe found by URL address only (host: {', '.join(by_address)})")
        row = CoverageRow(ctx.site, guest.proxmox_host, guest.vmid, guest.hostname, guest.status.value, cells,
                          tuple(notes))
        if include_all or row.in_scope:
            yield row


def _note(finding: Finding, hostname: str) -> str:
    text = finding.message
    prefix = re.match(rf"^(?:\w+ )?{re.escape(hostname)} \([^)]*\):? ", text)
    if prefix:
        text = text[prefix.end():]
    if finding.rule == stack_registry.RULE_ID or finding.severity is not Severity.ERROR:
        text = f"{finding.severity.value}: {text}"
    return text
