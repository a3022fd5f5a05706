"""Renderers for `reconcile plan-vm`: the plan (checks + stubs) and `--verify`, as text, JSON or Markdown.

Pure: data in, a string out (ending with a newline). The CLI decides where it goes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..model.plan import Check, Outcome, Plan, Resolved, Stub, Verification

FORMAT_VERSION = 1
_COLOURS = {Outcome.PASS: "32", Outcome.WARN: "33", Outcome.FAIL: "31"}
_LABEL = {Outcome.PASS: "pass", Outcome.WARN: "WARN", Outcome.FAIL: "FAIL"}


def _paint(text: str, outcome: Outcome, color: bool) -> str:
    return f"\033[{_COLOURS[outcome]}m{text}\033[0m" if color else text


def _request_lines(req: Resolved) -> list[str]:
    head = f"plan-vm: {req.vm_type.value} {req.vmid} '{req.hostname}' on site {req.site}, Proxmox host " \
           f"{req.proxmox_host}, node {req.node or 'not known (give --node, or let the API answer)'}"
    resources = " · ".join(filter(None, [
        f"profile {req.profile}" if req.profile else "no profile",
        f"{req.cores} cores" if req.cores else None,
        f"{req.memory_mb} MB" if req.memory_mb else None,
        f"{_number(req.disk_gb)} GB on {req.storage or '?'}" if req.disk_gb else None,
        f"clone of {req.template_vmid}" if req.template_vmid else None,
    ]))
    addresses = " · ".join(filter(None, [
        f"LAN {req.lan_ip}" if req.lan_ip else None, f"Tailscale {req.tailscale_ip}" if req.tailscale_ip else None,
        f"stacks {', '.join(req.stacks)}" if req.stacks else None]))
    return [head, f"  {resources}", *([f"  {addresses}"] if addresses else [])]


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_lines(checks: Sequence[Check], color: bool) -> list[str]:
    width = max((len(c.id) for c in checks), default=0)
    lines = []
    for check in checks:
        where = f"  [{', '.join(check.sources)}]" if check.sources else ""
        label = _paint(_LABEL[check.outcome], check.outcome, color)
        lines.append(f"{label}  {check.id.ljust(width)}  {check.reason}{where}")
        if check.hint and check.outcome is not Outcome.PASS:
            lines.append(f"      {' ' * width}  → {check.hint}")
    return lines


def _live_line(live_from: dict[str, str]) -> str:
    return "  live data: " + ", ".join(f"{site} {source}" for site, source in live_from.items())


# ── the plan ─────────────────────────────────────────────────────────────────


def plan_text(plan: Plan, color: bool = False) -> str:
    """The verdict first, then the checks; the stubs only for a safe plan (or with --stubs): registering a
    blocked plan's stubs would write its collisions into the bindings."""
    lines = [*_request_lines(plan.request), _live_line(dict(plan.live_from)), "", plan.summary, ""]
    lines += _check_lines(plan.checks, color)
    if plan.safe or plan.show_stubs:
        lines += ["", f"REGISTER: after the clone, add these {len(plan.stubs)} entries (plan-vm never writes them):"]
        for stub in plan.stubs:
            lines += ["", f"# {stub.place}"]
            if stub.note:
                lines.append(f"# to do: {stub.note}")
            lines += stub.text.rstrip("\n").split("\n")
    else:
        lines += ["", f"({len(plan.stubs)} registration stubs not shown: the plan is blocked; --stubs shows them)"]
    lines += ["", plan.summary]
    return "\n".join(lines) + "\n"


def _stub_data(stub: Stub) -> dict[str, Any]:
    return {"file": stub.file, "file_key": stub.file_key, "under": stub.under, "entry": stub.entry,
            "insert_after_line": stub.insert_after_line, "append": stub.at_end, "place": stub.place,
            "note": stub.note or None, "stub": stub.text}


def _check_data(check: Check) -> dict[str, Any]:
    return {"id": check.id, "result": check.outcome.value, "reason": check.reason, "sources": list(check.sources),
            "hint": check.hint or None}


def _request_data(req: Resolved) -> dict[str, Any]:
    return {"site": req.site, "proxmox_host": req.proxmox_host, "node": req.node, "vmid": req.vmid,
            "hostname": req.hostname, "type": req.vm_type.value, "profile": req.profile, "cores": req.cores,
            "memory_mb": req.memory_mb, "disk_gb": req.disk_gb, "storage": req.storage,
            "template_vmid": req.template_vmid, "ssh_user": req.ssh_user, "lan_ip": req.lan_ip,
            "tailscale_ip": req.tailscale_ip, "stacks": list(req.stacks), "health_url": req.health_url,
            "origins": dict(req.origins)}


def plan_data(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION, "command": "plan-vm",
        "verdict": "error" if plan.errors else ("safe" if plan.safe else "blocked"),
        "exit_code": int(plan.exit_code),
        "summary": {o.value: plan.count(o) for o in Outcome},
        "request": _request_data(plan.request),
        "checks": [_check_data(c) for c in plan.checks],
        "register": [_stub_data(s) for s in plan.stubs],
        "live_from": dict(plan.live_from), "errors": list(plan.errors),
    }


def plan_json(plan: Plan) -> str:
    return json.dumps(plan_data(plan), indent=2) + "\n"


def _md_checks(checks: Sequence[Check]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| result | check | reason | sources |", "|---|---|---|---|"]
    for check in checks:
        reason = check.reason + (f" — *{check.hint}*" if check.hint and check.outcome is not Outcome.PASS else "")
        lines.append(f"| {_LABEL[check.outcome]} | `{check.id}` | {cell(reason)} | "
                     f"{cell(', '.join(f'`{s}`' for s in check.sources))} |")
    return lines


def plan_markdown(plan: Plan) -> str:
    req = plan.request
    lines = [f"# plan-vm: {req.vm_type.value} {req.vmid} `{req.hostname}` on {req.site}", "",
             *(f"- {line.strip()}" for line in _request_lines(req)[1:]),
             f"- {_live_line(dict(plan.live_from)).strip()}", "", f"**{plan.summary}**", "", "## Checks", "",
             *_md_checks(plan.checks), "", "## REGISTER (after the clone)", ""]
    for stub in plan.stubs:
        lines += [f"### {stub.file}", "", stub.place + ".", *([f"To do: {stub.note}."] if stub.note else []),
                  "", "```yaml", stub.text.rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ── --verify ─────────────────────────────────────────────────────────────────


def verify_text(result: Verification, color: bool = False) -> str:
    name = f" '{result.hostname}'" if result.hostname else ""
    lines = [f"plan-vm --verify: {result.vmid}{name} on site {result.site}"
             + (f", Proxmox host {result.proxmox_host}" if result.proxmox_host else "")]
    if result.live_from:
        lines.append(_live_line(dict(result.live_from)))
    lines += ["", *_check_lines(result.checks, color), "", result.summary]
    return "\n".join(lines) + "\n"


def verify_data(result: Verification) -> dict[str, Any]:
    verdict = "error" if result.errors else ("governed" if result.governed else
                                             ("not_governed" if result.count(Outcome.FAIL) else "not_verified"))
    return {
        "format_version": FORMAT_VERSION, "command": "plan-vm --verify", "verdict": verdict,
        "exit_code": int(result.exit_code), "summary": {o.value: result.count(o) for o in Outcome},
        "site": result.site, "vmid": result.vmid, "hostname": result.hostname, "proxmox_host": result.proxmox_host,
        "checks": [_check_data(c) for c in result.checks], "live_from": dict(result.live_from),
        "errors": list(result.errors),
    }


def verify_json(result: Verification) -> str:
    return json.dumps(verify_data(result), indent=2) + "\n"


def verify_markdown(result: Verification) -> str:
    name = f" `{result.hostname}`" if result.hostname else ""
    lines = [f"# plan-vm --verify: {result.vmid}{name} on {result.site}", "", f"**{result.summary}**", "",
             *_md_checks(result.checks)]
    return "\n".join(lines) + "\n"
