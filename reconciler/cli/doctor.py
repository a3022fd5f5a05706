"""`reconcile doctor`: does each configured source work, and what to fix (docs/doctor.md)."""

from __future__ import annotations

import typer

from .base import (
    BindingsOpt,
    OutputOpt,
    SiteOpt,
    SitesDirOpt,
    app,
    chosen_format,
    emit,
    format_option,
    load_configs,
    render_report,
)

DoctorFormatOpt = format_option("DoctorReport")


@app.command()
def doctor(
    site: SiteOpt = None,  # type: ignore[assignment]
    fmt: DoctorFormatOpt = None,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """Check each configured source, one line each: what works and what to fix (read-only).

    \b
    Exit codes: 0 all good, 1 something to fix, 2 usage or configuration error.
    """
    from ..doctor import diagnose  # the probes (requests, paramiko) only for this command

    fmt = chosen_format("DoctorReport", fmt, output)
    configs = load_configs(site or ["all"], sites_dir, bindings)
    report = diagnose(configs)
    emit(render_report(report, fmt, output), output, configs, report.summary, quiet_shows_summary=fmt == "table")
    raise typer.Exit(int(report.exit_code))
