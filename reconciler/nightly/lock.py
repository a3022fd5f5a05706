"""One nightly run per state folder at a time: a lock file holding who runs (pid, hostname, start time).

The lock is an exclusive `flock` on `STATE/lock`, so the kernel releases it when the holder dies, even by
SIGKILL: a dead run can never block the next night. The file's content says who holds it; content found
on a file nobody holds was left by a run that died, and is reported as a stale lock taken over.

Where `flock` is not supported (some network filesystems answer ENOLCK), the content alone decides: a lock
whose pid is dead on this host — or was reused by another process, seen from its start time — is stale
and taken over; a lock from another host is respected.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import TracebackType

from ..errors import ReconcileError
from ..record import record

LOCK_NAME = "lock"
POLL_S = 0.1


class AlreadyRunning(ReconcileError):
    """Another run holds the state folder's lock (exit 2)."""


@record
class Holder:
    pid: int
    hostname: str
    started_at: str  # UTC, ISO 8601
    process: str | None = None  # boot id + start tick of the pid: tells a reused pid from the original

    def describe(self) -> str:
        return f"pid {self.pid} on {self.hostname}, started {self.started_at}"


def process_identity(pid: int) -> str | None:
    """`BOOT_ID:START_TICKS` of a live process (Linux /proc), None when unknown."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat; fields 1-2 end at the last ")"
    except (OSError, IndexError):
        return None
    return f"{boot}:{start}"


def me() -> Holder:
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Holder(os.getpid(), socket.gethostname(), stamp, process_identity(os.getpid()))


def holder_alive(holder: Holder) -> bool:
    """Is the process named by a lock on this host still the one that wrote it?"""
    if holder.hostname != socket.gethostname():
        return True  # cannot be checked from here: respect it
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return holder.process is None or process_identity(holder.pid) in (None, holder.process)


def parse_holder(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["hostname"]), str(data["started_at"]), data.get("process"))
    except (ValueError, KeyError, TypeError):
        return None


class RunLock:
    """`with RunLock(state_dir, wait_s) as lock:`; `lock.stale` is the dead holder taken over, if any."""

    def __init__(self, folder: Path, wait_s: float = 0.0, on_wait: Callable[[Holder | None], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = folder / LOCK_NAME
        self.wait_s = max(0.0, wait_s)
        self.on_wait = on_wait  # told once, when the lock is busy and we start waiting
        self.sleep = sleep
        self.stale: Holder | None = None
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ReconcileError(f"{self.path}: cannot open the lock file: {exc.strerror or exc}") from None
        deadline = time.monotonic() + self.wait_s
        told = False
        try:
            while not self._try_lock(fd):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    holder = parse_holder(_read(fd))
                    who = holder.describe() if holder else "holder unknown"
                    hint = f"waited {self.wait_s:g} s" if self.wait_s else "use --wait SECONDS to wait for it"
                    raise AlreadyRunning(f"already running ({who}; lock {self.path}); {hint}")
                if not told and self.on_wait is not None:
                    self.on_wait(parse_holder(_read(fd)))
                    told = True
                self.sleep(min(POLL_S, remaining))
            previous = parse_holder(_read(fd))
            self.stale = previous if previous is not None and previous.pid != os.getpid() else None
            _write(fd, json.dumps(asdict(me())) + "\n")
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _try_lock(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise ReconcileError(f"{self.path}: cannot lock: {exc.strerror or exc}") from None
        holder = parse_holder(_read(fd))  # no flock here: the recorded holder decides
        return holder is None or holder.pid == os.getpid() or not holder_alive(holder)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            _write(self._fd, "")  # an empty lock file means "nobody", not "someone died"
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())
    os.fsync(fd)
