"""One SSH exec on one host, with paramiko: strict host keys, bounded time, bounded output.

- One `SSHClient` per call (and so per host and thread: paramiko clients must not be shared).
- Host keys: only the known_hosts file of the site's `ssh.known_hosts` (default `~/.ssh/known_hosts`).
  An unknown key is refused (`host_key_unknown`), a changed one too (`host_key_mismatch`). Keys are
  never added and the file is never written, whatever `ssh.targets.yaml` says.
- Authentication: `identity_file` when given, the SSH agent when `use_agent`, and the default
  `~/.ssh/id_*` keys only when no identity file is set. No passwords, no keyboard-interactive.
- Time: TCP connect, SSH banner, key exchange and authentication are each bounded by
  `connect_timeout_s`; the command then has `command_timeout_s` in total (not per read).
- Output: stdout and stderr are read together (no deadlock on large output) and capped at
  `max_output_bytes` together (`output_too_large`).

Every failure is an `SshFailure` carrying a `Reason`; nothing else escapes `run_remote`.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from pathlib import Path

import paramiko

from ..config import SshSettings
from ..model import Reason
from .remote import RemoteResult, SshFailure

log = logging.getLogger(__name__)
# paramiko logs a traceback at ERROR level for servers that never speak SSH; the reason code says it all.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_READ_CHUNK = 65536


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"{hostname} is not in known_hosts")
        self.hostname, self.key = hostname, key


class _RefuseUnknown(paramiko.RejectPolicy):
    """RejectPolicy that says which key was offered, so the user can verify and pin it."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(hostname, key)


def known_hosts_path(settings: SshSettings) -> Path:
    return settings.known_hosts or Path("~/.ssh/known_hosts").expanduser()


def load_known_hosts(path: Path, keys: paramiko.HostKeys | None = None) -> paramiko.HostKeys:
    """Read a known_hosts file leniently: `@cert-authority`/`@revoked` and broken lines are skipped
    (paramiko would refuse the whole file); hashed entries and `[host]:port` work. Missing file: empty."""
    keys = paramiko.HostKeys() if keys is None else keys
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return keys
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "@")):
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        except Exception:  # one unreadable line must not hide the others
            continue
        if entry is None or entry.key is None:
            continue
        for name in entry.hostnames:
            keys.add(name, entry.key.get_name(), entry.key)
    return keys


def run_remote(host: str, port: int, user: str | None, identity_file: Path | None, settings: SshSettings,
               command: str, stdin: bytes = b"") -> RemoteResult:
    """Connect, run `command` once (with `stdin` as its input: data, never code), return its output; raise
    SshFailure with a Reason on any failure. `stdin` must be small (it is sent before any output is read)."""
    started = time.monotonic()
    client = paramiko.SSHClient()
    try:
        client.set_missing_host_key_policy(_RefuseUnknown())
        load_known_hosts(known_hosts_path(settings), client.get_host_keys())
        _connect(client, host, port, user, identity_file, settings)
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise SshFailure(Reason.SSH_ERROR, "the SSH session closed right after authentication")
        try:
            channel = transport.open_session(timeout=settings.connect_timeout_s)
        except paramiko.SSHException as exc:
            raise SshFailure(Reason.SSH_ERROR, f"cannot open a session channel: {exc}") from None
        try:
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            stdout, stderr, status = _read_all(channel, settings)
        finally:
            channel.close()
        # paramiko records why its transport thread stopped before it closes the channels: no race with is_active()
        if status == -1 and (not transport.is_active() or getattr(transport, "saved_exception", None) is not None):
            # The whole connection died (host reboot, sshd killed, network cut): what arrived is a fragment,
            # and saying "unparseable output" would blame docker for an SSH failure.
            raise SshFailure(Reason.SSH_ERROR, f"the connection was lost before the command finished "
                                               f"({len(stdout) + len(stderr)} bytes received)")
        return RemoteResult(_decode(stdout), _decode(stderr), status, time.monotonic() - started)
    finally:
        client.close()


def _connect(client: paramiko.SSHClient, host: str, port: int, user: str | None, identity_file: Path | None,
             settings: SshSettings) -> None:
    timeout = settings.connect_timeout_s
    where = f"{host}:{port}"
    sock = _tcp_connect(host, port, timeout)
    try:
        # The TCP connection is ours, so paramiko's `timeout` only bounds the handshake; it must be longer
        # than banner_timeout or a silent server gives the misleading "No existing session".
        client.connect(
            hostname=host, port=port, username=user, sock=sock,
            key_filename=str(identity_file) if identity_file else None,
            allow_agent=settings.use_agent, look_for_keys=identity_file is None,
            timeout=timeout * 2, banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
            compress=False,
        )
    except _UnknownHostKey as exc:
        fingerprint = exc.key.fingerprint if hasattr(exc.key, "fingerprint") else exc.key.get_name()
        raise SshFailure(Reason.HOST_KEY_UNKNOWN,
                         f"{exc.hostname} offered {exc.key.get_name()} key {fingerprint}, which is not in "
                         f"{known_hosts_path(settings)}; refused") from None
    except paramiko.BadHostKeyException as exc:
        got = getattr(exc.key, "fingerprint", exc.key.get_name())
        raise SshFailure(Reason.HOST_KEY_MISMATCH,
                         f"{where}: host key changed (now {got}, known_hosts has a different key); refused") from None
    except paramiko.AuthenticationException as exc:
        raise SshFailure(Reason.SSH_AUTH_DENIED, f"{where}: authentication as {user or 'the current user'} "
                                                 f"failed ({_one_line(exc) or type(exc).__name__})") from None
    except TimeoutError:
        raise SshFailure(Reason.SSH_TIMEOUT, f"{where}: no SSH answer within {timeout:g} s") from None
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        raise SshFailure(Reason.SSH_UNREACHABLE, f"{where}: {_connect_error(exc)}") from None
    except socket.gaierror as exc:
        raise SshFailure(Reason.SSH_UNREACHABLE, f"{host}: name does not resolve ({exc.strerror})") from None
    except paramiko.SSHException as exc:
        text = _one_line(exc)
        if "banner" in text.lower() or "timeout" in text.lower() or "timed out" in text.lower():
            raise SshFailure(Reason.SSH_TIMEOUT, f"{where}: no SSH protocol answer within {timeout:g} s "
                                                 f"({text})") from None
        raise SshFailure(Reason.SSH_ERROR, f"{where}: {text or type(exc).__name__}") from None
    except (ConnectionError, OSError) as exc:
        raise SshFailure(Reason.SSH_UNREACHABLE, f"{where}: {exc.strerror or exc}") from None
    except EOFError:
        raise SshFailure(Reason.SSH_ERROR, f"{where}: the server closed the connection") from None
    except Exception as exc:  # paramiko raises plain Exceptions in a few corners
        raise SshFailure(Reason.SSH_ERROR, f"{where}: {type(exc).__name__}: {_one_line(exc)}") from None
    finally:
        if client.get_transport() is None:
            sock.close()


def _tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    where = f"{host}:{port}"
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise SshFailure(Reason.SSH_TIMEOUT, f"{where}: TCP connection not established within {timeout:g} s") from None
    except socket.gaierror as exc:
        raise SshFailure(Reason.SSH_UNREACHABLE, f"{host}: name does not resolve ({exc.strerror})") from None
    except ConnectionRefusedError:
        raise SshFailure(Reason.SSH_UNREACHABLE, f"{where}: connection refused") from None
    except OSError as exc:
        raise SshFailure(Reason.SSH_UNREACHABLE, f"{where}: {exc.strerror or exc}") from None


def _read_all(channel: paramiko.Channel, settings: SshSettings) -> tuple[bytes, bytes, int | None]:
    """Drain stdout and stderr together until EOF and exit status, within the deadline and the cap."""
    deadline = time.monotonic() + settings.command_timeout_s
    cap = settings.max_output_bytes
    out, err = bytearray(), bytearray()
    streams = ((channel.recv_ready, channel.recv, out), (channel.recv_stderr_ready, channel.recv_stderr, err))
    while True:
        progressed = False
        for ready, receive, buffer in streams:
            while ready():
                chunk = receive(_READ_CHUNK)
                if not chunk:
                    break
                buffer += chunk
                progressed = True
                _check_cap(len(out) + len(err), cap)
        if (channel.exit_status_ready() and (channel.eof_received or channel.closed)
                and not channel.recv_ready() and not channel.recv_stderr_ready()):
            return bytes(out), bytes(err), channel.recv_exit_status()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SshFailure(Reason.SSH_TIMEOUT,
                             f"the remote command did not finish within {settings.command_timeout_s:g} s")
        if not progressed:
            select.select([channel], [], [], min(remaining, 0.2))


def _check_cap(size: int, cap: int) -> None:
    if size > cap:
        raise SshFailure(Reason.OUTPUT_TOO_LARGE, f"the remote command printed more than {cap} bytes; stopped")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _connect_error(exc: paramiko.ssh_exception.NoValidConnectionsError) -> str:
    errors = getattr(exc, "errors", {}) or {}
    for error in errors.values():
        if isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == 111:
            return "connection refused"
        return error.strerror or str(error)
    return "unable to connect"


def host_key(host: str, port: int, timeout_s: float) -> tuple[str, str, str]:
    """The host key the server offers: (known_hosts line, key type, OpenSSH-style SHA256 fingerprint).

    Only the key exchange runs (no authentication, no command); nothing is written. Raises SshFailure."""
    import base64
    import hashlib

    sock = _tcp_connect(host, port, timeout_s)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout_s
        transport.start_client(timeout=timeout_s)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SshFailure(Reason.SSH_ERROR, f"{host}:{port}: no SSH key exchange: {_one_line(exc)}") from None
    finally:
        transport.close()
    blob = key.asbytes()
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.get_name()} {base64.b64encode(blob).decode()}", key.get_name(), fingerprint


def known_key_state(settings: SshSettings, host: str, port: int, key_type: str, key_line: str) -> str:
    """`known`, `unknown` or `changed`: the offered key against the site's known_hosts (never written)."""
    import base64

    keys = load_known_hosts(known_hosts_path(settings))
    name = host if port == 22 else f"[{host}]:{port}"
    entry = keys.lookup(name)
    if entry is None or key_type not in entry:
        return "unknown" if entry is None else "changed"
    offered = base64.b64decode(key_line.split()[2])
    return "known" if entry[key_type].asbytes() == offered else "changed"
