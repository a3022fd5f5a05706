"""What one remote command gives back, and how it fails: shared by the SSH client and the docker collector.

Kept apart from `ssh.py` so that importing the collector does not import paramiko (about 0.2 s, with
invoke) in runs that never open an SSH connection.
"""

from __future__ import annotations

from ..model import Reason
from ..record import record


class SshFailure(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@record
class RemoteResult:
    stdout: str
    stderr: str
    exit_status: int | None  # -1 when the server closed without an exit status
    elapsed_s: float
