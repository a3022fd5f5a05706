"""Acceptance 2: a run SIGKILLed mid-write leaves the previous outputs byte-identical; two runs never interleave
(the second exits 2 "already running", or waits with --wait); a stale lock left by a dead run is taken over.

The run under test is a real `reconcile` process. RECONCILE_TEST_PAUSE_BEFORE_RENAME makes it stop after a
complete temp file is written and before it is renamed over the old output (reconciler/nightly/state.py).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from reconciler.nightly import lock as lock_module
from reconciler.nightly.lock import AlreadyRunning, RunLock
from reconciler.nightly.state import PAUSE_ENV
from tests.test_nightly_estate import NIGHT1, NIGHT2, Lab, write_lab

FORMATS = ("json", "md", "prom", "html")


def outputs(lab: Lab) -> list[str]:
    return [arg for fmt in FORMATS for arg in ("--output", f"{fmt}:{lab.out / ('nightly.' + fmt)}")]


def snapshot_files(lab: Lab) -> dict[str, bytes]:
    """Every file a run writes: the four outputs and the state folder (lock file aside)."""
    files = {p.name: p.read_bytes() for p in lab.out.iterdir()}
    files |= {f"state/{p.relative_to(lab.state)}": p.read_bytes() for p in lab.state.rglob("*")
              if p.is_file() and p.name != "lock"}
    return files


def spawn(lab: Lab, night: int, pause_dir: Path | None, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop(PAUSE_ENV, None)
    if pause_dir is not None:
        pause_dir.mkdir(exist_ok=True)
        env[PAUSE_ENV] = str(pause_dir)
    args = [str(a) for a in lab.args(night, *outputs(lab), *extra)]
    code = "import sys; from reconciler.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {path.name}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the run never reached {path.name}")
        time.sleep(0.02)
    return path.read_text()


@pytest.fixture
def lab(tmp_path: Path, cli) -> Lab:
    """The lab estate after a complete night 1 (all four outputs and the state written)."""
    lab = write_lab(tmp_path)
    result = cli(*lab.args(1, *outputs(lab)))
    assert result.code == 1, result.err
    return lab


@pytest.mark.parametrize("kill_at", [1, 6], ids=["first-output", "last-report"])
def test_sigkill_mid_write_leaves_previous_files_intact(lab: Lab, cli, tmp_path: Path, kill_at: int) -> None:
    before = snapshot_files(lab)
    pause = tmp_path / "pause"
    proc = spawn(lab, 2, pause)
    for k in range(1, kill_at):  # let the earlier renames happen
        wait_for(pause / f"reached-{k}", proc)
        (pause / f"go-{k}").touch()
    target = Path(wait_for(pause / f"reached-{kill_at}", proc))
    # outputs first (in --output order), then the history entry, and the state (last-report.json) last
    assert target == ((lab.out / "nightly.json") if kill_at == 1 else lab.state / "last-report.json").resolve()
    leftovers = list(target.parent.glob(f".{target.name}.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the new version is complete, not renamed
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    after = snapshot_files(lab)
    if kill_at == 1:  # killed before anything was renamed: every file exactly as night 1 left it
        assert {k: v for k, v in after.items() if not k.startswith(".")} == before
    else:  # outputs and history renamed, last-report.json not: it (the state) is still night 1's
        assert after["state/last-report.json"] == before["state/last-report.json"]
        for fmt in FORMATS:
            assert after[f"nightly.{fmt}"] != before[f"nightly.{fmt}"]
        assert json.loads(after["nightly.json"])["generated_at"] == NIGHT2

    # the next run recovers the lock of the killed one, cleans its temp file and compares with night 1
    rerun = cli(*lab.args(2, *outputs(lab)))
    assert rerun.code == 1, rerun.err
    assert f"took over a stale lock (pid {proc.pid} on {socket.gethostname()}" in rerun.err
    assert not list(target.parent.glob(f".{target.name}.*.tmp"))
    report = json.loads((lab.out / "nightly.json").read_text())
    assert report["previous_run"] == NIGHT1 and report["changes"]["resolved"] == 1


def test_concurrent_runs_never_interleave(lab: Lab, cli, tmp_path: Path) -> None:
    pause = tmp_path / "pause"
    first = spawn(lab, 2, pause)  # holds the lock, paused before its first rename
    wait_for(pause / "reached-1", first)

    second = cli(*lab.args(2, *outputs(lab)))
    assert second.code == 2
    assert "already running" in second.err and f"pid {first.pid}" in second.err

    waiting = spawn(lab, 2, None, "--wait", "30", "--now", "2026-11-03T03:00:00Z")
    told = waiting.stderr.readline()  # blocks until the waiting run found the lock busy
    assert told.startswith(f"reconcile: waiting up to 30 s for the running report (pid {first.pid} ")
    assert waiting.poll() is None
    (pause / "go").touch()
    assert first.wait(30) == 1, first.stderr.read()
    assert waiting.wait(30) == 1, waiting.stderr.read()
    report = json.loads((lab.out / "nightly.json").read_text())
    # the waiting run started after the first one finished: it compares with the first one's report
    assert report["generated_at"] == "2026-11-03T03:00:00Z" and report["previous_run"] == NIGHT2
    assert (lab.state / "lock").read_text() == ""


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_lock_of_a_dead_process_is_taken_over(lab: Lab, cli) -> None:
    pid = dead_pid()
    holder = {"pid": pid, "hostname": socket.gethostname(), "started_at": "2026-11-01T02:00:00Z", "process": None}
    (lab.state / "lock").write_text(json.dumps(holder))
    result = cli(*lab.args(2, *outputs(lab)))
    assert result.code == 1, result.err
    assert f"took over a stale lock (pid {pid} on {socket.gethostname()}, started 2026-11-01T02:00:00Z)" in result.err
    assert (lab.state / "lock").read_text() == ""


def test_without_flock_the_recorded_pid_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filesystems without flock (ENOLCK): a live holder on this host blocks, a dead or reused pid is stale."""

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lock_module.fcntl, "flock", no_flock)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = lock_module.Holder(sleeper.pid, socket.gethostname(), "2026-11-01T02:00:00Z",
                                  lock_module.process_identity(sleeper.pid))
        (tmp_path / "lock").write_text(json.dumps(asdict(live)))
        with pytest.raises(AlreadyRunning, match=f"pid {sleeper.pid}"):
            RunLock(tmp_path).acquire()
        reused = {"pid": sleeper.pid, "hostname": socket.gethostname(), "started_at": "x", "process": "other-boot:1"}
        (tmp_path / "lock").write_text(json.dumps(reused))
        with RunLock(tmp_path) as taken:
            assert taken.stale is not None and taken.stale.pid == sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()
