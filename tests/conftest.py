"""Shared fixtures: run the CLI in-process, locate the reference data in tests/data, and session-wide guarantees.

Guarantees checked after every test and again over the whole session (bookkeeping in tests/guarantees.py,
self-tests in tests/test_guarantees.py):
- read-only: every request any fake Proxmox API saw was a GET; every command any loopback sshd ran, and
  every fake `docker` call, is one of the documented ones;
- secrets: every test runs with a sentinel token in $RECONCILE_SENTINEL_TOKEN, and every fake Proxmox API's
  secret is registered as one; none may appear in the `cli` fixture's stdout/stderr, in any log record (the
  root logger is at DEBUG for the session, with a handler that checks every record), in any output a test
  captured, or in any file under pytest's temporary folders.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main
from tests import guarantees
from tests.fakes import pve_server

REPO = Path(__file__).resolve().parents[1]
# The user's binding snapshots and the Proxmox / docker samples, kept in the repo: a fresh clone needs nothing
# beside it (tests/data/README.md says where each came from).
DATA = REPO / "tests" / "data"
SCHEMA = REPO / "docs" / "report-schema.json"
# A fresh clone has nothing beside it, but a developer's checkout may (reference folders, other clones): a test
# that opened or listed anything in the folder around the repo would pass here and fail there. An audit hook
# records every such access and fails the session. The repo itself and the interpreter's own prefix (a venv may
# sit beside the clone, as in .ci/run) stay allowed; when the repo's parent is "/" or holds the temp folder, the
# tests' own temporary files would be "beside" it, so nothing is watched.
_TEMP = os.path.abspath(tempfile.gettempdir()) + os.sep
_AROUND = os.path.abspath(REPO.parent) + os.sep
_ALLOWED = tuple(os.path.abspath(p) + os.sep for p in {str(REPO), sys.prefix, sys.base_prefix, sys.exec_prefix})
WATCH_BESIDE_REPO = not _TEMP.startswith(_AROUND) and os.sep != _AROUND
READS_BESIDE_REPO: list[str] = []


def _watch_reads_beside_repo(event: str, args: tuple[object, ...]) -> None:
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    target = args[0]
    if isinstance(target, bytes):
        target = os.fsdecode(target)
    if not isinstance(target, str | os.PathLike):
        return
    path = os.path.abspath(target)
    if path.startswith(_AROUND) and not path.startswith(_ALLOWED) and path + os.sep not in _ALLOWED:
        READS_BESIDE_REPO.append(f"{event} {target}")


if WATCH_BESIDE_REPO:
    sys.addaudithook(_watch_reads_beside_repo)
IN_CI = os.environ.get("CI", "").lower() == "true"

# Loopback sshd + fake docker fixtures, shared by every test that takes the SSH path.
pytest_plugins = ["tests.fakes.docker_fixtures"]


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run `reconcile ARGS…` in this process; returns exit code, stdout and stderr."""
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        guarantees.note(f"reconcile {' '.join(map(str, args))[:200]} (stdout)", captured.out)
        guarantees.note(f"reconcile {' '.join(map(str, args))[:200]} (stderr)", captured.err)
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def ref_data() -> Path:
    """The reference data the tests read: tests/data (binding snapshots, Proxmox API and docker samples)."""
    assert DATA.is_dir(), f"{DATA} not found: the test data ships with the repo"
    return DATA


@pytest.fixture
def packaged_demo(monkeypatch, tmp_path):
    """In-process runs use the demo inside the package (no ./sites) and may not connect anywhere."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILE_SITES_DIR", str(tmp_path / "no-sites"))
    attempts: list[object] = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network disabled by test_demo")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield
    assert attempts == []


# ── session-wide guarantees ──────────────────────────────────────────────────

_started_servers = 0
_original_init = pve_server.FakePVE.__init__
_original_start = pve_server.FakePVE.start


def _registering_init(self: pve_server.FakePVE, *args: object, **kwargs: object) -> None:
    _original_init(self, *args, **kwargs)  # type: ignore[arg-type]
    guarantees.register_secret(self.secret)  # whatever token a fake API accepts must never be printed


def _counting_start(self: pve_server.FakePVE) -> pve_server.FakePVE:
    global _started_servers
    _started_servers += 1
    return _original_start(self)


pve_server.FakePVE.__init__ = _registering_init  # type: ignore[method-assign]
pve_server.FakePVE.start = _counting_start  # type: ignore[method-assign]

_LEAK_HANDLER = guarantees.LeakCatchingHandler()


def pytest_configure(config: pytest.Config) -> None:
    # Every record of every logger reaches the leak check, debug included; proxmoxer pins its own loggers
    # at WARNING, so they are opened up too (they log URLs and response bodies at INFO/DEBUG).
    root = logging.getLogger()
    root.addHandler(_LEAK_HANDLER)
    root.setLevel(logging.DEBUG)
    for name in ("proxmoxer", "proxmoxer.core", "proxmoxer.backends.https"):
        logging.getLogger(name).setLevel(logging.DEBUG)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if guarantees.FAULT_MATRIX:
        terminalreporter.section("fault matrix")
        for line in guarantees.fault_matrix_table():
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    for title, content in report.sections:  # captured stdout, stderr and log of this phase
        guarantees.note(f"{item.nodeid} ({title})", content)


_SSH_VIOLATIONS_SEEN: set[str] = set()


@pytest.fixture(autouse=True)
def guarantees_per_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test runs with the sentinel token set. After it: no secret leaked, only GETs reached a fake
    Proxmox API and only documented commands a loopback sshd (the session check repeats all three)."""
    monkeypatch.setenv(guarantees.SENTINEL_ENV, guarantees.SENTINEL)
    tmp = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    leaks_before, requests_before = len(guarantees.LEAKS), len(pve_server.ALL_REQUESTS)
    _LEAK_HANDLER.current = request.node.nodeid
    yield
    _LEAK_HANDLER.current = "session"
    methods = {record.method for record in pve_server.ALL_REQUESTS[requests_before:]}
    assert methods <= {"GET"}, f"the fake Proxmox API saw non-GET requests: {sorted(methods)}"
    ssh = guarantees.check_ssh_records(tmp_path_factory.getbasetemp(), "sshd*/*/sshd_config")
    new = [v for v in ssh.violations if v not in _SSH_VIOLATIONS_SEEN]
    _SSH_VIOLATIONS_SEEN.update(new)
    assert not new, "\n".join(new[:10])
    if tmp is not None:
        guarantees.scan_tree(tmp)
    leaks = guarantees.LEAKS[leaks_before:]
    assert not leaks, "secret leaked: " + "; ".join(map(str, leaks[:5]))


@pytest.fixture(scope="session", autouse=True)
def session_guarantees(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole session: only GETs reached the fake APIs, only documented commands the sshds,
    and no secret is in any file any test left under pytest's temporary folders."""
    yield
    assert not READS_BESIDE_REPO, f"tests read outside the repo (tests/data holds the data): {READS_BESIDE_REPO[:5]}"
    if _started_servers:
        assert pve_server.ALL_REQUESTS, "fake Proxmox APIs were started but never asked anything"
        methods = {record.method for record in pve_server.ALL_REQUESTS}
        assert methods <= {"GET"}, f"the fake Proxmox API saw non-GET requests: {sorted(methods)}"
    base = tmp_path_factory.getbasetemp()
    ssh = guarantees.check_ssh_records(base)
    assert not ssh.violations, "\n".join(ssh.violations[:10])
    guarantees.scan_tree(base)
    assert not guarantees.LEAKS, "secret leaked: " + "; ".join(map(str, guarantees.LEAKS[:10]))
