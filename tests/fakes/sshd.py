"""A real OpenSSH sshd on 127.0.0.1 for the docker-over-SSH tests.

Each `SshServer` is one sshd process on an ephemeral loopback port, running as the current user, with
its own host key, one authorised client key, and a `bin/` folder as the whole PATH (via `SetEnv`) holding
the fake `docker` (tests/fakes/fake_docker), optionally `docker-compose`, and a fake `sudo`. Nothing else is
on PATH, so a `docker` or `docker-compose` the machine itself happens to have never answers in its place (the
remote script needs only shell builtins besides those). A
`ForceCommand` wrapper records every command line the client asked to run (NUL-separated) before
running it with /bin/sh, so tests can assert that only the documented command ever ran.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
HERE = Path(__file__).resolve().parent

_WRAPPER = """#!/bin/sh
printf '%s\\0' "$SSH_ORIGINAL_COMMAND" >> "{log}"
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
"""

_SUDO = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_DOCKER_DIR/sudo.log"
if [ -f "$FAKE_DOCKER_DIR/sudo_password" ]; then
  echo "sudo: a password is required" >&2
  exit 1
fi
[ "$1" = "-n" ] && shift
exec "$@"
"""

_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
SetEnv PATH={bin} FAKE_DOCKER_DIR={ctl}{extra_env}
ForceCommand {dir}/wrapper
LogLevel VERBOSE
{extra_config}"""


def sshd_available() -> bool:
    return SSHD.is_file() and os.access(SSHD, os.X_OK)


def keygen(path: Path) -> str:
    """A fresh ed25519 key pair at `path`/`path.pub`; returns the public key line."""
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "reconciler-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path.with_suffix(".pub").read_text().strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SshServer:
    dir: Path
    port: int
    user: str
    client_key: Path  # the authorised private key
    host_public: str  # "ssh-ed25519 AAAA... comment"
    pid: int = 0
    host: str = "127.0.0.1"
    extra: dict = field(default_factory=dict)

    @property
    def ctl(self) -> Path:
        return self.dir / "ctl"

    @property
    def bin(self) -> Path:
        return self.dir / "bin"

    def known_hosts_line(self, public: str | None = None) -> str:
        kind, blob = (public or self.host_public).split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}\n"

    def write_known_hosts(self, path: Path, public: str | None = None) -> Path:
        path.write_text(self.known_hosts_line(public))
        return path

    def configure(self, mode: str = "ok", ls: str | None = None, ps: str | None = None, docker: bool = True,
                  compose_v1: str | None = None, sudo_password: bool = False, delay: float | None = None,
                  huge_bytes: int | None = None) -> None:
        """Choose what the fake docker on this host does (see tests/fakes/fake_docker)."""
        (self.ctl / "mode").write_text(mode)
        (self.ctl / "ls.json").write_text(ls if ls is not None else "[]\n")
        (self.ctl / "ps.jsonl").write_text(ps if ps is not None else "")
        for name, value in (("delay", delay), ("huge_bytes", huge_bytes)):
            target = self.ctl / name
            if value is None:
                target.unlink(missing_ok=True)
            else:
                target.write_text(str(value))
        password = self.ctl / "sudo_password"
        if sudo_password:
            password.write_text("yes")
        else:
            password.unlink(missing_ok=True)
        self._install("docker", docker)
        self._install("docker-compose", compose_v1 is not None)
        if compose_v1 is not None:
            (self.ctl / "compose_version").write_text(compose_v1)

    def _install(self, name: str, present: bool) -> None:
        target = self.bin / name
        target.unlink(missing_ok=True)
        if present:
            text = (HERE / "fake_docker").read_text().replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1)
            target.write_text(text)
            target.chmod(0o755)

    def commands(self) -> list[str]:
        """Every command line clients asked this server to run, in order."""
        log = self.dir / "commands.log"
        if not log.exists():
            return []
        return [c for c in log.read_bytes().decode("utf-8", "replace").split("\0") if c]

    def docker_calls(self) -> list[list[str]]:
        log = self.ctl / "docker.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def sudo_calls(self) -> list[str]:
        log = self.ctl / "sudo.log"
        return log.read_text().splitlines() if log.exists() else []

    def stop(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            self.pid = 0


def start_sshd(base: Path, attempts: int = 5, extra_env: dict[str, str] | None = None,
               extra_config: str = "") -> SshServer:
    """Start one sshd under `base` (a fresh folder); raises RuntimeError when it does not come up.

    For the benchmarks (one sshd standing for many hosts): `extra_env` adds variables to every session
    (`SetEnv`; SHLVL=1 makes bash, the login shell running each command, skip ~/.bashrc, which sshd
    sessions otherwise source), `extra_config` adds sshd_config lines (e.g. "MaxStartups 100").
    """
    base.mkdir(parents=True, exist_ok=True)
    for sub in ("bin", "ctl"):
        (base / sub).mkdir(exist_ok=True)
    host_public = keygen(base / "host_ed25519")
    client_public = keygen(base / "client_ed25519")
    (base / "authorized_keys").write_text(client_public + "\n")
    (base / "wrapper").write_text(_WRAPPER.format(log=base / "commands.log"))
    (base / "wrapper").chmod(0o755)
    (base / "bin" / "sudo").write_text(_SUDO)
    (base / "bin" / "sudo").chmod(0o755)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # the privilege separation folder
    import getpass

    last_error = ""
    for _ in range(attempts):
        port = free_port()
        config = base / "sshd_config"
        extra = "".join(f" {key}={value}" for key, value in (extra_env or {}).items())
        config.write_text(_CONFIG.format(port=port, dir=base, bin=base / "bin", ctl=base / "ctl", extra_env=extra,
                                          extra_config=extra_config))
        check = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"sshd -t refused the test config: {check.stderr.strip()}")
        pidfile = base / "sshd.pid"
        pidfile.unlink(missing_ok=True)
        subprocess.run([str(SSHD), "-f", str(config), "-E", str(base / "sshd.log")], check=False,
                       capture_output=True)
        pid = _wait_for(pidfile, port)
        if pid:
            server = SshServer(base, port, getpass.getuser(), base / "client_ed25519", host_public, pid)
            server.configure()
            return server
        last_error = (base / "sshd.log").read_text() if (base / "sshd.log").exists() else "no log"
    raise RuntimeError(f"sshd did not start: {last_error[-500:]}")


def _wait_for(pidfile: Path, port: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip().isdigit():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return int(pidfile.read_text().strip())
        time.sleep(0.02)
    return 0


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections (kernel backlog) but never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on (connection refused)."""
    yield free_port()
