"""Backup files of every backup host of a site, over SSH: one connection and one fixed script per host.

The script is `backup_files.remote_command()`, the same for every host; the host's targets go on its stdin as
data (`backup_files.encode_targets`). A host that fails in any way gives a `BackupTargetFiles` with
`observed=False`, a `Gap` and a failed `SourceStatus`, and the others are still checked. At most
`ssh.concurrency` hosts at a time. Nothing here raises for a host's trouble.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from ..config import SshSettings
from ..model import Gap, GapScope, Reason, SourceKind, SourceState, SourceStatus
from ..model.backup import BackupTargetFiles
from .backup_files import TargetSpec, UnsendableValue, encode_targets, parse_output, remote_command
from .docker import Endpoint
from .pool import worker_pool
from .remote import RemoteResult, SshFailure

log = logging.getLogger(__name__)

Runner = Callable[[Endpoint, SshSettings, str, bytes], RemoteResult]


def _run(endpoint: Endpoint, settings: SshSettings, command: str, stdin: bytes) -> RemoteResult:
    from .ssh import run_remote  # paramiko is imported only when a host is really contacted

    assert endpoint.host is not None
    return run_remote(endpoint.host, endpoint.port, endpoint.user, endpoint.identity_file, settings, command, stdin)


def collect_backup_files(endpoints: Sequence[Endpoint], targets: Mapping[str, Sequence[TargetSpec]],
                         ssh: SshSettings, site: str, runner: Runner = _run) -> tuple[BackupTargetFiles, ...]:
    """Check every endpoint's targets (`targets[endpoint.target]`), hosts in parallel, order kept."""
    if not endpoints:
        return ()

    def one(endpoint: Endpoint) -> BackupTargetFiles:
        return check_host(endpoint, targets.get(endpoint.target, ()), ssh, site, runner)

    with worker_pool(max(1, min(ssh.concurrency, len(endpoints))), "ssh-backup") as pool:
        return tuple(pool.map(one, endpoints))


def check_host(endpoint: Endpoint, targets: Sequence[TargetSpec], ssh: SshSettings, site: str,
               runner: Runner = _run) -> BackupTargetFiles:
    host = endpoint.target
    now = int(time.time())
    if endpoint.problem or not endpoint.host:
        return failed(host, site, Reason.UNRESOLVED_TARGET, endpoint.problem or "no address", now)
    try:
        data = encode_targets(targets)
    except UnsendableValue as exc:  # the loader marks such targets unchecked: this is a bug guard
        return failed(host, site, Reason.INVALID_BINDING, str(exc), now)
    try:
        result = runner(endpoint, ssh, remote_command(), data)
    except SshFailure as exc:
        return failed(host, site, exc.reason, exc.detail, now)
    except Exception as exc:  # a bug or an unforeseen library error must not stop the other hosts
        log.debug("backup host %s: unexpected error", host, exc_info=True)
        return failed(host, site, Reason.SSH_ERROR, f"{type(exc).__name__}: {exc}", now)
    checks = parse_output(result.stdout)
    wanted = {t.name for t in targets}
    if result.exit_status != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0][:200]
        return failed(host, site, Reason.OUTPUT_UNPARSEABLE,
                      f"the backup-file script exited {result.exit_status}: {first}", now)
    lost = sorted(wanted - set(checks))
    if lost:
        return failed(host, site, Reason.OUTPUT_UNPARSEABLE,
                      f"the backup-file script said nothing of {', '.join(lost[:3])}", now)
    status = SourceStatus(SourceKind.BACKUP, host, site, SourceState.OK,
                          detail=f"{len(checks)} backup target(s) ({result.elapsed_s:.1f} s)", requests=1)
    return BackupTargetFiles(host=host, site=site, observed=True, observed_at=now,
                             checks=tuple(checks[t.name] for t in targets), status=status)


def failed(host: str, site: str, reason: Reason, detail: str, now: int) -> BackupTargetFiles:
    gap = Gap(GapScope.BACKUP_HOST, reason, detail, target=host)
    status = SourceStatus(SourceKind.BACKUP, host, site, SourceState.FAILED, reason, detail,
                          0 if reason is Reason.UNRESOLVED_TARGET else 1)
    return BackupTargetFiles(host=host, site=site, observed=False, observed_at=now, gap=gap, status=status)


def skipped_backup_files(hosts: Iterable[str], site: str, detail: str = "skipped (--skip-ssh)"
                         ) -> tuple[BackupTargetFiles, ...]:
    now = int(time.time())
    out = []
    for host in hosts:
        gap = Gap(GapScope.BACKUP_HOST, Reason.SKIPPED, detail, target=host)
        status = SourceStatus(SourceKind.BACKUP, host, site, SourceState.SKIPPED, Reason.SKIPPED, detail)
        out.append(BackupTargetFiles(host=host, site=site, observed=False, observed_at=now, gap=gap, status=status))
    return tuple(out)
