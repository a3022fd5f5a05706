"""pytest fixtures for the docker-over-SSH tests (a plugin module: `pytest_plugins = [...]`).

- `sshd_factory`: starts real loopback sshd servers on demand (see tests/fakes/sshd.py); all are stopped
  at the end of the session. Without /usr/sbin/sshd the tests skip locally and FAIL under CI=true.
- `ssh_host`: one fresh server, configured for the happy path.
- `ssh_settings`: builds `SshSettings` that trust exactly the given servers' host keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.config import SshSettings

from .sshd import SshServer, sshd_available, start_sshd

IN_CI = os.environ.get("CI", "").lower() == "true"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "docker"


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], SshServer]]:
    if not sshd_available():
        message = "/usr/sbin/sshd is not installed (apt-get install openssh-server)"
        if IN_CI:
            pytest.fail(f"{message}: required under CI=true")
        pytest.skip(message)
    servers: list[SshServer] = []
    base = tmp_path_factory.mktemp("sshd")

    def make() -> SshServer:
        server = start_sshd(base / f"host{len(servers)}")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def ssh_host(sshd_factory: Callable[[], SshServer]) -> SshServer:
    return sshd_factory()


@pytest.fixture
def ssh_settings(tmp_path: Path) -> Callable[..., SshSettings]:
    """`ssh_settings(server, ...)`: settings trusting the listed servers' keys, using the first one's key."""

    def build(*servers: SshServer, **changes: object) -> SshSettings:
        known = tmp_path / "known_hosts"
        known.write_text("".join(s.known_hosts_line() for s in servers))
        settings = SshSettings(known_hosts=known, identity_file=servers[0].client_key if servers else None,
                               use_agent=False, connect_timeout_s=5.0, command_timeout_s=15.0)
        return replace(settings, **changes) if changes else settings

    return build
