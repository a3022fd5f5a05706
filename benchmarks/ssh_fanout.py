"""The SSH fan-out scenario: `reconcile --only stacks` over many docker hosts, in a child process.

One real OpenSSH sshd on 127.0.0.1 (tests/fakes/sshd.py) stands for every docker host: `ssh.targets.yaml`
lists `docker_hosts` aliases that all resolve to it, so the reconciler opens one SSH connection per alias,
exactly as it would to distinct hosts. The fake `docker` (tests/fakes/fake_docker) sleeps `delay_s` before
answering; the documented remote script runs one docker command (`docker ps`), so a host costs `delay_s`
plus its SSH handshake.

Each run is checked: one SSH session and one docker command per host, every host observed, and exactly
the drifted stacks the estate declares. `ideal_host_seconds` measures, in the same run, what one host costs
a minimal paramiko client (connect, authenticate with the same key, exec the same command, read it all):
the floor every reconcile row is compared with.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections import Counter
from pathlib import Path
from types import TracebackType

from tests.fakes.sshd import SshServer, sshd_available, start_sshd

from .estate import SITE, Estate, EstateSpec
from .harness import BenchError, ProcessSample, reconcile_command, run_measured
from .pve import child_env, write_site

_SH_DOCKER = """#!/bin/sh
printf '["docker", "%s"]\\n' "$1" >> "$FAKE_DOCKER_DIR/docker.log"
[ "$1" = ps ] || {{ echo "bench docker: unexpected arguments" >&2; exit 2; }}
/bin/sleep {delay}
/bin/cat "$FAKE_DOCKER_DIR/ps.jsonl"
"""


class SshBench:
    def __init__(self, spec: EstateSpec, delay_s: float, concurrency: int | None = None) -> None:
        if not sshd_available():
            raise BenchError("/usr/sbin/sshd is not installed (apt-get install openssh-server)")
        self.spec, self.delay_s, self.concurrency = spec, delay_s, concurrency
        self.estate = Estate(spec)
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-ssh-")
        self.dir = Path(self._tmp.name)
        self.server: SshServer | None = None

    def __enter__(self) -> SshBench:
        # SHLVL=1: the login shell (bash) that runs each session's command skips ~/.bashrc. On this machine
        # root's .bashrc runs `pyenv init`, ~0.2 s of CPU per session: fixture cost, not the reconciler's.
        # MaxStartups: one sshd stands for every host, so it must accept as many handshakes at once as the
        # reconciler opens (its default, 10:30:100, drops some above 10; each real host has its own sshd).
        server = self.server = start_sshd(self.dir / "sshd", extra_env={"SHLVL": "1"},
                                          extra_config="MaxStartups 200\n")
        server.configure(ps=self.estate.docker_ps_jsonl())
        # A POSIX-sh `docker` instead of the Python fake: every session starts one, and 16 interpreter start-ups
        # at once would be fixture CPU on the benchmark's 2 cores, charged to both clients alike. It answers the
        # documented `docker ps` after `delay_s`, and logs each call as the Python fake does (counted per run).
        docker = server.bin / "docker"
        docker.write_text(_SH_DOCKER.format(delay=self.delay_s))
        docker.chmod(0o755)
        self.estate.write_bindings(self.dir / "spine", ssh_port=server.port, ssh_user=server.user)
        known = server.write_known_hosts(self.dir / "known_hosts")
        concurrency = f"  concurrency: {self.concurrency}\n" if self.concurrency else ""
        ssh = textwrap.dedent(f"""\
            ssh:
              known_hosts: {known}
              identity_file: {server.client_key}
              use_agent: false
            """) + concurrency
        write_site(self.dir / "sites", self.dir / "spine", None, ssh=ssh)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.server is not None:
            self.server.stop()
        self._tmp.cleanup()

    def reconcile(self) -> tuple[ProcessSample, int]:
        """`reconcile --site bench --only stacks -f json`; checked; (sample, SSH sessions)."""
        assert self.server is not None
        sessions_before, docker_before = len(self.server.commands()), len(self.server.docker_calls())
        sample = run_measured([*reconcile_command(), "--sites-dir", str(self.dir / "sites"), "--site", SITE,
                               "--only", "stacks", "--format", "json"], env=child_env())
        sessions = len(self.server.commands()) - sessions_before
        docker_calls = len(self.server.docker_calls()) - docker_before
        hosts = self.spec.docker_hosts
        if sample.exit_code not in (0, 1):
            raise BenchError(f"reconcile exited {sample.exit_code}: {sample.stderr.strip()[-300:]}")
        if sessions != hosts or docker_calls != hosts:
            raise BenchError(f"{sessions} SSH sessions / {docker_calls} docker commands for {hosts} hosts, "
                             f"expected {hosts} / {hosts}")
        report = json.loads(sample.stdout)
        observed = [s for s in report["sources"] if s["kind"] == "docker" and s["status"] == "ok"]
        got = Counter((f["kind"], f["field"]) for f in report["findings"] if f["rule"].startswith("stack-"))
        wanted = self.estate.expected_stack_findings()["drifted"]
        if len(observed) != hosts or got != Counter({("drifted", "path"): wanted} if wanted else {}):
            raise BenchError(f"{len(observed)}/{hosts} hosts observed, stack findings {dict(got)}, "
                             f"expected {wanted} drifted path")
        return sample, sessions

    def ideal(self, concurrency: int) -> ProcessSample:
        """The ideal client over every host, `concurrency` at a time, in a child process (benchmarks/ssh_ideal.py):
        same sessions, same command, same key and known_hosts, nothing else. Checked: every host answered."""
        import os
        import sys

        assert self.server is not None
        repo = Path(__file__).resolve().parents[1]
        sample = run_measured([sys.executable, "-m", "benchmarks.ssh_ideal", "--port", str(self.server.port),
                               "--user", self.server.user, "--key", str(self.server.client_key),
                               "--known-hosts", str(self.dir / "known_hosts"), "--hosts", str(self.spec.docker_hosts),
                               "--concurrency", str(concurrency)],
                              cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)})
        result = json.loads(sample.stdout or "{}")
        if sample.exit_code != 0 or result.get("ok") != self.spec.docker_hosts:
            raise BenchError(f"the ideal SSH client failed: {sample.stderr.strip()[-300:]}")
        return sample

    def ideal_host_seconds(self) -> float:
        """One host for the ideal client: TCP connect, SSH handshake and key auth, one exec of the documented
        command, read stdout and stderr to the end. Nothing else (no parsing, no rules)."""
        import time

        import paramiko

        from reconciler.collect.docker_output import remote_command

        assert self.server is not None
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.dir / "known_hosts"))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        started = time.perf_counter()
        client.connect("127.0.0.1", port=self.server.port, username=self.server.user,
                       key_filename=str(self.server.client_key), allow_agent=False, look_for_keys=False,
                       timeout=10)
        try:
            streams = client.exec_command(remote_command(False), timeout=30)
            streams[1].read()
            streams[2].read()
            streams[1].channel.recv_exit_status()
            for stream in streams:  # closed now: a ChannelFile left to __del__ logs at interpreter exit
                stream.close()
        finally:
            client.close()
        return time.perf_counter() - started
