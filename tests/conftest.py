"""Shared fixtures: run the CLI in-process, locate the shared reference data, and session-wide guarantees."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SCHEMA = REPO / "docs" / "report-schema.json"
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
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def shared() -> Path:
    """The user's reference files beside the repo. Missing in CI is a failure, never a skip."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} not found: the shared reference data must sit beside the repo")
    return SHARED


@pytest.fixture(scope="session", autouse=True)
def only_get_requests() -> Iterator[None]:
    """Read-only by construction: every request any fake Proxmox server saw in this session was a GET."""
    yield
    fakes = sys.modules.get("tests.fakes.pve_server")
    if fakes is None:
        return
    assert fakes.ALL_REQUESTS, "the fake Proxmox API was imported but never asked anything"
    methods = {record.method for record in fakes.ALL_REQUESTS}
    assert methods <= {"GET"}, f"the fake Proxmox API saw non-GET requests: {sorted(methods)}"
