"""`reconcile check`, `reconcile coverage` and `reconcile parity`: the cross-file governance commands.

They read binding files only (no network) and never write into the bindings.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import typer

from .. import governance
from ..model.report import Report, sort_findings
from ..render.governance import (
    coverage_json,
    coverage_markdown,
    coverage_text,
    parity_json,
    parity_markdown,
    parity_text,
)
from ..render.json_report import render_json
from ..render.table import render_table, summary_line
from .base import BindingsOpt, Format, OutputOpt, SiteOpt, SitesDirOpt, app, emit, load_configs, use_color


class TableFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


FormatOpt = Annotated[TableFormat, typer.Option("--format", "-f", help="Output format.")]


@app.command()
def check(
    site: SiteOpt = None,  # type: ignore[assignment]
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.TABLE,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """Cross-file governance rules of the bindings (no network): SSH, registry, backup, health, compose."""
    configs = load_configs(site, sites_dir, bindings)
    findings = [f for cfg in configs for f in governance.run_check(cfg).findings]
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    report = Report(stamp, tuple(cfg.name for cfg in configs), (), tuple(sort_findings(findings)),
                           live_from=dict.fromkeys((cfg.name for cfg in configs), "none (bindings only)"))
    text = render_json(report) if fmt is Format.JSON else render_table(report, color=use_color() and not output)
    emit(text, output, configs, summary_line(report), quiet_shows_summary=fmt is Format.TABLE)
    raise typer.Exit(int(report.exit_code))


@app.command()
def coverage(
    site: SiteOpt = None,  # type: ignore[assignment]
    include_all: Annotated[bool, typer.Option(
        "--all", help="Also list guests outside the rules' scope (decommissioned, planning, ...).")] = False,
    fmt: FormatOpt = TableFormat.TABLE,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """One row per guest, a column per governance surface (OK / MISS / n.a.); exit 1 when any gap."""
    configs = load_configs(site, sites_dir, bindings)
    matrix = governance.run_coverage(configs, include_all)
    render = {TableFormat.TABLE: coverage_text, TableFormat.JSON: coverage_json,
              TableFormat.MARKDOWN: coverage_markdown}[fmt]
    emit(render(matrix), output, configs, matrix.summary)
    raise typer.Exit(int(matrix.exit_code))


@app.command()
def parity(
    site: SiteOpt = None,  # type: ignore[assignment]
    columns: Annotated[str | None, typer.Option(
        "--sites", metavar="A,B", help="Sites to compare, comma-separated [default: the policy's sites].")] = None,
    fmt: FormatOpt = TableFormat.TABLE,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """How much of each binding category each site has (the shop-vs-home audit table). Always exit 0."""
    configs = load_configs(site or ["all"], sites_dir, bindings)
    chosen = [s.strip() for s in columns.split(",") if s.strip()] if columns else None
    table = governance.run_parity(configs, chosen)
    render = {TableFormat.TABLE: parity_text, TableFormat.JSON: parity_json,
              TableFormat.MARKDOWN: parity_markdown}[fmt]
    emit(render(table), output, configs, f"parity of {', '.join(table.sites)}: {len(table.rows)} categories")
