"""Measuring child processes and printing the table.

Every measured run is a fresh child process: wall time is taken around it by the runner, CPU time (user +
system) and peak RSS come from the kernel's accounting of that one child (`os.wait4`), so the fake servers
running in the runner's own threads never count against the reconciler.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
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


# Runs the measured command as its own child and reports that child's figures. Linux records the old memory's
# high-water mark at exec, so a command forked straight from the runner (which holds the fake servers, ~100 MB)
# would report the runner's peak RSS as its own; this small interpreter in between keeps the figure the command's.
_SPAWNER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status)], out)
"""


def run_measured(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 timeout_s: float = 600.0) -> ProcessSample:
    """Run `argv` to completion; wall, CPU and peak RSS of that child alone (see `_SPAWNER`).

    The child may write and use bytecode caches as every installed program does: PYTHONDONTWRITEBYTECODE (set in
    some development shells) would make each run compile the package again, ~0.2 s that no user pays."""
    env = {k: v for k, v in (env if env is not None else os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.monotonic_ns()}"
    program = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
    if program is None:
        raise BenchError(f"{argv[0]}: not found")
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        proc = subprocess.Popen([sys.executable, "-S", "-c", _SPAWNER, f"{out_path}.json", program, *argv[1:]],
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                                start_new_session=True)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:  # a hung child must not hang the benchmark
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise BenchError(f"{' '.join(argv)[:200]}: still running after {timeout_s:g} s") from None
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    figures = Path(f"{out_path}.json")
    try:
        wall, cpu, max_rss_kib, code = json.loads(figures.read_text())
    except (OSError, ValueError):
        raise BenchError(f"{' '.join(argv)[:200]}: the measuring process failed: {stderr.strip()[-300:]}") from None
    finally:
        for suffix in (".out", ".err", ".json"):
            Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return ProcessSample(wall, cpu, max_rss_kib / 1024, code, stdout, stderr)  # ru_maxrss is in KiB on Linux


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
