"""Renderers for the governance reports: coverage matrix and site parity table as text, Markdown or JSON.

Pure: data in, a string out (ending with a newline). The CLI decides where it goes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..model.coverage import SURFACE_LABELS, CoverageMatrix, ParityTable
from . import md_cell, printable

FORMAT_VERSION = 1
_HEAD = ("site", "vmid", "hostname", "proxmox host", "status")


def _coverage_cells(matrix: CoverageMatrix) -> tuple[list[str], list[list[str]]]:
    header = [*_HEAD, *(SURFACE_LABELS[s] for s in matrix.surfaces), "notes"]
    rows = [[r.site, str(r.vmid), r.hostname, r.proxmox_host, r.status,
             *(r.cells[s].value for s in matrix.surfaces), "; ".join(r.notes)] for r in matrix.rows]
    return header, rows


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    # binding values (hostnames, notes) are data: control characters are shown escaped, never acted on
    header, rows = [printable(c) for c in header], [[printable(c) for c in row] for row in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(md_cell(c) for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *(line(r) for r in rows)]


# ── coverage ─────────────────────────────────────────────────────────────────


def coverage_text(matrix: CoverageMatrix, color: bool = False) -> str:  # no colours (yet)
    header, rows = _coverage_cells(matrix)
    return "\n".join([*_text_table(header, rows), "", matrix.summary]) + "\n"


def coverage_markdown(matrix: CoverageMatrix) -> str:
    header, rows = _coverage_cells(matrix)
    return "\n".join([*_markdown_table(header, rows), "", f"**{matrix.summary}**"]) + "\n"


def coverage_data(matrix: CoverageMatrix) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "sites": list(matrix.sites),
        "surfaces": list(matrix.surfaces),
        "include_all": matrix.include_all,
        "summary": {"guests": matrix.guests, "governed": matrix.governed, "gaps": matrix.gaps,
                    "text": matrix.summary},
        "exit_code": int(matrix.exit_code),
        "rows": [{
            "site": r.site, "vmid": r.vmid, "hostname": r.hostname, "proxmox_host": r.proxmox_host,
            "status": r.status, "cells": {s: r.cells[s].value for s in matrix.surfaces}, "notes": list(r.notes),
            "governed": r.governed,
        } for r in matrix.rows],
    }


def coverage_json(matrix: CoverageMatrix) -> str:
    return json.dumps(coverage_data(matrix), indent=2, ensure_ascii=False) + "\n"


# ── site parity ──────────────────────────────────────────────────────────────


def _parity_cells(table: ParityTable) -> tuple[list[str], list[list[str]]]:
    sites = list(table.sites)
    with_ratio = len(sites) == 2
    with_unassigned = any(r.unassigned for r in table.rows)
    header = ["Category", *(s.capitalize() for s in sites)]
    header += ["Ratio"] if with_ratio else []
    header += ["Unassigned"] if with_unassigned else []
    rows = []
    for row in table.rows:
        cells = [row.category, *(row.cell(s) for s in sites)]
        cells += [row.ratio(sites)] if with_ratio else []
        cells += [str(row.unassigned)] if with_unassigned else []
        rows.append(cells)
    return header, rows


def parity_text(table: ParityTable, color: bool = False) -> str:  # no colours (yet)
    header, rows = _parity_cells(table)
    return "\n".join(_text_table(header, rows)) + "\n"


def parity_markdown(table: ParityTable) -> str:
    header, rows = _parity_cells(table)
    return "\n".join(_markdown_table(header, rows)) + "\n"


def parity_data(table: ParityTable) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "sites": list(table.sites),
        "rows": [{
            "category": r.category, "counts": {s: r.counts.get(s, 0) for s in table.sites},
            "totals": {s: r.totals.get(s, 0) for s in table.sites} if r.totals is not None else None,
            "ratio": r.ratio(table.sites) or None, "unassigned": r.unassigned,
        } for r in table.rows],
    }


def parity_json(table: ParityTable) -> str:
    return json.dumps(parity_data(table), indent=2, ensure_ascii=False) + "\n"
