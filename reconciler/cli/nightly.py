"""`reconcile report` (the nightly run: marks, ignore file, several outputs, lock) and `reconcile ignore add`.

Scheduling, the state folder and reading the outputs: docs/nightly.md.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ConfigError, ExitCode
from ..fileio import refuse_protected
from ..nightly import DEFAULT_FORGET_AFTER_DAYS
from ..render import registry
from ..sites import default_ignore_file, default_state_dir
from .base import (
    BindingsOpt,
    IgnoreOpt,
    NoIgnoreOpt,
    Options,
    SiteOpt,
    SitesDirOpt,
    app,
    ignore_rules,
    load_configs,
    progress_printer,
    protected_paths,
    warn,
    warn_expired,
    warn_insecure,
)

if TYPE_CHECKING:  # the nightly machinery loads inside the commands (start-up: see cli/base.py)
    from ..model.nightly import IgnoreRules, NightlyReport
    from ..nightly.lock import Holder
    from ..nightly.state import Output, StateDir


StateDirOpt = Annotated[Path | None, typer.Option(
    "--state-dir", metavar="DIR", envvar="RECONCILE_STATE_DIR", show_envvar=False,
    help="Last report, history and lock [env RECONCILE_STATE_DIR; default $XDG_STATE_HOME/reconciler, "
         "~/.local/state/reconciler without it; the demo's in its demo/ subfolder].")]


def parse_now(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--now {value!r}: not an ISO 8601 time (e.g. 2026-11-02T03:00:00Z)") from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def final_code(code: ExitCode, exit_zero: bool) -> int:
    """--exit-zero: drift (1) and unobserved (3) become 0; an error (2) stays, the job itself failed."""
    return 0 if exit_zero and code in (ExitCode.DRIFT, ExitCode.UNOBSERVED) else int(code)


def nightly_summary(nightly: NightlyReport) -> str:
    from ..render.table import VERDICT

    counts = nightly.counts()
    code = nightly.exit_code
    return (f"{', '.join(nightly.sites)}: {len(nightly.findings)} findings ({counts['new']} new, "
            f"{counts['persisting']} persisting), {counts['resolved']} resolved, {counts['unobserved']} not observed, "
            f"{counts['ignored']} ignored — exit {int(code)} ({VERDICT[code]})")


@app.command()
def report(
    site: SiteOpt = None,  # type: ignore[assignment]
    state_dir: StateDirOpt = None,
    output: Annotated[list[str] | None, typer.Option(
        "--output", "-o", metavar="[FORMAT:]PATH",
        help="Write the report here, atomically (repeatable). FORMAT: json, md, prom, html; "
             "without it the extension decides. None: Markdown on stdout.")] = None,
    exit_zero: Annotated[bool, typer.Option(
        "--exit-zero", help="Exit 0 on drift or unobserved (for schedulers); errors still exit 2.")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", metavar="SECONDS", min=0, help="Wait this long for a running report to finish.")] = 0.0,
    keep: Annotated[int, typer.Option("--keep", metavar="N", min=0, help="Reports kept in the history.")] = 30,
    forget_after: Annotated[int, typer.Option(
        "--forget-after", metavar="DAYS", min=0,
        help="Forget the unobserved findings of a site no longer selected this many days after they were last "
             "seen.")] = DEFAULT_FORGET_AFTER_DAYS,
    ignore: IgnoreOpt = None,
    no_ignore: NoIgnoreOpt = False,
    live: Annotated[Path | None, typer.Option("--live", metavar="FILE",
                                              help="Reconcile against this snapshot file, offline.")] = None,
    skip_ssh: Annotated[bool, typer.Option(
        "--skip-ssh", help="Do not SSH to docker or backup hosts (their findings are carried as not "
                           "observed).")] = False,
    now: Annotated[str | None, typer.Option("--now", hidden=True, help="Pretend the run happens then.")] = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """The nightly report: guests, stacks and governance of the sites, marked new / persisting / resolved."""
    import logging

    from ..nightly.lock import RunLock
    from ..nightly.state import StateDir, parse_outputs, pause_hook, remove_stale_temps, write_outputs

    outputs = parse_outputs(output or [])
    configs = load_configs(site, sites_dir, bindings)
    warn_insecure(configs)
    protected = protected_paths(configs)
    state = StateDir(state_dir or default_state_dir(configs))
    refuse_protected(state.path, protected)  # the state (lock, history) never goes into a bindings tree
    for wanted in outputs:
        refuse_protected(wanted.path, protected)  # before the run, not after a long collection
    state.ensure()
    with RunLock(state.path, wait, on_wait=waiting_for(wait)) as lock:
        if lock.stale is not None:
            warn(f"took over a stale lock ({lock.stale.describe()}): that run died without finishing")
        for leftover in state.remove_temps() + remove_stale_temps(o.path for o in outputs):
            logging.getLogger(__name__).debug("removed %s, left by a run that was killed", leftover)
        rules = ignore_rules(configs, ignore, no_ignore)
        nightly = run_once(configs, state, rules, live, skip_ssh, parse_now(now), keep, forget_after)
        texts = render_all(nightly, outputs)
        hook = pause_hook()
        write_outputs([(o, texts[o.format]) for o in outputs], protected, hook)
        state.commit(texts["json"], nightly.generated_at, keep, hook)
    tell(nightly, texts, outputs)
    raise typer.Exit(final_code(nightly.exit_code, exit_zero))


def waiting_for(wait: float) -> Callable[[Holder | None], None]:
    def tell_waiting(holder: Holder | None) -> None:
        if not Options.quiet:
            who = holder.describe() if holder else "another run"
            typer.echo(f"reconcile: waiting up to {wait:g} s for the running report ({who})", err=True)

    return tell_waiting


def run_once(configs: list[Any], state: StateDir, rules: IgnoreRules, live: Path | None, skip_ssh: bool,
             now: dt.datetime | None, keep: int, forget_after: int = DEFAULT_FORGET_AFTER_DAYS) -> NightlyReport:
    from .. import engine, governance
    from ..nightly.report import build

    previous = state.load_previous()
    started = time.monotonic()
    report_ = engine.reconcile(configs, live_file=live, now=now, skip_ssh=skip_ssh, progress=progress_printer())
    matrix = governance.run_coverage(configs)
    return build(report_, matrix, previous, rules, state.history_points(keep), time.monotonic() - started,
                 forget_after)


def render_all(nightly: NightlyReport, outputs: list[Output]) -> dict[str, str]:
    """Every format asked for, plus JSON (the state) and Markdown when it goes to stdout."""
    wanted = {o.format for o in outputs} | {"json"} | (set() if outputs else {"markdown"})
    return {fmt: registry.render(nightly, fmt) for fmt in wanted}


def tell(nightly: NightlyReport, texts: dict[str, str], outputs: list[Output]) -> None:
    """Plain lines: the report or a summary on stdout; expired ignore entries and errors on stderr."""
    from ..model.nightly import IgnoreRules

    if not outputs and not Options.quiet:
        typer.echo(texts["markdown"], nl=False)
    elif not Options.quiet or not outputs:
        typer.echo(nightly_summary(nightly))
    warn_expired(IgnoreRules(nightly.expired), dt.date.fromisoformat(nightly.generated_at[:10]))
    for error in nightly.report.errors:
        typer.echo(f"reconcile: error: {error}", err=True)


# ── reconcile ignore add ─────────────────────────────────────────────────────

ignore_app = typer.Typer(name="ignore", help="Manage the ignore file (.reconcileignore, docs/nightly.md).",
                         no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                         rich_markup_mode=None)
app.add_typer(ignore_app, name="ignore")


def find_in_report(path: Path, finding_id: str) -> dict[str, Any]:
    """The finding with this id (or unique id prefix, or exact address) in a JSON report: reported, ignored
    or not observed. The address is what the Markdown and HTML reports show."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the report: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a reconcile JSON report")
    if data.get("format") == "reconciler-snapshot":
        raise ConfigError(f"{path}: this is a snapshot (live state), not a report; give the JSON report of "
                          "`reconcile --site X -f json -o FILE` or `reconcile report -o json:FILE`")
    candidates = [f for group in ("findings", "ignored", "unobserved") for f in data.get(group) or []
                  if isinstance(f, dict) and (str(f.get("id", "")).startswith(finding_id)
                                              or f.get("address") == finding_id)]
    matches = list({f["id"]: f for f in candidates}.values())
    if not finding_id or not matches:
        raise ConfigError(f"{path}: no finding with id {finding_id!r}")
    if len(matches) > 1:
        raise ConfigError(f"{path}: id {finding_id!r} is ambiguous ({', '.join(f['id'] for f in matches)})")
    return matches[0]


@ignore_app.command("add")
def ignore_add(
    from_report: Annotated[Path, typer.Option("--from-report", metavar="REPORT", help="A JSON report.")],
    finding_id: Annotated[str, typer.Option(
        "--id", metavar="ID", help="The finding's id (or a unique prefix), or its exact address.")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why it is ignored (kept in the file).")],
    expires: Annotated[str | None, typer.Option("--expires", metavar="YYYY-MM-DD",
                                                help="Last day the entry applies.")] = None,
    pattern: Annotated[str | None, typer.Option(
        "--pattern",
        help="Ignore more than this finding (must match its address), e.g. 'home/qemu/proxmox-home/101/*'.")] = None,
    ignore: IgnoreOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    """Append an entry for one finding of a report to the ignore file; existing lines are left untouched."""
    from ..nightly.ignore import append_entry, entry_line, load_file, parse_date

    if not reason.strip():
        raise ConfigError("--reason must not be empty: say why the finding is ignored")
    finding = find_in_report(from_report, finding_id)
    address = str(finding.get("address", ""))
    chosen = pattern or address
    if not fnmatch.fnmatchcase(address, chosen):
        raise ConfigError(f"--pattern {chosen!r} does not match the finding's address {address}")
    until = parse_date(expires, "--expires")
    today = dt.datetime.now(dt.UTC).date()
    if until is not None and until < today:
        raise ConfigError(f"--expires {until}: that day has passed; the entry would never apply")
    line = entry_line(chosen, reason, until)
    configs = [] if ignore is not None else load_configs([finding["subject"]["site"]], sites_dir, bindings)
    path = ignore or default_ignore_file(configs[0])
    if ignore is None:
        path.parent.mkdir(parents=True, exist_ok=True)  # the demo's lives in a state folder that may be new
    if path.exists():
        same = [e for e in load_file(path) if e.pattern == chosen and not e.negate and not e.expired(today)]
        if same:
            typer.echo(f"already ignored by {same[-1].where}: {same[-1].text}")
            return
    comment = f"{finding.get('kind')}: {finding.get('message')} (id {finding['id']}, {from_report.name}, added {today})"
    # the ignore file itself lives in the bindings root: only the binding files proper are off limits
    binding_files = [p for cfg in configs for p in cfg.binding_paths.values()]
    number = append_entry(path, line, [" ".join(comment.split())], binding_files)
    typer.echo(f"added {path}:{number}: {line}")
