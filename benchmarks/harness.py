"""Measuring child processes and printing the table.

Every measured run is a fresh child process: wall time is taken around it by the runner, CPU time (user +
system) and peak RSS come from the kernel's accounting of that one child (`os.wait4`), so the fake servers
running in the runner's own threads never count against the reconciler.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def reconcile_command() -> list[str]:
    """The installed `reconcile` console script of this interpreter (not a pyenv shim, which adds a shell)."""
    script = Path(sys.executable).parent / "reconcile"
    if script.is_file():
        return [str(script)]
    found = shutil.which("reconcile")
    return [found] if found else [sys.executable, "-c", "import sys; from reconciler.cli import main; "
                                                        "sys.exit(main())"]


@dataclass(frozen=True)
class ProcessSample:
    wall_s: float
    cpu_s: float  # user + system of the child
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


def run_measured(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 timeout_s: float = 600.0) -> ProcessSample:
    """Run `argv` to completion; wall, CPU and peak RSS of that child alone.

    The child may write and use bytecode caches as every installed program does: PYTHONDONTWRITEBYTECODE (set in
    some development shells) would make each run compile the package again, ~0.2 s that no user pays."""
    env = {k: v for k, v in (env if env is not None else os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.monotonic_ns()}"
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=env)
        timer = threading.Timer(timeout_s, proc.kill)  # a hung child must not hang the benchmark
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen so it does not wait
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    # ru_maxrss is in KiB on Linux
    return ProcessSample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, stdout,
                         stderr)


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    target: str
    samples: list[ProcessSample] = field(default_factory=list)
    requests: int | None = None
    note: str = ""
    cpu_override_s: float | None = None  # e.g. the comparison core's own CPU, not the process's
    met: bool | None = None  # set by the scenario from its target
    ideal_s: float | None = None  # the ideal client's median wall, measured in the same run (alternating)

    @property
    def wall_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples) if self.samples else float("nan")

    @property
    def ratio(self) -> float:
        """Our wall over the ideal client's (nan without one)."""
        return self.wall_s / self.ideal_s if self.ideal_s else float("nan")

    @property
    def cpu_s(self) -> float:
        if self.cpu_override_s is not None:
            return self.cpu_override_s
        return statistics.median(s.cpu_s for s in self.samples) if self.samples else float("nan")

    @property
    def peak_rss_mb(self) -> float:
        return max((s.peak_rss_mb for s in self.samples), default=float("nan"))


def repeat(runs: int, once: Callable[[], ProcessSample], check: Callable[[ProcessSample], None]) -> list[ProcessSample]:
    """`runs` measured runs; `check` raises when a run did not do the expected work (then no figure is kept)."""
    samples = []
    for _ in range(runs):
        sample = once()
        check(sample)
        samples.append(sample)
    return samples


class BenchError(RuntimeError):
    """A scenario did not do the work it measures (wrong exit code, wrong request count...)."""


def cpu_text(seconds: float) -> str:
    """Seconds with two decimals; a per-request figure (under 10 ms) in milliseconds instead of 0.00."""
    return f"{seconds * 1000:.3f} ms" if 0 < seconds < 0.01 else f"{seconds:.2f}"


def render(rows: Sequence[Row]) -> str:
    headers = ("scenario", "wall s (median)", "ideal s", "ratio", "runs", "requests", "CPU s", "peak RSS MB",
               "target", "met", "note")
    table = [headers]
    for row in rows:
        ideal = ("-", "-") if row.ideal_s is None else (f"{row.ideal_s:.2f}", f"{row.ratio:.2f} ×")
        table.append((
            row.scenario, f"{row.wall_s:.2f}", *ideal, str(len(row.samples)),
            "-" if row.requests is None else str(row.requests), cpu_text(row.cpu_s), f"{row.peak_rss_mb:.0f}",
            row.target, {True: "yes", False: "NO", None: "-"}[row.met], row.note,
        ))
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
             for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
