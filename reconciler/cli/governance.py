"""`reconcile check`, `reconcile coverage` and `reconcile parity`: the cross-file governance commands.

They read binding files only (no network) and never write into the bindings.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from .base import (
    BindingsOpt,
    IgnoreOpt,
    NoIgnoreOpt,
    OutputOpt,
    ReportFormatOpt,
    SiteOpt,
    SitesDirOpt,
    app,
    chosen_format,
    emit,
    format_option,
    load_configs,
    render_report,
    without_ignored,
)

CoverageFormatOpt = format_option("CoverageMatrix")
ParityFormatOpt = format_option("ParityTable")


@app.command()
def check(
    site: SiteOpt = None,  # type: ignore[assignment]
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
    ignore: IgnoreOpt = None,
    no_ignore: NoIgnoreOpt = False,
) -> None:
    """Cross-file governance rules of the bindings (no network): SSH, registry, backup, health, compose."""
    from .. import governance
    from ..model.report import Report, sort_findings
    from ..render.table import summary_line

    fmt = chosen_format("Report", fmt, output)
    configs = load_configs(site, sites_dir, bindings)
    findings = [f for cfg in configs for f in governance.run_check(cfg).findings]
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    report = Report(stamp, tuple(cfg.name for cfg in configs), (), tuple(sort_findings(findings)),
                           live_from=dict.fromkeys((cfg.name for cfg in configs), "none (bindings only)"))
    report = without_ignored(report, configs, ignore, no_ignore)
    emit(render_report(report, fmt, output), output, configs, summary_line(report),
         quiet_shows_summary=fmt == "table")
    raise typer.Exit(int(report.exit_code))


@app.command()
def coverage(
    site: SiteOpt = None,  # type: ignore[assignment]
    include_all: Annotated[bool, typer.Option(
        "--all", help="Also list guests outside the rules' scope (decommissioned, planning, ...).")] = False,
    fmt: CoverageFormatOpt = None,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """One row per guest, a column per governance surface (OK / MISS / n.a.); exit 1 when any gap."""
    from .. import governance

    fmt = chosen_format("CoverageMatrix", fmt, output)
    configs = load_configs(site, sites_dir, bindings)
    matrix = governance.run_coverage(configs, include_all)
    emit(render_report(matrix, fmt, output), output, configs, matrix.summary)
    raise typer.Exit(int(matrix.exit_code))


@app.command()
def parity(
    site: SiteOpt = None,  # type: ignore[assignment]
    columns: Annotated[str | None, typer.Option(
        "--sites", metavar="A,B", help="Sites to compare, comma-separated [default: the policy's sites].")] = None,
    fmt: ParityFormatOpt = None,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """How much of each binding category each site has (the shop-vs-home audit table). Always exit 0."""
    from .. import governance

    fmt = chosen_format("ParityTable", fmt, output)
    configs = load_configs(site or ["all"], sites_dir, bindings)
    chosen = [s.strip() for s in columns.split(",") if s.strip()] if columns else None
    table = governance.run_parity(configs, chosen)
    summary = f"parity of {', '.join(table.sites)}: {len(table.rows)} categories"
    emit(render_report(table, fmt, output), output, configs, summary)
