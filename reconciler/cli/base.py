"""The Typer app, the options every command shares, the full run and `snapshot`, and `main()`.

Every `ReconcileError` (and any unexpected exception) becomes one line on stderr and an exit code
in exactly one place, `main()`. The other subcommands live in sibling modules and register on `app`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..choices import ALL_PARTS, Part
from ..errors import ExitCode, ReconcileError
from ..fileio import atomic_write
from ..render import registry
from ..sites import IGNORE_FILE_NAME, default_ignore_file, load_sites

# The pipeline (engine, rules, bindings, model, renderers) is imported inside the commands that use it, never
# here: `reconcile --help` builds every command's options from this package alone and starts in a fraction of
# the time (tests/test_startup.py holds that; the figures are in docs/performance.md).
if TYPE_CHECKING:
    import logging

    from ..config import SiteConfig
    from ..model import LiveState
    from ..model.nightly import IgnoreRules
    from ..model.report import Report


def _package_logger() -> logging.Logger | None:
    """The package logger, or None while nothing has imported `logging` (`--help` does not: start-up is a
    benchmark target), in which case no handler of an earlier run can be left to remove."""
    logging = sys.modules.get("logging")
    return None if logging is None else logging.getLogger("reconciler")


EXAMPLES = """

\b
Examples:
  reconcile --site demo                   the embedded demo (no network)
  reconcile --site home                   one site, against its Proxmox API
  reconcile --site all -f json -o r.json  every site but demo, JSON, atomic
  reconcile --site shop --live snap.json  against a snapshot, offline
  reconcile snapshot --site home -o s.json  save the live state

\b
Exit codes: 0 in sync, 1 drift found, 2 error,
            3 no drift but not everything observed (docs/exit-codes.md)
"""

app = typer.Typer(
    name="reconcile",
    help="Reconcile live Proxmox guests with the binding files of a governance repo." + EXAMPLES,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    invoke_without_command=True,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Options:
    """Options shared by the whole process (set by the callback, read by `main`)."""

    debug = False
    quiet = False
    # given before a subcommand (`reconcile --sites-dir D snapshot ...`), used when the subcommand has none
    sites_dir: Path | None = None
    bindings: Path | None = None

    @classmethod
    def reset(cls, argv: list[str]) -> None:
        cls.debug, cls.quiet, cls.sites_dir, cls.bindings = "--debug" in argv, False, None, None
        log = _package_logger()
        if log is None:
            return
        for handler in [h for h in log.handlers if getattr(h, "reconcile_debug", False)]:
            log.removeHandler(handler)  # an earlier in-process run's --debug must not leak into this one
        log.setLevel(0)  # logging.NOTSET


def load_configs(site: list[str] | None, sites_dir: Path | None, bindings: Path | None) -> list[SiteConfig]:
    """The selected site configurations; a subcommand's own folder options win over the global ones.

    Each site file's `rules:` is checked against the rule registry here, before anything is collected, so a
    mistyped rule or key fails every command at its line."""
    from ..rules.registry import governance_policy

    configs = load_sites(site or [], sites_dir or Options.sites_dir, bindings or Options.bindings)
    for cfg in configs:
        governance_policy(cfg.rules, str(cfg.path))
    return configs


SiteOpt = Annotated[list[str], typer.Option(
    "--site", "-s", metavar="NAME", help="Site name (repeatable); 'all' = every site but demo.")]
SitesDirOpt = Annotated[Path | None, typer.Option(
    "--sites-dir", help="Folder of site files [env RECONCILE_SITES_DIR].",
    envvar="RECONCILE_SITES_DIR", show_envvar=False)]
BindingsOpt = Annotated[Path | None, typer.Option(
    "--bindings", help="Override the bindings root [env RECONCILE_BINDINGS].",
    envvar="RECONCILE_BINDINGS", show_envvar=False)]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write here (atomically) instead of stdout.")]
IgnoreOpt = Annotated[Path | None, typer.Option(
    "--ignore", metavar="FILE",
    help=f"Ignore file [default: {IGNORE_FILE_NAME} in each bindings root; the demo's in its state folder].")]
NoIgnoreOpt = Annotated[bool, typer.Option(
    "--no-ignore", help="Report every finding, also those the ignore file covers.")]


def ignore_rules(configs: list[SiteConfig], ignore: Path | None, no_ignore: bool) -> IgnoreRules:
    """The ignore entries of the run: `--ignore FILE`, else each site's default file; none with --no-ignore."""
    from ..model.nightly import IgnoreRules
    from ..nightly.ignore import load_rules

    if no_ignore:
        return IgnoreRules()
    return load_rules(ignore, [default_ignore_file(cfg) for cfg in configs])


def warn_expired(rules: IgnoreRules, today: dt.date) -> None:
    for entry in rules.expired(today):
        warn(f"{entry.where}: ignore entry '{entry.text}' expired on {entry.expires}; it no longer ignores anything")


def without_ignored(report: Report, configs: list[SiteConfig], ignore: Path | None, no_ignore: bool) -> Report:
    """The report with what the ignore file covers set aside (counted apart, not deciding the exit code)."""
    from ..nightly.ignore import set_aside

    rules = ignore_rules(configs, ignore, no_ignore)
    warn_expired(rules, dt.date.fromisoformat(report.generated_at[:10]))
    return set_aside(report, rules)


def format_option(kind: str) -> Any:
    """`--format/-f` for a command whose report is a `kind` (its class name), listing the registry's formats."""
    return Annotated[str | None, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help=f"Output format: {', '.join(registry.names_for(kind))} [default: from the -o extension, else "
             f"{registry.choose(kind, None, None)}].")]


def chosen_format(kind: str, given: str | None, output: Path | None) -> str:
    """The format to render in; an unknown one is a usage error (exit 2) naming the valid ones."""
    try:
        return registry.choose(kind, given, output)
    except registry.UnknownFormat as exc:
        raise typer.BadParameter(str(exc), param_hint="'--format' / '-f'") from None


def render_report(report: object, fmt: str, output: Path | None) -> str:
    return registry.render(report, fmt, color=use_color() and output is None,
                           width=terminal_width() if output is None else None)


def terminal_width() -> int | None:
    """The columns to fold the table to: the terminal's (or $COLUMNS); None when writing to a pipe or a file."""
    if not sys.stdout.isatty() and not os.environ.get("COLUMNS", "").isdigit():
        return None
    return shutil.get_terminal_size(fallback=(0, 0)).columns or None


ReportFormatOpt = format_option("Report")


def _debug_log_to_stderr() -> None:
    """Our own handler on the package logger (basicConfig is a no-op when the root logger has handlers)."""
    import logging

    log = logging.getLogger("reconciler")
    for handler in [h for h in log.handlers if getattr(h, "reconcile_debug", False)]:
        log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("reconcile: debug: %(name)s: %(message)s"))
    handler.reconcile_debug = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version  # ~20 ms: only when asked

        try:
            typer.echo(f"reconcile {version('reconciler')}")
        except PackageNotFoundError:
            typer.echo("reconcile (not installed)")
        raise typer.Exit(0)


def warn(message: str) -> None:
    if not Options.quiet:
        typer.echo(f"reconcile: warning: {message}", err=True)


def warn_insecure(configs: list[SiteConfig]) -> None:
    for cfg in configs:
        for host in cfg.proxmox:
            if not host.verify_tls and not host.fingerprint:
                # Printed even with --quiet: an unverified API is a security problem, not noise.
                typer.echo(f"reconcile: warning: site {cfg.name}: TLS verification is disabled "
                           f"for Proxmox host {host.name} (verify_tls: false in {cfg.path}); "
                           "set ca_file or fingerprint instead", err=True)


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def progress_printer() -> Callable[[int, int], None] | None:
    """Docker hosts done / total on stderr, only when stderr is a terminal (never in cron mail or pipes)."""
    if Options.quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        sys.stderr.write(f"\rreconcile: docker hosts {done}/{total}{end}")
        sys.stderr.flush()

    return show


def emit(text: str, output: Path | None, configs: list[SiteConfig], summary: str,
         quiet_shows_summary: bool = True) -> None:
    """Print `text`, or write it atomically to `output` and print the summary line instead."""
    if output is not None:
        atomic_write(output, text, protected_paths(configs))
        if not Options.quiet:
            typer.echo(summary)
    elif Options.quiet and quiet_shows_summary:
        typer.echo(summary)
    else:
        typer.echo(text, nl=False)


def protected_paths(configs: list[SiteConfig]) -> list[Path]:
    """What no output may be written into: the bindings root (and every binding file) of the selected sites
    and of every other site file beside them, so `--site demo -o` cannot land in another site's bindings."""
    from ..config import load_site

    protected = [path for cfg in configs for path in (cfg.bindings_root, *cfg.binding_paths.values())]
    known = {cfg.path.resolve() for cfg in configs}
    for folder in {cfg.path.parent for cfg in configs}:
        for path in sorted(folder.glob("*.yaml")):
            if path.resolve() in known:
                continue
            with contextlib.suppress(ReconcileError):  # a broken site file has no bindings to protect
                other = load_site(path)
                protected += [other.bindings_root, *other.binding_paths.values()]
    return protected


@app.callback()
def run(
    ctx: typer.Context,
    site: SiteOpt = None,  # type: ignore[assignment]
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
    live: Annotated[Path | None, typer.Option("--live", help="Reconcile against this snapshot file, offline.")] = None,
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    only: Annotated[Part | None, typer.Option(
        "--only", help="Run one part: guests (Proxmox API), stacks (docker over SSH), governance (files) or "
                  "backups (jobs, storages, runs over the Proxmox API; files over SSH).")] = None,
    skip_ssh: Annotated[bool, typer.Option(
        "--skip-ssh", help="Do not SSH to docker or backup hosts (they are reported as unknown, reason "
                           "skipped).")] = False,
    ignore: IgnoreOpt = None,
    no_ignore: NoIgnoreOpt = False,
    brief: Annotated[bool, typer.Option("--brief", help="One line per finding (same as -f brief).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary line and errors.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Debug log and tracebacks.")] = False,
    _: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """Reconcile the selected sites (guests on their Proxmox hosts) and report the differences."""
    Options.debug = Options.debug or debug
    Options.quiet = Options.quiet or quiet
    if Options.debug:
        _debug_log_to_stderr()
    Options.sites_dir, Options.bindings = sites_dir, bindings
    if ctx.invoked_subcommand is not None:
        return
    from .. import engine
    from ..render.table import summary_line

    fmt = chosen_format("Report", "brief" if brief and fmt is None else fmt, output)
    configs = load_configs(site, sites_dir, bindings)
    warn_insecure(configs)
    parts = frozenset({only}) if only else ALL_PARTS
    report = engine.reconcile(configs, live_file=live, parts=parts, skip_ssh=skip_ssh, progress=progress_printer())
    report = without_ignored(report, configs, ignore, no_ignore)
    emit(render_report(report, fmt, output), output, configs, summary_line(report),
         quiet_shows_summary=fmt in ("table", "brief"))
    for error in report.errors:
        typer.echo(f"reconcile: error: {error}", err=True)
    raise typer.Exit(int(report.exit_code))


@app.command()
def snapshot(
    site: SiteOpt = None,  # type: ignore[assignment]
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
    skip_ssh: Annotated[bool, typer.Option("--skip-ssh", help="Leave the docker and backup hosts out.")] = False,
) -> None:
    """Save the normalized live state of the sites (no secrets) for offline runs with --live."""
    from .. import engine
    from ..collect.snapshot import dump_snapshot

    configs = load_configs(site, sites_dir, bindings)
    warn_insecure(configs)
    state = engine.take_snapshot(configs, skip_ssh=skip_ssh, progress=progress_printer())
    errors = [e for cfg in configs for e in engine.fatal_errors(
        cfg.name, [o.status for o in state.proxmox if o.site == cfg.name and o.status])]
    if errors:
        raise ReconcileError(errors[0])
    text = dump_snapshot(state, [cfg.name for cfg in configs])
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write(output, text, protected_paths(configs))
        failed = [o.proxmox_host for o in state.proxmox if not o.listed]
        failed += [f"docker host {o.target}" for o in state.docker if not o.observed and not skip_ssh]
        failed += [f"backup host {o.host}" for o in state.backup_files if not o.observed and not skip_ssh]
        if not Options.quiet:
            typer.echo(f"snapshot written to {output}: {snapshot_summary(state)}")
        if failed:
            warn(f"snapshot written without: {', '.join(failed)} (could not be observed)")


def snapshot_summary(state: LiveState) -> str:
    """What a snapshot holds, in one line: so `snapshot -o` does not finish in silence."""
    listed = [o for o in state.proxmox if o.listed]
    parts = [f"{len(listed)} of {len(state.proxmox)} Proxmox host(s), {sum(len(o.guests) for o in listed)} guest(s)",
             f"{sum(o.observed for o in state.docker)} of {len(state.docker)} docker host(s), "
             f"{sum(len(o.stacks) for o in state.docker)} stack(s)"]
    if state.backup_files:
        parts.append(f"{sum(o.observed for o in state.backup_files)} of {len(state.backup_files)} backup host(s)")
    return "; ".join(parts) + f" (taken {state.taken_at})"


def _fail(message: str) -> int:
    typer.echo(f"reconcile: error: {message}", err=True)
    return int(ExitCode.ERROR)


INTERRUPT_GRACE_S = 2.0
_interrupt_reported = threading.Event()


def _say_interrupted() -> None:
    if not _interrupt_reported.is_set():
        _interrupt_reported.set()
        typer.echo("reconcile: interrupted", err=True)


def _hard_exit() -> None:
    _say_interrupted()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(int(ExitCode.INTERRUPTED))


def _exit_promptly_on_interrupt() -> None:
    """Ctrl-C unwinds the run as usual (temp files removed, locks released), but a collector thread stuck in
    network I/O must not hold the process for its whole timeout: after a short grace the process exits 130.
    Only for the real process (an in-process caller keeps its own handler), and not when SIGINT is ignored."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def interrupted(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        watchdog = threading.Timer(INTERRUPT_GRACE_S, _hard_exit)
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)


# typer >= 0.28 has its own click (typer._click); its usage errors all derive from the public TyperException.
_EXITS = (typer.Exit,)
_USAGE_ERRORS = (typer.TyperException,)
_ABORTS = (typer.Abort,)


# Options of the whole process: accepted after a subcommand too (`reconcile check --site x -q`).
PROCESS_FLAGS = ("-q", "--quiet", "--debug")


def where_people_type_them(args: list[str], group: Any = None) -> list[str]:
    """`reconcile check -q` = `reconcile -q check`; `reconcile --site x check` = `reconcile check --site x`.

    The process flags (-q, --debug) move before the subcommand; options given before it that the subcommand
    itself takes (--site, --sites-dir, --bindings, -f, -o, ...) move after its name, so both orders mean the
    same. Everything after `--` stays as typed."""
    group = group if group is not None else typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    valued = {name for param in group.params if not getattr(param, "is_flag", False) for name in param.opts}
    index, position = None, 0
    while position < len(args):
        arg = args[position]
        if arg == "--":
            break
        if arg in commands:
            index = position
            break
        position += 2 if arg in valued else 1
    if index is None:
        return list(args)
    before, name, after = list(args[:index]), args[index], list(args[index + 1:])
    end = after.index("--") if "--" in after else len(after)
    moved_in = [a for a in after[:end] if a in PROCESS_FLAGS]
    after = [a for a in after[:end] if a not in PROCESS_FLAGS] + after[end:]
    takes = {o: not getattr(param, "is_flag", False) for param in commands[name].params for o in param.opts}
    kept, carried = [], []
    position = 0
    while position < len(before):
        arg, option = before[position], before[position].split("=", 1)[0]
        width = 2 if option in valued and "=" not in arg else 1
        (carried if option in takes and option not in PROCESS_FLAGS else kept).extend(
            before[position:position + width])
        position += width
    return [*kept, *moved_in, name, *carried, *after]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and convert every outcome to an exit code, here and only here."""
    # the click command is built once (about 30 ms): it reorders the arguments and then runs them
    command = typer.main.get_command(app)
    args = where_people_type_them(sys.argv[1:] if argv is None else argv, command)
    Options.reset(args)
    _interrupt_reported.clear()
    if argv is None:
        _exit_promptly_on_interrupt()
    try:
        result = command.main(args=args, prog_name="reconcile", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == ExitCode.INTERRUPTED:  # typer turns KeyboardInterrupt into a silent Exit(130)
            _say_interrupted()
    except _EXITS as exc:
        code = exc.exit_code
    except SystemExit as exc:  # --show-completion / --install-completion end the way click ends them
        code = exc.code if isinstance(exc.code, int) else int(ExitCode.ERROR if exc.code else ExitCode.OK)
    except _USAGE_ERRORS as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None:
            typer.echo(exc.ctx.get_help())  # `reconcile ignore` alone: the group's help, as asked
            code = int(ExitCode.ERROR)
        else:  # one line, like every other error; --help has the long form
            command = getattr(getattr(exc, "ctx", None), "command_path", "") or "reconcile"
            code = _fail(f"{exc.format_message()} (see {command} --help)")
    except (KeyboardInterrupt, *_ABORTS):
        _say_interrupted()
        code = int(ExitCode.INTERRUPTED)
    except ReconcileError as exc:
        if Options.debug:
            traceback.print_exc()
        code = _fail(str(exc))
    except Exception as exc:  # the one place an unexpected failure becomes a line, not a traceback
        if Options.debug:
            traceback.print_exc()
        code = _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
    return code


