"""Bookkeeping for the guarantees checked across the whole test session (wired up in tests/conftest.py).

- Secrets: `SENTINEL` is set in `SENTINEL_ENV` for every test, and every secret a fake Proxmox API is
  started with is registered too. Everything the reconciler prints, logs or writes is scanned for them:
  the `cli` fixture's stdout/stderr, every log record at any level, every captured output section of
  every test, and every file under pytest's temporary folders (reports, snapshots, state files, logs).
- Read-only: the loopback sshd servers record each command line a client asked to run and each fake
  `docker` invocation; only the documented remote commands may appear there.

Nothing here knows about a particular test; tests/test_guarantees.py proves the scanners can fail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SENTINEL_ENV = "RECONCILE_SENTINEL_TOKEN"
SENTINEL = "sentinel-3f9c1d2e-token-must-never-be-printed-7a41"
MIN_SECRET_LEN = 8  # shorter test secrets would match by accident; none of the suite's are that short
MAX_SCANNED_FILE = 64 * 1024 * 1024

_lock = threading.Lock()
SECRETS: set[str] = {SENTINEL}


@dataclass(frozen=True, slots=True)
class Leak:
    where: str  # test node id, file path or "log record ..."
    secret: str

    def __str__(self) -> str:
        return f"{self.where}: contains secret {self.secret[:4]}…"


LEAKS: list[Leak] = []


def register_secret(value: str | None) -> None:
    if value and len(value) >= MIN_SECRET_LEN:
        with _lock:
            SECRETS.add(value)


def secrets_in(text: str | bytes) -> list[str]:
    """The registered secrets that occur in `text`."""
    with _lock:
        known = list(SECRETS)
    if isinstance(text, bytes):
        return [s for s in known if s.encode() in text]
    return [s for s in known if s in text]


def note(where: str, text: str | bytes) -> list[Leak]:
    found = [Leak(where, secret) for secret in secrets_in(text)]
    if found:
        with _lock:
            LEAKS.extend(found)
    return found


class LeakCatchingHandler(logging.Handler):
    """Formats every record it sees (message, arguments and exception text) and checks it for secrets."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records = 0
        self.current = "session"  # the test running now, for attribution

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted must not break the run it comes from
            text = f"{record.msg!r} {record.args!r}"
        self.records += 1
        note(f"{self.current}: log record {record.name}:{record.levelname}", text)


def scan_tree(root: Path, skip: Iterable[Path] = ()) -> list[Leak]:
    """Every file under `root` holding a secret, except files that are nothing but a secret.

    A file whose whole content is one secret is a `token_secret_file` written by a test: that is where
    secrets are supposed to live.
    """
    skipped = {p.resolve() for p in skip}
    found: list[Leak] = []
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        try:
            if not path.is_file() or path.is_symlink() or path.resolve() in skipped:
                continue
            if path.stat().st_size > MAX_SCANNED_FILE:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if data.strip().decode("utf-8", "replace") in SECRETS:
            continue
        found += note(str(path), data)
    return found


# ── read-only over SSH ───────────────────────────────────────────────────────


def documented_remote_commands() -> set[str]:
    """The docker script (plain and through sudo) and the backup-file script: nothing else may ever run remotely."""
    from reconciler.collect import backup_files
    from reconciler.collect.docker_output import remote_command

    return {remote_command(False), remote_command(True), backup_files.remote_command()}


def documented_docker_calls() -> set[tuple[str, ...]]:
    from reconciler.collect.docker_output import COMMANDS

    calls = set()
    for command in COMMANDS:
        words = command.split(" ", 5) if command.startswith("docker ps") else command.split()
        calls.add(tuple(words))
    return calls


@dataclass(frozen=True, slots=True)
class SshRecords:
    servers: int  # sshd folders found
    commands: int  # command lines recorded in total
    docker_calls: int
    violations: tuple[str, ...]


def check_ssh_records(root: Path, pattern: str = "**/sshd_config") -> SshRecords:
    """Every command any loopback sshd under `root` ran, and every fake docker call, must be documented.

    `pattern` finds the servers' folders (each holds its `sshd_config`); the default searches everywhere."""
    import json

    allowed_commands = documented_remote_commands()
    allowed_calls = documented_docker_calls()
    violations: list[str] = []
    servers = commands = calls = 0
    for config in sorted(root.glob(pattern)):
        servers += 1
        log = config.parent / "commands.log"
        if log.exists():
            for command in (c for c in log.read_bytes().decode("utf-8", "replace").split("\0") if c):
                commands += 1
                if command not in allowed_commands:
                    violations.append(f"{log}: undocumented remote command {command[:120]!r}")
        docker_log = config.parent / "ctl" / "docker.log"
        if docker_log.exists():
            for line in docker_log.read_text().splitlines():
                if not line.strip():
                    continue
                calls += 1
                call = tuple(json.loads(line))
                if call not in allowed_calls:
                    violations.append(f"{docker_log}: undocumented docker call {call!r}")
        sudo_log = config.parent / "ctl" / "sudo.log"
        if sudo_log.exists():
            for line in sudo_log.read_text().splitlines():
                if not (line.startswith("-n docker ") or line.startswith("-n docker-compose ")):
                    violations.append(f"{sudo_log}: sudo used for something else: {line[:120]!r}")
    return SshRecords(servers, commands, calls, tuple(violations))


# ── the fault matrix's summary (tests/test_fault_matrix.py fills it, tests/conftest.py prints it) ──────


@dataclass(frozen=True, slots=True)
class FaultRow:
    case: str
    fault: str
    exit_code: int
    unknown_subjects: int  # distinct unknown findings expected and seen
    sources_intact: int  # sources reported exactly as in the clean run
    false_missing: int
    unknown_findings: int


FAULT_MATRIX: list[FaultRow] = []


def fault_matrix_table() -> list[str]:
    rows = FAULT_MATRIX
    faults = [r for r in rows if r.case != "clean"]
    lines = [f"{'case':<24} {'fault':<40} {'exit':>4} {'unknown':>7} {'intact':>6} {'missing':>7}"]
    lines += [f"{r.case:<24} {r.fault[:40]:<40} {r.exit_code:>4} {r.unknown_findings:>7} {r.sources_intact:>6} "
              f"{r.false_missing:>7}" for r in rows]
    lines.append(f"fault matrix: {len(rows)} cases, {len(faults)} faults survived, "
                 f"false missing = {sum(r.false_missing for r in rows)}")
    return lines
