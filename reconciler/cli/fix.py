"""`reconcile fix`: print the patch of the binding files that resolves the fixable findings (docs/fix.md).

It never writes a binding file: the patch goes to stdout, or with `-o` to a file outside every bindings root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitCode
from ..fileio import atomic_write
from .base import (
    BindingsOpt,
    IgnoreOpt,
    NoIgnoreOpt,
    Options,
    OutputOpt,
    SiteOpt,
    SitesDirOpt,
    app,
    chosen_format,
    format_option,
    ignore_rules,
    load_configs,
    protected_paths,
    render_report,
    warn_insecure,
)

FixFormatOpt = format_option("FixPlan")  # diff (the patch) or json (the edits beside it): render/fix.py


@app.command("fix")
def fix(
    patterns: Annotated[list[str] | None, typer.Argument(
        metavar="[PATTERN]...",
        help="Address patterns as in .reconcileignore (default: every fixable finding).")] = None,
    site: SiteOpt = None,  # type: ignore[assignment]
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
    live: Annotated[Path | None, typer.Option("--live", help="Reconcile against this snapshot file, offline.")] = None,
    accept: Annotated[str | None, typer.Option(
        "--accept", metavar="live", help="live: also change drifted declared values to the live ones.")] = None,
    fmt: FixFormatOpt = None,
    output: OutputOpt = None,
    ignore: IgnoreOpt = None,
    no_ignore: NoIgnoreOpt = False,
) -> None:
    """Print a patch of the binding files for the findings a binding edit resolves (never edits them)."""
    from .. import fix as fixer

    if accept not in (None, "live"):
        raise typer.BadParameter(f"'{accept}' is not 'live'", param_hint="'--accept'")
    fmt = chosen_format("FixPlan", fmt, output)
    configs = load_configs(site, sites_dir, bindings)
    warn_insecure(configs)
    plan = fixer.run(configs, live, ignore_rules(configs, ignore, no_ignore), accept_live=accept == "live",
                     patterns=patterns or ())
    for error in plan.errors:
        typer.echo(f"reconcile: error: {error}", err=True)
    if plan.errors:
        raise typer.Exit(int(ExitCode.ERROR))
    text = render_report(plan, fmt, output)
    if output is not None:
        atomic_write(output, text, protected_paths(configs))
    elif text:
        typer.echo(text, nl=False)
    if not Options.quiet:
        for item in plan.not_fixed:
            typer.echo(f"reconcile: not fixed: {item.finding.address}: {item.reason}"
                       + (f" (hint: {item.finding.hint})" if item.finding.hint else ""), err=True)
        for finding in plan.follow_ups:
            typer.echo(f"reconcile: follow-up once applied: {finding.address}: {finding.message}"
                       + (f" (hint: {finding.hint})" if finding.hint else ""), err=True)
    typer.echo(f"reconcile fix: {plan.summary()}"
               + (f"; patch written to {output}" if output is not None else "")
               + (f"; apply with: git -C {plan.root} apply" if plan.edits else ""), err=True)
    raise typer.Exit(int(ExitCode.DRIFT if plan.edits else ExitCode.OK))
