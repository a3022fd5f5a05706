"""Live compose stacks and containers of every docker host of a site, over SSH, hosts in parallel.

One SSH connection and one exec per host, running the fixed script of `docker_output.remote_script`
(no binding value is ever part of it). At most `ssh.concurrency` hosts at a time (default 8). A host
that fails in any way gives an observation with `observed=False`, a `Gap` and a failed `SourceStatus`;
the others are still collected. Nothing here raises for a host's trouble.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from ..config import SshSettings
from ..model import DockerObservation, Gap, Reason, SourceStatus
from .docker_output import DockerOutputError, parse_host_output, remote_command
from .pool import worker_pool
from .remote import RemoteResult, SshFailure

log = logging.getLogger(__name__)


class Endpoint(Protocol):
    """What the collector needs of a docker host (bindings.docker.DockerEndpoint has it)."""

    target: str
    host: str | None
    port: int
    user: str | None
    sudo: bool
    problem: str | None
    identity_file: Path | None


Runner = Callable[[Endpoint, SshSettings, str], RemoteResult]
Progress = Callable[[int, int], None]


def _run(endpoint: Endpoint, settings: SshSettings, command: str) -> RemoteResult:
    from .ssh import run_remote  # paramiko is imported only when a host is really contacted

    assert endpoint.host is not None
    return run_remote(endpoint.host, endpoint.port, endpoint.user, endpoint.identity_file, settings, command)


def collect_docker(endpoints: Sequence[Endpoint], ssh: SshSettings, site: str,
                   progress: Progress | None = None, runner: Runner = _run) -> tuple[DockerObservation, ...]:
    """Observe every endpoint (order kept). `progress(done, total)` is called after each host."""
    if not endpoints:
        return ()
    total = len(endpoints)
    done = 0
    lock = threading.Lock()  # hosts finish on several threads at once: count and report one at a time

    def one(endpoint: Endpoint) -> DockerObservation:
        nonlocal done
        try:
            return observe_host(endpoint, ssh, site, runner)
        finally:
            with lock:
                done += 1
                if progress is not None:
                    progress(done, total)

    workers = max(1, min(ssh.concurrency, total))
    with worker_pool(workers, "ssh") as pool:
        return tuple(pool.map(one, endpoints))


def observe_host(endpoint: Endpoint, ssh: SshSettings, site: str, runner: Runner = _run) -> DockerObservation:
    """One host; every failure is turned into an unobserved observation with its reason."""
    target = endpoint.target
    if endpoint.problem or not endpoint.host:
        return failed(target, site, Reason.UNRESOLVED_TARGET, endpoint.problem or "no address")
    try:
        result = runner(endpoint, ssh, remote_command(sudo=endpoint.sudo))
    except SshFailure as exc:
        return failed(target, site, exc.reason, exc.detail)
    except Exception as exc:  # a bug or an unforeseen library error must not stop the other hosts
        log.debug("docker host %s: unexpected error", target, exc_info=True)
        return failed(target, site, Reason.SSH_ERROR, f"{type(exc).__name__}: {exc}")
    try:
        report = parse_host_output(result.stdout, result.stderr, result.exit_status)
    except DockerOutputError as exc:
        return failed(target, site, exc.reason, exc.detail)
    status = SourceStatus(kind="docker", host=target, site=site, status="ok",
                          detail=f"{report.detail} ({result.elapsed_s:.1f} s)", requests=1)
    return DockerObservation(target=target, site=site, observed=True, home=report.home, stacks=report.stacks,
                             containers=report.containers, status=status)


def failed(target: str, site: str, reason: Reason, detail: str) -> DockerObservation:
    gap = Gap("docker_host", reason, detail, target=target)
    status = SourceStatus("docker", target, site, "failed", reason, detail,
                          0 if reason is Reason.UNRESOLVED_TARGET else 1)
    return DockerObservation(target=target, site=site, observed=False, gap=gap, status=status)


def skipped(targets: Iterable[str], site: str, detail: str = "skipped (--skip-ssh)") -> tuple[DockerObservation, ...]:
    """Observations for hosts deliberately not contacted (they end as `unknown`, reason `skipped`)."""
    observations = []
    for target in targets:
        gap = Gap("docker_host", Reason.SKIPPED, detail, target=target)
        status = SourceStatus("docker", target, site, "skipped", Reason.SKIPPED, detail)
        observations.append(DockerObservation(target=target, site=site, observed=False, gap=gap, status=status))
    return tuple(observations)

