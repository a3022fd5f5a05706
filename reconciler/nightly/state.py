"""The state folder of the nightly run, and writing every output atomically.

    STATE/lock                 who runs now (lock.py)
    STATE/last-report.json     the previous run's JSON report: what tonight's marks compare against
    STATE/history/*.json       the last N reports (`--keep N`), for the trend chart

Order of writes: the user's outputs first, then the history entry, then last-report.json. Each file is a
temp file renamed over the old one, so a run killed at any moment leaves every file either as it was or
complete; and since last-report.json is written last, a killed run never makes tonight's findings look
"persisting" tomorrow without ever having been reported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ReconcileError
from ..fileio import atomic_write
from ..model.nightly import HistoryPoint, NightlyReport
from ..record import record
from ..render import registry
from .report import history_point

log = logging.getLogger(__name__)

LAST_REPORT = "last-report.json"
HISTORY = "history"
# Test hook: pause before each rename so a test can SIGKILL the run mid-write (see tests/test_nightly_atomic.py).
PAUSE_ENV = "RECONCILE_TEST_PAUSE_BEFORE_RENAME"


NIGHTLY_FORMATS = registry.names_for(NightlyReport)  # json, markdown, html, prometheus


@record
class Output:
    format: str  # a format name of render.registry
    path: Path


def parse_output(spec: str) -> Output:
    """`FORMAT:PATH`, or `PATH` whose extension names the format (.json .md .prom .html)."""
    prefix, colon, rest = spec.partition(":")
    named = registry.canonical(prefix) if colon else None
    if named in NIGHTLY_FORMATS:
        if not rest:
            raise ConfigError(f"--output {spec}: no path after '{prefix}:'")
        return Output(named, Path(rest))
    fmt = registry.by_extension(Path(spec))
    if fmt not in NIGHTLY_FORMATS:
        raise ConfigError(f"--output {spec}: cannot tell the format; prefix it with json:, md:, prom: or html: "
                          f"(or use the extension .json, .md, .prom, .html)")
    return Output(fmt, Path(spec))


def parse_outputs(specs: Sequence[str]) -> list[Output]:
    outputs = [parse_output(spec) for spec in specs]
    seen: dict[Path, str] = {}
    for out in outputs:
        key = out.path.resolve()
        if not key.parent.is_dir():  # found before the run, not after an hour of collecting
            raise ConfigError(f"--output {out.path}: folder {key.parent} does not exist")
        if key in seen:
            raise ConfigError(f"--output {out.path}: given twice ({seen[key]} and {out.format})")
        seen[key] = out.format
    return outputs


def pause_hook() -> Callable[[Path], None] | None:
    """With $RECONCILE_TEST_PAUSE_BEFORE_RENAME=DIR: before the k-th rename, create DIR/reached-k (holding the
    target path) and wait until DIR/go-k or DIR/go exists. Test-only; unset in real runs."""
    folder = os.environ.get(PAUSE_ENV)
    if not folder:
        return None
    where = Path(folder)
    calls = [0]

    def pause(target: Path) -> None:
        calls[0] += 1
        k = calls[0]
        # Written aside and renamed, so a test polling for reached-k never reads it half-written (empty).
        marker = where / f"reached-{k}"
        aside = where / f".reached-{k}.tmp"
        aside.write_text(str(target))
        aside.replace(marker)
        deadline = time.monotonic() + 120
        while not ((where / f"go-{k}").exists() or (where / "go").exists()) and time.monotonic() < deadline:
            time.sleep(0.02)

    return pause


def remove_stale_temps(paths: Iterable[Path]) -> list[Path]:
    """Temp files a killed run left beside its outputs (`.NAME.*.tmp`, see fileio.atomic_write)."""
    removed = []
    for path in paths:
        target = path.resolve()
        if not target.parent.is_dir():
            continue
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed.append(leftover)
    return removed


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_report = path / LAST_REPORT
        self.history = path / HISTORY

    def ensure(self) -> None:
        try:
            self.history.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot create the state folder: {exc.strerror or exc}") from None

    def load_previous(self) -> dict[str, Any] | None:
        if not self.last_report.exists():
            return None
        try:
            data = json.loads(self.last_report.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReconcileError(f"{self.last_report}: previous report unreadable ({exc}); move it away to start "
                                 f"afresh (every finding will then be marked new)") from None
        if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
            raise ReconcileError(f"{self.last_report}: not a reconcile JSON report; move it away to start afresh")
        return data

    def history_files(self) -> list[Path]:
        return sorted(self.history.glob("report-*.json")) if self.history.is_dir() else []

    def history_points(self, keep: int) -> list[HistoryPoint]:
        """The trend of the previous runs (at most keep - 1: tonight makes it `keep`)."""
        points = []
        for path in self.history_files()[-max(keep - 1, 0):] if keep > 1 else []:
            try:
                point = history_point(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                point = None
            if point is None:
                log.debug("history file %s skipped: not a nightly report", path)
                continue
            points.append(point)
        return points

    def remove_temps(self) -> list[Path]:
        """Temp files of a killed run in the state folder."""
        removed = remove_stale_temps([self.last_report])
        for leftover in self.history.glob(".report-*.tmp") if self.history.is_dir() else []:
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed.append(leftover)
        return removed

    def commit(self, report_json: str, generated_at: str, keep: int,
               before_rename: Callable[[Path], None] | None = None) -> None:
        """History entry, then last-report.json (the commit point), then prune the history to `keep` files."""
        if keep > 0:
            name = "report-" + generated_at.replace("-", "").replace(":", "") + ".json"
            atomic_write(self.history / name, report_json, before_rename=before_rename)
        atomic_write(self.last_report, report_json, before_rename=before_rename)
        files = self.history_files()
        for old in files[:max(len(files) - keep, 0)]:
            with contextlib.suppress(OSError):
                old.unlink()


def write_outputs(rendered: Sequence[tuple[Output, str]], protected: Iterable[Path],
                  before_rename: Callable[[Path], None] | None = None) -> None:
    protected = list(protected)
    for output, text in rendered:
        atomic_write(output.path, text, protected, before_rename=before_rename)
